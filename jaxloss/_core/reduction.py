"""Reduction, ``where`` masks and weights: written once for the whole library, on one device and
across the devices of a mesh axis.

Rules (see DESIGN.md):

* ``"none"`` returns the unreduced loss with masked entries set to 0;
* ``"sum"`` adds the entries that count;
* ``"mean"`` divides that sum by the number of entries that count or, for weighted losses, by the sum
  of their weights (torch's weighted mean);
* a mean over nothing (everything masked, an empty batch, weights summing to 0) is 0 with a zero
  gradient, not NaN.

Inside ``jax.shard_map`` a loss sees only its device's block, so a per-device ``"mean"`` followed by
``lax.pmean`` would be a mean of per-device means, wrong when devices hold different numbers of
unmasked (or differently weighted) entries. :func:`global_sum` and :func:`global_mean` reduce a
per-device unreduced loss with the same rules: numerator and denominator come from
:func:`total_and_denominator` and are summed across devices before dividing.
"""

from __future__ import annotations

from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

from jaxloss._core import checks
from jaxloss._core.errors import naming

Reduction = Literal["mean", "sum", "none"]
REDUCTIONS: tuple[Reduction, ...] = ("mean", "sum", "none")
AxisName = Any
"""A mesh axis name, or a tuple of them."""

_HALF = (jnp.dtype(jnp.float16), jnp.dtype(jnp.bfloat16))


def check_reduction(reduction: str, allowed: tuple[str, ...] = REDUCTIONS) -> None:
    """Raise a ``ValueError`` listing the allowed values if ``reduction`` is not one of them."""
    checks.choice("reduction", reduction, allowed)


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
        checks.choice("divide_by", divide_by, ("weight", "count"))
        per_entry = weight if (divide_by == "weight" and weight is not None) else None
    else:
        per_entry = divide_by
    if per_entry is None:
        denominator = jnp.asarray(jnp.sum(keep) if keep is not None else loss.size, masked.dtype)
    else:
        per_entry = checks.broadcastable_to("divide_by", jnp.asarray(per_entry), loss.shape, "the loss of shape")
        per_entry = jnp.broadcast_to(per_entry, loss.shape).astype(masked.dtype)
        denominator = jnp.sum(per_entry if keep is None else jnp.where(keep, per_entry, 0))
    return jnp.sum(masked), denominator


def inert(keep: ArrayLike | None, x: jax.Array, safe: ArrayLike = 0.0, *, features: int = 0) -> jax.Array:
    """``x`` with every entry that serves only dropped loss entries replaced by ``safe``.

    This is how a masked entry (by ``where``, ``ignore_index``...) influences neither the value nor
    the gradient, whatever it holds: the loss's formula never sees it (the first half of the
    double-``where``; :func:`reduce` drops the entry's loss afterwards). A NaN or inf there would
    otherwise reach the gradient through the formula's derivative, ``0 * nan``.

    Args:
      keep: boolean, broadcastable to the unreduced loss; False drops the entry. None keeps all.
      x: an input of the loss: its leading axes (all but the last ``features``) broadcast against
        ``keep``'s shape, aligned on the right as in numpy (an elementwise input), and its last
        ``features`` axes belong to one loss entry (the class axis moved last, an embedding, a box).
      safe: the value that replaces dropped entries, finite and in the loss's domain: a scalar, or an
        array broadcastable to the feature axes (a unit box).
      features: the number of trailing axes of ``x`` per loss entry.

    An entry of ``x`` shared by several loss entries (broadcast) is replaced only if all of them are
    dropped. A ``keep`` that does not broadcast leaves ``x`` as it is (the loss's checks report it).
    """
    if keep is None:
        return x
    keep = jnp.asarray(keep)
    batch = tuple(x.shape[: x.ndim - features])
    try:
        full = tuple(np.broadcast_shapes(batch, tuple(keep.shape)))
    except ValueError:
        return x
    if keep.dtype != jnp.bool_:
        return x
    lead = len(full) - len(batch)
    shared = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(batch) if n == 1 and full[lead + i] != 1)
    alive = jnp.any(jnp.broadcast_to(keep, full), axis=shared).reshape(batch + (1,) * features)
    return jnp.where(alive, x, jnp.asarray(safe, x.dtype))


def _weighted_and_masked(
    loss: jax.Array, where: ArrayLike | None, weight: ArrayLike | None
) -> tuple[jax.Array, jax.Array | None]:
    """``loss`` times ``weight``, 0 where ``where`` is False; and the boolean mask (or None)."""
    if weight is not None:
        loss = loss * checks.broadcastable_to("weight", jnp.asarray(weight), loss.shape, "the unreduced loss of shape")
    keep = None if where is None else checks.mask(where, loss.shape)
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


# ----------------------------------------------------------------------------------------------
# Across devices (inside shard_map)


def _float32(x: jax.Array) -> jax.Array:
    return x.astype(jnp.float32) if x.dtype in _HALF else x


def _weight32(weight: ArrayLike | None) -> jax.Array | None:
    if weight is None:
        return None
    (weight,) = checks.floating(weight=weight)
    return _float32(weight)


