"""Helpers for losses inside ``jax.shard_map``: global reductions and vocabulary-parallel cross-entropy.

Under ``jax.jit`` with sharded inputs every jaxloss loss already computes the *global* value (XLA
inserts the collectives; ``"mean"`` is the mean over all unmasked entries of the global batch). Inside
``jax.shard_map`` the code sees only its device's block, so a per-device ``"mean"`` followed by
``lax.pmean`` would be a mean of per-device means, which is wrong when devices hold different numbers
of unmasked (or differently weighted) entries. The helpers here do it right:

* :func:`global_sum` and :func:`global_mean` reduce a per-device unreduced loss over mesh axes with
  :func:`jaxloss._reduce.reduce`'s exact rules (``where``, ``weight``, ``divide_by``): numerator and
  denominator come from the same :func:`jaxloss._reduce.total_and_denominator` and are summed
  across devices (``lax.psum``) before dividing; a mean over nothing is 0 with a zero gradient, as
  everywhere in jaxloss.
* :func:`vocab_parallel_cross_entropy` is ``cross_entropy`` for logits whose class axis is sharded
  over a mesh axis (tensor-parallel output layers): each device reduces its own classes, and only
  per-row vectors cross devices (a ``pmax`` and three ``psum``\\ s of shape ``target.shape``). Its
  torch semantics (``weight``, ``ignore_index``, ``label_smoothing``) come from the same
  :func:`jaxloss._classification.class_index_cross_entropy_terms` as ``cross_entropy`` and
  ``linear_cross_entropy``; the latter's ``vocab_axis=`` is the same scheme for the fused
  ``x @ w`` form.

These are helpers, not losses: they are not jitted on their own and are not in the catalogue.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Literal

import jax
import jax.numpy as jnp
from jax import lax

from jaxloss import _api, _checks
from jaxloss._classification import class_index_cross_entropy_terms
from jaxloss._numerics import varying_like
from jaxloss._reduce import check_reduction, reduce, safe_divide, total_and_denominator

ArrayLike = Any
AxisName = Any  # a mesh axis name, or a tuple of them

_HALF = (jnp.dtype(jnp.float16), jnp.dtype(jnp.bfloat16))


@contextlib.contextmanager
def _named(name: str) -> Iterator[None]:
    """Error messages raised by the checks inside name ``name`` (as they name a loss)."""
    token = _api._current_loss.set(name)
    try:
        yield
    finally:
        _api._current_loss.reset(token)


def _float32(x: jax.Array) -> jax.Array:
    return x.astype(jnp.float32) if x.dtype in _HALF else x


# ----------------------------------------------------------------------------------------------
# Global reductions


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
    with _named("global_sum"):
        (loss,) = _checks.floating(loss=loss)
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
    with _named("global_mean"):
        (loss,) = _checks.floating(loss=loss)
        rule = divide_by if isinstance(divide_by, str) else _float32(_checks.floating(divide_by=divide_by)[0])
        numerator, denominator = total_and_denominator(_float32(loss), where=where, weight=_weight32(weight), divide_by=rule)
        numerator, denominator = lax.psum((numerator, denominator), axis_name)
        return safe_divide(numerator, denominator).astype(loss.dtype)


def _weight32(weight: ArrayLike | None) -> jax.Array | None:
    if weight is None:
        return None
    (weight,) = _checks.floating(weight=weight)
    return _float32(weight)


def _global_reduce(loss: jax.Array, reduction: str, batch_axis: AxisName | None, *, where: jax.Array,
                   divide_by: jax.Array) -> jax.Array:
    """``reduce(loss, reduction, where=, divide_by=)``, over the global batch when ``batch_axis`` is given."""
    if batch_axis is None or reduction == "none":
        return reduce(loss, reduction, where=where, divide_by=divide_by)
    if reduction == "sum":
        return global_sum(loss, batch_axis, where=where)
    return global_mean(loss, batch_axis, where=where, divide_by=divide_by)


# ----------------------------------------------------------------------------------------------
# Vocabulary-parallel cross-entropy


def _shard_statistics(x: jax.Array, local_target: jax.Array, w: jax.Array | None) -> tuple[jax.Array, ...]:
    """This shard's float32 ``(lse, x[y] if the shard holds y else 0, sum_c w_c x_c)`` over the last axis."""
    xf = x.astype(jnp.float32)
    m = jnp.max(xf, axis=-1)
    m_safe = jnp.where(jnp.isfinite(m), m, 0.0)
    lse = m_safe + jnp.log(jnp.sum(jnp.exp(xf - m_safe[..., None]), axis=-1))
    hit = lax.broadcasted_iota(jnp.int32, x.shape, x.ndim - 1) == local_target[..., None]
    target_logit = jnp.sum(jnp.where(hit, xf, 0.0), axis=-1)
    weighted_sum = jnp.sum(xf if w is None else xf * w, axis=-1)
    return lse, target_logit, weighted_sum


