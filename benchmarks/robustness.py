"""Robustness report: for every loss in the registry (``references/``), random valid inputs and edge cases.

Usage: ``python -m benchmarks.robustness [--cases N] [--out FILE] [NAME ...]``

Per loss: how many random cases ran (value and gradient on valid inputs over several batch shapes
and scales), how many edge cases (extreme magnitudes 1e-30 .. max scale, everything masked), how
many non-finite values or gradients were found (must be 0), and the largest relative error against
the torch reference in float32 and with bfloat16 inputs (torch run in float32 on the same,
bfloat16-rounded, values).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jaxloss as jl
from references import SPECS, Spec, to_torch

BATCHES = [(4,), (2, 3)]
SCALES = [1e-3, 1.0, 30.0]


def _cast(args, dtype):
    return [jnp.asarray(a, dtype) if np.issubdtype(a.dtype, np.floating) else jnp.asarray(a) for a in args]


def _value_and_grads(spec: Spec, args, kwargs, reduction="sum"):
    fn = jl.CATALOGUE[spec.name].function

    def total(*diff):
        full = list(args)
        for i, d in zip(spec.grad_args, diff):
            full[i] = d
        return fn(*full, reduction=reduction, **kwargs)

    return jax.value_and_grad(total, argnums=tuple(range(len(spec.grad_args))))(*(args[i] for i in spec.grad_args))


def _finite(value, grads) -> bool:
    return bool(np.isfinite(float(value)) and all(np.all(np.isfinite(np.asarray(g, np.float64))) for g in grads))


def _rel_err(ours: np.ndarray, theirs: np.ndarray) -> float:
    ok = np.isfinite(theirs)
    if not ok.any():
        return 0.0
    ours, theirs = np.asarray(ours, np.float64)[ok], np.asarray(theirs, np.float64)[ok]
    return float(np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-3)))


def report(spec: Spec, cases: int) -> dict:
    fn = jl.CATALOGUE[spec.name].function
    ran = nonfinite = edge = 0
    err32 = err16 = 0.0
    for seed in range(cases):
        batch, scale = BATCHES[seed % len(BATCHES)], SCALES[seed % len(SCALES)]
        raw, kwargs = spec.make(np.random.default_rng(seed), batch, scale)
        args = _cast(raw, jnp.float32)
        value, grads = _value_and_grads(spec, args, kwargs)
        ran += 1
        nonfinite += not _finite(value, grads)
        if spec.torch_fn is not None:
            ours = np.asarray(fn(*args, reduction="none", **kwargs))
            theirs = spec.torch_fn(*(to_torch(np.asarray(a)) for a in args), reduction="none", **kwargs).numpy()
            err32 = max(err32, _rel_err(ours, theirs))
            half = _cast(raw, jnp.bfloat16)
            ours16 = np.asarray(fn(*half, reduction="none", **kwargs).astype(jnp.float32))
            rounded = [np.asarray(a.astype(jnp.float32)) if a.dtype == jnp.bfloat16 else np.asarray(a) for a in half]
            theirs16 = spec.torch_fn(*(to_torch(a) for a in rounded), reduction="none", **kwargs).numpy()
            err16 = max(err16, _rel_err(ours16, theirs16))
    for seed, scale in enumerate((1e-30, 1e-8, 1.0, spec.max_scale)):
        raw, kwargs = spec.make(np.random.default_rng(1000 + seed), (2, 3), scale)
        value, grads = _value_and_grads(spec, _cast(raw, jnp.float32), kwargs, reduction="mean")
        edge += 1
        nonfinite += not _finite(value, grads)
    if jl.CATALOGUE[spec.name].supports_where and spec.where:
        raw, kwargs = spec.make(np.random.default_rng(2000), (2, 3), 1.0)
        args = _cast(raw, jnp.float32)
        shape = fn(*args, reduction="none", **kwargs).shape
        value = fn(*args, reduction="mean", where=jnp.zeros(shape, bool), **kwargs)
        edge += 1
        nonfinite += not (np.isfinite(float(value)) and float(value) == 0.0)
    return {"loss": spec.name, "cases": ran, "edge": edge, "nonfinite": nonfinite, "err32": err32, "err16": err16,
            "has_ref": spec.torch_fn is not None}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*")
    parser.add_argument("--cases", type=int, default=12)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    names = args.names or sorted(SPECS)
    lines = [
        f"Robustness report: {args.cases} random cases per loss, jax {jax.__version__} on {jax.devices()[0].platform.upper()}",
        "",
        "| loss | random cases | edge cases | non-finite | max rel err vs torch (float32) | (bfloat16 inputs) |",
        "|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for name in names:
        r = report(SPECS[name], args.cases)
        e32 = f"{r['err32']:.1e}" if r["has_ref"] else "—"
        e16 = f"{r['err16']:.1e}" if r["has_ref"] else "—"
        line = f"| `{r['loss']}` | {r['cases']} | {r['edge']} | {r['nonfinite']} | {e32} | {e16} |"
        lines.append(line)
        print(line, flush=True)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
