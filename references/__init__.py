"""One description of every public loss, for verification: the property tests, the self-check's
stored reference values and the robustness report all start from it.

A :class:`Spec` says how to draw valid inputs for any batch shape and scale, what torch (or the
reference written in torch) computes for them, and which properties apply. A new loss joins the
property suite, the self-check (``python -m jaxloss``, after ``python scripts/make_reference_values.py``)
and the robustness report by adding a Spec to the ``SPECS`` list of its family's module in this
package (``references/<family>.py``); ``tests/test_properties.py`` checks that every loss of the
catalogue has one. The torch references of losses that torch does not have are written in those
modules too, as public functions the family's tests import.

This is a development package at the repository root (not shipped with ``jaxloss``): tests, scripts
and benchmarks import it as ``references``, run from the repository root.

Inputs are drawn as float64 numpy arrays (integer arrays for indices); each user casts the floating
ones to the dtype it tests.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

Inputs = tuple[tuple[np.ndarray, ...], dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class Spec:
    """How to exercise one loss.

    Attributes:
      name: the loss's name in ``jaxloss.CATALOGUE``.
      make: ``(rng, batch_shape, scale) -> (args, kwargs)``: valid positional arrays whose leading
        dimensions are ``batch_shape`` (one loss value per batch entry, or per element for
        elementwise losses), and keyword configuration that is not batched.
      torch_fn: ``(*tensors, reduction=..., **kwargs) -> tensor`` reference, or None.
      unreduced: ``"batch"`` if ``reduction="none"`` returns exactly ``batch_shape``, ``"element"``
        when it returns the broadcast shape of the elementwise arguments, ``"other"`` otherwise
        (per-class or per-pair losses).
      vmap: vmapping the loss over the leading batch axis equals ``reduction="none"`` (False for
        losses that couple the samples of a batch, such as contrastive or Dice losses).
      where: ``where=`` masks entries of the unreduced loss (False when the loss documents another
        meaning, e.g. a pixel mask for per-class segmentation losses).
      check_grads: the gradient is the derivative of the value (False where a term is
        deliberately excluded from the gradient, as torchvision's CIoU aspect weight).
      bad_shape: ``args -> (args, pattern)``: arguments with mismatched shapes and a regex the
        error message must match; by default a trailing axis of size 7 is appended to the first
        argument and its shape must be named.
      mean_is_average: ``"mean"`` equals the average of the ``"none"`` entries (no weighted mean).
      grad_args: positions of the arguments to differentiate.
      grad_order: 2 if the loss is twice differentiable on valid inputs, else 1.
      max_scale: the largest input scale at which the value must be finite (e.g. squared losses
        overflow float32 beyond 1e19).
      half_rtol: tolerance of float16/bfloat16 results against float32 on the same inputs.
      torch_rtol: tolerance of float32 values against the torch reference.
      mask_arg: the position of the argument whose shape a ``where`` of inert entries takes, when
        it is not the unreduced loss's (a pixel mask of segmentation losses, a sample mask of batch
        losses).
      invalid: ``(args, kwargs) -> (args, kwargs)`` or None: the same inputs with one value that only
        a run-time check can reject (a class index out of range, a negative variance...), or None
        when this draw cannot hold one; set from the family module's ``INVALID`` table. None for
        losses without run-time value checks.
    """

    name: str
    make: Callable[[np.random.Generator, tuple[int, ...], float], Inputs]
    torch_fn: Callable[..., torch.Tensor] | None
    unreduced: str = "element"
    vmap: bool = True
    where: bool = True
    check_grads: bool = True
    bad_shape: Callable[[list[Any]], tuple[list[Any], str]] | None = None
    mean_is_average: bool = True
    grad_args: tuple[int, ...] = (0,)
    grad_order: int = 2
    max_scale: float = 1e4
    half_rtol: float = 2e-2
    torch_rtol: float = 1e-4
    mask_arg: int | None = None
    invalid: Callable[[list[Any], dict[str, Any]], tuple[list[Any], dict[str, Any]] | None] | None = None


def normal(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    return rng.standard_normal(shape) * scale


def uniform(rng: np.random.Generator, shape: tuple[int, ...], low: float, high: float) -> np.ndarray:
    return rng.uniform(low, high, shape)


def to_torch(a: np.ndarray, requires_grad: bool = False) -> torch.Tensor:
    """A numpy array as a torch tensor (a copy; integer arrays as int64, torch's index dtype)."""
    t = torch.from_numpy(np.array(a, copy=True))
    if np.issubdtype(np.asarray(a).dtype, np.integer):
        t = t.long()
    return t.requires_grad_(requires_grad)


def torch_reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    """Apply a reduction to an unreduced torch loss (for references written in torch)."""
    return {"mean": loss.mean, "sum": loss.sum, "none": lambda: loss}[reduction]()


def _collect() -> dict[str, Spec]:
    specs: dict[str, Spec] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        invalid = getattr(module, "INVALID", {})
        for spec in module.SPECS:
            assert spec.name not in specs, f"two registry entries for {spec.name}"
            specs[spec.name] = dataclasses.replace(spec, invalid=invalid.get(spec.name))
        assert set(invalid) <= {s.name for s in module.SPECS}, f"INVALID names unknown losses: {set(invalid)}"
    return specs


def set_value(args: list[Any], position: int, value: Any) -> list[Any]:
    """``args`` with the first entry of argument ``position`` set to ``value`` (a copy)."""
    out = [np.array(a, copy=True) for a in args]
    out[position].flat[0] = value
    return out


SPECS: dict[str, Spec] = _collect()
