"""Reduction, ``where`` masks and weights: written once for the whole library.

Rules (see DESIGN.md):

* ``"none"`` returns the unreduced loss with masked entries set to 0;
* ``"sum"`` adds the entries that count;
* ``"mean"`` divides that sum by the number of entries that count or, for weighted losses, by the sum
  of their weights (torch's weighted mean);
* a mean over nothing (everything masked, an empty batch, weights summing to 0) is 0 with a zero
  gradient, not NaN.
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxloss import _checks

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction: str, allowed: tuple[str, ...] = REDUCTIONS) -> None:
    """Raise a ``ValueError`` listing the allowed values if ``reduction`` is not one of them."""
    _checks.choice("reduction", reduction, allowed)


def safe_divide(numerator: jax.Array, denominator: jax.Array) -> jax.Array:
    """``numerator / denominator``, or 0 (with zero gradient) where the denominator is 0."""
    nonzero = denominator != 0
    return jnp.where(nonzero, numerator / jnp.where(nonzero, denominator, 1), 0)


def total_and_denominator(
    loss: jax.Array,
    *,
    where: ArrayLike | None = None,
    weight: ArrayLike | None = None,
    divide_by: str | ArrayLike = "weight",
) -> tuple[jax.Array, jax.Array]:
    """The numerator and the denominator of ``reduce(loss, "mean", ...)`` (same arguments).

    ``reduce`` divides one by the other; :func:`jaxloss.global_mean` sums both across devices first,
    so the rule for the denominator lives here only.
    """
    masked, keep = _weighted_and_masked(loss, where, weight)
    if isinstance(divide_by, str):
        _checks.choice("divide_by", divide_by, ("weight", "count"))
        per_entry = weight if (divide_by == "weight" and weight is not None) else None
    else:
        per_entry = divide_by
    if per_entry is None:
        denominator = jnp.asarray(jnp.sum(keep) if keep is not None else loss.size, masked.dtype)
    else:
        per_entry = _checks.broadcastable_to("divide_by", jnp.asarray(per_entry), loss.shape, "the loss of shape")
        per_entry = jnp.broadcast_to(per_entry, loss.shape).astype(masked.dtype)
        denominator = jnp.sum(per_entry if keep is None else jnp.where(keep, per_entry, 0))
    return jnp.sum(masked), denominator


def _weighted_and_masked(
    loss: jax.Array, where: ArrayLike | None, weight: ArrayLike | None
) -> tuple[jax.Array, jax.Array | None]:
    """``loss`` times ``weight``, 0 where ``where`` is False; and the boolean mask (or None)."""
    if weight is not None:
        loss = loss * _checks.broadcastable_to("weight", jnp.asarray(weight), loss.shape, "the unreduced loss of shape")
    keep = None if where is None else _checks.mask(where, loss.shape)
    return (loss if keep is None else jnp.where(keep, loss, 0)), keep


def reduce(
    loss: jax.Array,
    reduction: str,
    *,
    where: ArrayLike | None = None,
    weight: ArrayLike | None = None,
    divide_by: Literal["weight", "count"] | ArrayLike = "weight",
) -> jax.Array:
    """Apply ``where``, ``weight`` and ``reduction`` to an unreduced loss.

    Args:
      loss: the unreduced loss, one value per element or per sample.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      where: optional boolean mask broadcastable to ``loss.shape``; False entries do not count.
      weight: optional weights broadcastable to ``loss.shape``; the loss is multiplied by them.
      divide_by: denominator of ``"mean"``: ``"weight"`` (sum of the weights of the entries that
        count, or their number when there is no weight), ``"count"`` (their number, even with
        weights: torch's ``huber_loss``), or an array broadcastable to ``loss.shape`` whose masked
        sum is the denominator (for losses that apply their weights themselves, such as
        label-smoothed cross-entropy).
    """
    check_reduction(reduction)
    if reduction == "mean":
        return safe_divide(*total_and_denominator(loss, where=where, weight=weight, divide_by=divide_by))
    masked, _ = _weighted_and_masked(loss, where, weight)
    return masked if reduction == "none" else jnp.sum(masked)