def global_sum(loss: ArrayLike, axis_name: AxisName, *, where: ArrayLike | None = None,
               weight: ArrayLike | None = None) -> jax.Array:
    r"""Sum of an unreduced loss over every device of the mesh axes ``axis_name`` (inside ``shard_map``).

    .. math:: \sum_{\text{devices}} \sum_i m_i\, w_i\, \ell_i

    Args:
      loss: this device's unreduced loss (``reduction="none"`` of a jaxloss loss), any shape.
      axis_name: the mesh axis (or tuple of axes) the batch is sharded over.
      where: optional boolean mask broadcastable to ``loss``; False entries do not count.
      weight: optional weights broadcastable to ``loss``.

    Returns:
      A scalar, the same on every device along ``axis_name``, in ``loss``'s dtype.

    Example:
      >>> import jax, jax.numpy as jnp, jaxloss as jl
      >>> from jax.sharding import PartitionSpec as P
      >>> mesh = jax.sharding.Mesh(jax.devices()[:1], ("data",))
      >>> f = jax.shard_map(lambda l: jl.global_sum(l, "data"), mesh=mesh, in_specs=P("data"), out_specs=P())
      >>> f(jnp.array([1.0, 2.0, 3.0]))
      Array(6., dtype=float32)
    """
    with naming("global_sum"):
        (loss,) = checks.floating(loss=loss)
        total = reduce(_float32(loss), "sum", where=where, weight=_weight32(weight))
        return lax.psum(total, axis_name).astype(loss.dtype)


def global_mean(
    loss: ArrayLike,
    axis_name: AxisName,
    *,
    where: ArrayLike | None = None,
    weight: ArrayLike | None = None,
    divide_by: Literal["weight", "count"] | ArrayLike = "weight",
) -> jax.Array:
    r"""Mean of an unreduced loss over the global batch sharded along ``axis_name`` (inside ``shard_map``).

    The numerator and the denominator are summed across devices before dividing, so the result is
    the mean over all entries that count on all devices, not a mean of per-device means:

    .. math:: \frac{\sum_{\text{devices}} \sum_i m_i\, w_i\, \ell_i}{\sum_{\text{devices}} \sum_i m_i\, d_i}

    with :math:`m` the ``where`` mask and :math:`d_i` given by ``divide_by``, exactly as
    ``reduction="mean"`` of the same loss on one device computes it. A mean over nothing (every
    entry of every device masked) is 0 with a zero gradient.

    Args:
      loss: this device's unreduced loss (``reduction="none"``), any shape.
      axis_name: the mesh axis (or tuple of axes) the batch is sharded over.
      where: optional boolean mask broadcastable to ``loss``; False entries do not count.
      weight: optional weights broadcastable to ``loss``; multiply the loss and, by default, make the
        denominator.
      divide_by: the per-entry denominator: ``"weight"`` (``weight``, or 1 per entry without it),
        ``"count"`` (1 per entry), or an array broadcastable to ``loss`` (e.g. torch's ``w[y]`` for a
        class-weighted ``cross_entropy``/``nll_loss`` computed with ``reduction="none"``, whose
        per-sample loss already includes that weight; 0 for ignored samples).

    Returns:
      A scalar, the same on every device along ``axis_name``, in ``loss``'s dtype.

    Example:
      >>> import jax, jax.numpy as jnp, jaxloss as jl
      >>> from jax.sharding import PartitionSpec as P
      >>> mesh = jax.sharding.Mesh(jax.devices()[:1], ("data",))
      >>> def local(x, y, mask):
      ...     per_sample = jl.mse_loss(x, y, reduction="none")
      ...     return jl.global_mean(per_sample, "data", where=mask)
      >>> f = jax.shard_map(local, mesh=mesh, in_specs=P("data"), out_specs=P())
      >>> f(jnp.array([1.0, 2.0, 5.0]), jnp.zeros(3), jnp.array([True, True, False]))  # (1 + 4) / 2
      Array(2.5, dtype=float32)
    """
    with naming("global_mean"):
        (loss,) = checks.floating(loss=loss)
        rule = divide_by if isinstance(divide_by, str) else _float32(checks.floating(divide_by=divide_by)[0])
        numerator, denominator = total_and_denominator(_float32(loss), where=where, weight=_weight32(weight), divide_by=rule)
        numerator, denominator = lax.psum((numerator, denominator), axis_name)
        return safe_divide(numerator, denominator).astype(loss.dtype)


def reduce_over(
    loss: jax.Array, reduction: str, batch_axis: AxisName | None, *, where: jax.Array, divide_by: jax.Array
) -> jax.Array:
    """``reduce(loss, reduction, where=, divide_by=)``, over the global batch when ``batch_axis`` names
    the mesh axes a ``shard_map``'s batch is sharded over."""
    if batch_axis is None or reduction == "none":
        return reduce(loss, reduction, where=where, divide_by=divide_by)
    if reduction == "sum":
        return global_sum(loss, batch_axis, where=where)
    return global_mean(loss, batch_axis, where=where, divide_by=divide_by)
