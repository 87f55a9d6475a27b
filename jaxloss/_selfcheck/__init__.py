"""The self-check behind ``python -m jaxloss``: every loss, jitted on the current backend, against
values computed by torch and stored with the package.

Each family lists its cases in a module of this package (``regression.py``, ...) as ``CASES``; the
values torch gives for them are stored beside it in ``reference_<family>.json``, written by
``scripts/make_reference_values.py``. Inputs are deterministic formulas (no random generator), so the
stored values stay valid across numpy versions.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

FAMILIES = ("regression", "classification", "embedding", "sequence", "segmentation", "detection", "large_vocabulary")
_HERE = Path(__file__).parent


@dataclasses.dataclass(frozen=True)
class Case:
    """One self-check: ``loss(*inputs(), **kwargs)`` against ``torch_fn(*torch_inputs)``.

    ``torch_fn`` is only called by the script that writes the reference values, with the inputs
    converted to torch tensors (integer arrays as int64). ``grad`` is the position of the input whose
    gradient (of the summed loss) is checked too, or None.
    """

    name: str
    loss: str
    inputs: Callable[[], tuple[np.ndarray, ...]]
    torch_fn: Callable[..., Any]
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    grad: int | None = 0
    rtol: float = 2e-4
    atol: float = 1e-5


def wave(shape: tuple[int, ...], phase: float = 0.0, scale: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """Deterministic float32 sample values: a scaled sine over the flat index."""
    n = int(np.prod(shape))
    return (offset + scale * np.sin(0.7 * np.arange(n) + phase)).reshape(shape).astype(np.float32)


def labels(shape: tuple[int, ...], num_classes: int, step: int = 3) -> np.ndarray:
    """Deterministic class indices in ``[0, num_classes)``."""
    n = int(np.prod(shape))
    return ((step * np.arange(n) + 1) % num_classes).reshape(shape).astype(np.int32)


def family_cases(family: str) -> list[Case]:
    try:
        module = importlib.import_module(f"jaxloss._selfcheck.{family}")
    except ModuleNotFoundError:
        return []
    return list(module.CASES)


def reference_path(family: str) -> Path:
    return _HERE / f"reference_{family}.json"


def load_reference(family: str) -> dict[str, Any]:
    path = reference_path(family)
    return json.loads(path.read_text()) if path.exists() else {}


def compute(case: Case) -> tuple[np.ndarray, np.ndarray | None]:
    """Run the jaxloss side of a case: (value, gradient of the summed value or None)."""
    import jax
    import jax.numpy as jnp

    from jaxloss._core.catalogue import CATALOGUE

    fn = CATALOGUE[case.loss].function
    inputs = [jnp.asarray(a) for a in case.inputs()]
    kwargs = {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in case.kwargs.items()}

    def total(x: jax.Array) -> jax.Array:
        args = list(inputs)
        if case.grad is not None:
            args[case.grad] = x
        return jnp.sum(fn(*args, **kwargs))

    value = np.asarray(fn(*inputs, **kwargs))
    grad = None if case.grad is None else np.asarray(jax.grad(total)(inputs[case.grad]))
    return value, grad


def run(verbose: bool = True) -> bool:
    """Run every case; print a pass/fail table; return whether all passed."""
    import jax

    rows, ok_all = [], True
    for family in FAMILIES:
        reference = load_reference(family)
        for case in family_cases(family):
            ref = reference.get(case.name)
            try:
                value, grad = compute(case)
                finite = bool(np.all(np.isfinite(value)) and (grad is None or np.all(np.isfinite(grad))))
                if ref is None:
                    ok, err = False, "no reference value stored"
                else:
                    ok = finite and np.allclose(value, ref["value"], rtol=case.rtol, atol=case.atol)
                    if grad is not None:
                        ok = ok and np.allclose(grad, ref["grad"], rtol=case.rtol, atol=case.atol)
                    rel = np.max(np.abs(value - np.asarray(ref["value"])) / (np.abs(ref["value"]) + case.atol))
                    err = f"max rel err {rel:.1e}" + ("" if finite else ", NOT FINITE")
            except Exception as e:  # report, do not stop: the table is the point
                ok, err = False, f"{type(e).__name__}: {e}"[:80]
            ok_all &= ok
            rows.append((case.name, "pass" if ok else "FAIL", err))
    if verbose:
        device = jax.devices()[0]
        print(f"\nself-check on {device.platform.upper()} ({device.device_kind}), jax {jax.__version__}")
        width = max((len(r[0]) for r in rows), default=10)
        print(f"{'case':<{width}}  result  detail")
        for name, status, detail in rows:
            print(f"{name:<{width}}  {status:<6}  {detail}")
        passed = sum(r[1] == "pass" for r in rows)
        print(f"{passed} passed, {len(rows) - passed} failed")
    return ok_all and bool(rows)