@jax.custom_vjp
def _shard_row_statistics(x: jax.Array, local_target: jax.Array, w: jax.Array | None) -> tuple[jax.Array, ...]:
    """:func:`_shard_statistics` whose backward pass saves only ``lse`` (not the softmax) and writes
    the gradient with respect to the logits in one elementwise pass, in ``x``'s dtype."""
    return _shard_statistics(x, local_target, w)


def _shard_row_statistics_fwd(x, local_target, w):  # type: ignore[no-untyped-def]
    out = _shard_statistics(x, local_target, w)
    return out, (x, local_target, w, out[0])


def _shard_row_statistics_bwd(res, cotangents):  # type: ignore[no-untyped-def]
    x, local_target, w, lse = res
    g_lse, g_target, g_sum = cotangents
    xf = x.astype(jnp.float32)
    hit = lax.broadcasted_iota(jnp.int32, x.shape, x.ndim - 1) == local_target[..., None]
    dx = (
        g_lse[..., None] * jnp.exp(xf - lse[..., None])
        + jnp.where(hit, g_target[..., None], 0.0)
        + g_sum[..., None] * (1.0 if w is None else w)
    )
    dw = None if w is None else jnp.sum(g_sum[..., None] * xf, axis=tuple(range(x.ndim - 1))).astype(w.dtype)
    return dx.astype(x.dtype), None, dw


_shard_row_statistics.defvjp(_shard_row_statistics_fwd, _shard_row_statistics_bwd)


