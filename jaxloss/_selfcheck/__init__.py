"""The self-check behind ``python -m jaxloss``: every loss, jitted on the current backend, against
values computed by torch and stored with the package.

``reference.json`` (beside this module) holds one case per loss of the catalogue, derived from the
loss's entry in the development registry (``references/`` in the repository) by
``scripts/make_reference_values.py``: the inputs (values, dtype, shape), the keyword arguments, torch's
value with ``reduction="none"`` and, where the registry checks gradients, the gradient of its sum with
respect to one argument. The inputs are stored, not drawn again here, so this module needs neither
torch nor the registry, and the stored values stay valid across numpy versions.

Arrays are stored as ``{"values": [...] (flat), "dtype": "float32", "shape": [...]}``; keyword
arguments are numbers, strings, booleans, None, or arrays in that form.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

RTOL = 2e-4
ATOL = 1e-5  # relative to the scale of the stored array: atol * max(1, max |reference|)
_HERE = Path(__file__).parent


def reference_path() -> Path:
    return _HERE / "reference.json"


def load_reference() -> dict[str, Any]:
    path = reference_path()
    return json.loads(path.read_text()) if path.exists() else {}


def encode_array(a: Any) -> dict[str, Any]:
    """An array as stored in ``reference.json``."""
    a = np.asarray(a)
    return {"values": a.reshape(-1).tolist(), "dtype": a.dtype.name, "shape": list(a.shape)}


def decode_array(stored: dict[str, Any]) -> np.ndarray:
    return np.asarray(stored["values"], dtype=stored["dtype"]).reshape(stored["shape"])


def _decode_kwarg(value: Any) -> Any:
    return decode_array(value) if isinstance(value, dict) else value


def compute(name: str, case: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None]:
    """Run the jaxloss side of a stored case: (value with ``reduction="none"``, gradient of its sum
    with respect to argument ``case["grad_arg"]``, or None)."""
    import jax
    import jax.numpy as jnp

    from jaxloss._core.catalogue import CATALOGUE

    fn = CATALOGUE[name].function
    inputs = [jnp.asarray(decode_array(a)) for a in case["inputs"]]
    kwargs = {k: _decode_kwarg(v) for k, v in case["kwargs"].items()}
    kwargs = {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    value = np.asarray(fn(*inputs, reduction="none", **kwargs))
    position = case["grad_arg"]
    if position is None:
        return value, None

    def total(x: jax.Array) -> jax.Array:
        args = list(inputs)
        args[position] = x
        return jnp.sum(fn(*args, reduction="none", **kwargs))

    return value, np.asarray(jax.jit(jax.grad(total))(inputs[position]))


def _close(ours: np.ndarray, theirs: np.ndarray) -> bool:
    scale = float(np.max(np.abs(theirs), initial=1.0))
    return ours.shape == theirs.shape and bool(np.allclose(ours, theirs, rtol=RTOL, atol=ATOL * scale))


def check(name: str, case: dict[str, Any] | None) -> tuple[bool, str]:
    """One loss's stored case: whether it passes, and a detail (the largest relative error)."""
    if case is None:
        return False, "no reference value stored"
    try:
        value, grad = compute(name, case)
    except Exception as e:  # report, do not stop: the table is the point
        return False, f"{type(e).__name__}: {e}"[:80]
    finite = bool(np.all(np.isfinite(value)) and (grad is None or np.all(np.isfinite(grad))))
    ref_value = decode_array(case["value"])
    ok = finite and _close(value, ref_value)
    if grad is not None:
        ok = ok and _close(grad, decode_array(case["grad"]))
    if value.shape != ref_value.shape:
        return ok, f"shape {value.shape}, stored {ref_value.shape}"
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.max(np.abs(value - ref_value) / (np.abs(ref_value) + ATOL), initial=0.0)
    return ok, f"max rel err {rel:.1e}" + ("" if finite else ", NOT FINITE")


def run(verbose: bool = True) -> bool:
    """Run every loss's case, printing each row as it finishes (with its place in the run) and a
    summary; return whether all passed."""
    import time

    import jax

    from jaxloss._core.catalogue import CATALOGUE

    reference = load_reference()
    names = list(CATALOGUE)
    width = max((len(n) for n in names), default=10)
    counter = len(f"[{len(names)}/{len(names)}]")
    if verbose:
        device = jax.devices()[0]
        print(f"\nself-check on {device.platform.upper()} ({device.device_kind}), jax {jax.__version__}: "
              f"{len(names)} losses, each compiled and run once", flush=True)
        print(f"{'':<{counter}} {'case':<{width}}  result  detail", flush=True)
    start, passed = time.perf_counter(), 0
    for i, name in enumerate(names, 1):
        ok, detail = check(name, reference.get(name))
        passed += ok
        if verbose:
            print(f"{f'[{i}/{len(names)}]':<{counter}} {name:<{width}}  {'pass' if ok else 'FAIL':<6}  {detail}",
                  flush=True)
    if verbose:
        print(f"{passed} passed, {len(names) - passed} failed in {time.perf_counter() - start:.1f} s", flush=True)
    return passed == len(names) and bool(names)
