"""Write the self-check's reference values (``jaxloss/_selfcheck/reference_<family>.json``) from torch.

Usage: ``python scripts/make_reference_values.py [FAMILY ...]`` (all families by default).
Each case's torch function gets ``torch.nn.functional`` (with ``.torch`` = the torch module) and
the case's inputs as torch tensors (integer inputs as int64); the value and the gradient of the
summed value with respect to input ``case.grad`` are stored.
"""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import torch
import torch.nn.functional

from jaxloss._selfcheck import FAMILIES, family_cases, reference_path


def torch_namespace() -> types.SimpleNamespace:
    ns = types.SimpleNamespace(**{k: getattr(torch.nn.functional, k) for k in dir(torch.nn.functional) if not k.startswith("__")})
    ns.torch = torch
    return ns


def main(families: list[str]) -> None:
    F = torch_namespace()
    for family in families:
        cases = family_cases(family)
        if not cases:
            continue
        out = {}
        for case in cases:
            tensors = []
            for i, a in enumerate(case.inputs()):
                t = torch.from_numpy(np.array(a, copy=True))
                if np.issubdtype(a.dtype, np.integer):
                    t = t.long()
                tensors.append(t.requires_grad_(i == case.grad))
            value = case.torch_fn(F, *tensors)
            entry = {"value": value.detach().double().numpy().tolist()}
            if case.grad is not None:
                (g,) = torch.autograd.grad(value.sum(), [tensors[case.grad]])
                entry["grad"] = g.double().numpy().tolist()
            out[case.name] = entry
        reference_path(family).write_text(json.dumps(out, indent=1) + "\n")
        print(f"{family}: {len(out)} cases -> {reference_path(family)}")


if __name__ == "__main__":
    main(sys.argv[1:] or list(FAMILIES))