def vocab_parallel_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    *,
    axis_name: AxisName,
    batch_axis: AxisName | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float | jax.Array = 0.0,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""``cross_entropy`` of logits whose class axis is sharded over the mesh axis ``axis_name``.

    Call it inside ``jax.shard_map`` with this device's block of logits, whose classes are the
    ``k``-th contiguous slice of the :math:`C` classes on the ``k``-th device of ``axis_name``
    (``PartitionSpec(..., axis_name)`` on the class axis). With :math:`m` the global maximum of the
    per-shard log-sum-exps :math:`\mathrm{lse}_k`,

    .. math::
       \mathrm{lse} = m + \log \sum_k e^{\mathrm{lse}_k - m}, \qquad
       x_y = \sum_k x^{(k)}_y\,[y \in \text{shard } k], \qquad
       \ell = (1 - \epsilon)\, w_y (\mathrm{lse} - x_y)
              + \frac{\epsilon}{C} \sum_c w_c (\mathrm{lse} - x_c)

    (one ``pmax`` and ``psum``\ s of per-row vectors; the logits never leave their device), then the
    reduction of :func:`jaxloss.cross_entropy` (torch's ``weight``, ``ignore_index``,
    ``label_smoothing`` and weighted mean). The gradient is a custom VJP that saves only the per-row
    log-sum-exp, as ``cross_entropy``'s does.

    Args:
      input: this device's logits, shape ``(..., C / K, ...)`` with the class shard on ``axis``.
      target: class indices in ``[0, C)`` (global indices), ``input``'s shape without the class
        axis, replicated over ``axis_name``.
      weight: optional class weights of the *full* shape ``(C,)``, replicated (as in
        ``linear_cross_entropy(vocab_axis=...)``).
      axis_name: the mesh axis (or tuple of axes) the class axis is sharded over.
      batch_axis: the mesh axis (or axes) the batch is sharded over, if any: ``"mean"`` and
        ``"sum"`` are then taken over the global batch (:func:`global_mean` with torch's ``w[y]``
        denominators). Without it they are over this device's batch.
      ignore_index: target value whose samples are left out.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      label_smoothing: :math:`\epsilon \in [0, 1]` (traced); above 1 gives NaN.
      axis: the class axis of ``input``; ``-1`` (default) or ``1`` for torch's layout.
      where: optional boolean mask broadcastable to the per-sample loss.

    Returns:
      A scalar, or the per-sample loss (``target``'s shape) for ``reduction="none"``, in ``input``'s
      dtype (half precision is computed in float32).

    Equals ``jaxloss.cross_entropy`` on the gathered logits (tested on 8 devices). A target outside
    ``[0, C)`` gives NaN, as in ``cross_entropy``. Class-probability targets are not supported.

    Example:
      >>> import jax, jax.numpy as jnp, jaxloss as jl
      >>> from jax.sharding import PartitionSpec as P
      >>> mesh = jax.sharding.Mesh(jax.devices()[:1], ("model",))
      >>> logits = jnp.array([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]]); labels = jnp.array([0, 2])
      >>> f = jax.shard_map(lambda x, y: jl.vocab_parallel_cross_entropy(x, y, axis_name="model"),
      ...                   mesh=mesh, in_specs=(P(None, "model"), P()), out_specs=P())
      >>> f(logits, labels)
      Array(0.8963..., dtype=float32)
      >>> jl.cross_entropy(logits, labels)
      Array(0.8963..., dtype=float32)
    """
    with _named("vocab_parallel_cross_entropy"):
        check_reduction(reduction)
        (input,) = _checks.floating(input=input)
        (target,) = _checks.integer(target=target)
        if input.ndim == 0:
            raise ValueError("vocab_parallel_cross_entropy: `input` must have a class axis, got a scalar")
        axis = _checks.normalize_axis(axis, input.ndim)
        x = jnp.moveaxis(input, axis, -1)
        _checks.shape("target", target, x.shape[:-1])
        local_classes = x.shape[-1]
        offset = lax.axis_index(axis_name).astype(jnp.int32) * local_classes
        num_classes = local_classes * lax.axis_size(axis_name)
        class_weight, local_weight = None, None
        if weight is not None:
            (class_weight,) = _checks.floating(weight=weight)
            _checks.shape("weight", class_weight, (num_classes,))
            class_weight = class_weight.astype(jnp.float32)
            local_weight = varying_like(lax.dynamic_slice_in_dim(class_weight, offset, local_classes), x)

        local_target = target.astype(jnp.int32) - offset  # outside [0, local_classes): not on this shard
        lse, target_logit, weighted_sum = _shard_row_statistics(x, local_target, local_weight)
        top = lax.pmax(lax.stop_gradient(lse), axis_name)
        shift = jnp.where(jnp.isfinite(top), top, 0.0)
        lse = shift + jnp.log(lax.psum(jnp.exp(lse - shift), axis_name))
        target_logit, weighted_sum = lax.psum((target_logit, weighted_sum), axis_name)

        per_sample, denominator, keep = class_index_cross_entropy_terms(
            lse, target_logit, weighted_sum, target, class_weight=class_weight, num_classes=num_classes,
            ignore_index=ignore_index, label_smoothing=label_smoothing,
        )
        mask = keep if where is None else keep & _checks.mask(where, keep.shape)
        result = _global_reduce(per_sample, reduction, batch_axis, where=mask, divide_by=denominator)
        return result.astype(input.dtype) if input.dtype in _HALF else result
