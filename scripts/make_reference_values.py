"""Write the self-check's reference values, ``jaxloss/_selfcheck/reference.json``, from torch.

Usage: ``python scripts/make_reference_values.py`` (needs torch and the registry in ``references/``).

One case per loss of ``jaxloss.CATALOGUE``, derived from its registry entry (a ``Spec``): inputs drawn
by ``spec.make(np.random.default_rng(seed), (4,), 1.0)`` with the seed ``zlib.crc32`` of the loss's
name (the next seed, while a draw has a keyword argument that cannot be stored, such as a custom
distance function), floating arrays cast to float32 (the same float32 values go to torch), integer
arrays kept; torch's value ``spec.torch_fn(*tensors, reduction="none", **kwargs)`` and, if
``spec.check_grads``, the gradient of its sum with respect to argument ``spec.grad_args[0]``.
"""

from __future__ import annotations

import json
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the registry, `references`, is at the root

from jaxloss import CATALOGUE
from jaxloss._selfcheck import encode_array, reference_path
from references import SPECS, Spec, to_torch

BATCH, SCALE = (4,), 1.0
MAX_REDRAWS = 100


def _storable(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, np.ndarray))


def _float32(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32) if np.issubdtype(a.dtype, np.floating) else a


def draw(spec: Spec) -> tuple[int, tuple[np.ndarray, ...], dict[str, Any]]:
    """The case's seed, inputs and keyword arguments (floating arrays in float32)."""
    first = zlib.crc32(spec.name.encode())
    for seed in range(first, first + MAX_REDRAWS):
        args, kwargs = spec.make(np.random.default_rng(seed), BATCH, SCALE)
        kwargs = {k: v.item() if isinstance(v, np.generic) else v for k, v in kwargs.items()}
        if all(_storable(v) for v in kwargs.values()):
            break
    else:
        raise ValueError(f"{spec.name}: no draw with storable keyword arguments in {MAX_REDRAWS} seeds")
    args = tuple(_float32(np.asarray(a)) for a in args)
    kwargs = {k: _float32(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    return seed, args, kwargs


def case(spec: Spec) -> dict[str, Any]:
    """One loss's entry of ``reference.json``."""
    if spec.torch_fn is None:
        raise ValueError(f"{spec.name}: the registry entry has no torch reference")
    seed, args, kwargs = draw(spec)
    grad_arg = spec.grad_args[0] if spec.check_grads else None
    tensors = [to_torch(a, requires_grad=i == grad_arg) for i, a in enumerate(args)]
    value = spec.torch_fn(*tensors, reduction="none", **kwargs)
    entry = {
        "seed": seed,
        "inputs": [encode_array(a) for a in args],
        "kwargs": {k: encode_array(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()},
        "grad_arg": grad_arg,
        "value": encode_array(value.detach().numpy()),
    }
    if grad_arg is not None:
        # a piecewise-constant reference (zero_one_loss) has no graph: its gradient is zero
        (g,) = torch.autograd.grad(value.sum(), [tensors[grad_arg]], allow_unused=True) if value.requires_grad else (None,)
        entry["grad"] = encode_array(np.zeros_like(args[grad_arg]) if g is None else g.numpy())
    return entry


def main() -> None:
    missing = sorted(set(CATALOGUE) - set(SPECS))
    if missing:
        raise SystemExit(f"losses without a registry entry in references/: {missing}")
    out = {name: case(SPECS[name]) for name in CATALOGUE}
    reference_path().write_text(json.dumps(out, indent=1) + "\n")
    print(f"{len(out)} losses -> {reference_path()}")


if __name__ == "__main__":
    main()
