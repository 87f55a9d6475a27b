"""Classification losses: cross-entropy and its relatives, binary and multi-label losses, margins.

The softmax losses (:func:`cross_entropy`, :func:`nll_loss`, :func:`softmax_focal_loss`,
:func:`poly1_cross_entropy`, :func:`zero_one_loss`) are short adapters on the softmax engine of
:mod:`jaxloss._core.softmax`: its row statistics (with their custom gradient, which saves only the
logits and per-row statistics), their shift-exact log-sum-exp and negative log-likelihood, and
torch's rules for ``weight``, ``ignore_index`` and ``label_smoothing``.
"""

from __future__ import annotations

from typing import Any, Literal

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxloss._core import checks as _checks
from jaxloss._core import softmax
from jaxloss._core.decorator import loss
from jaxloss._core.errors import fail
from jaxloss._core.numerics import clamp_min0, varying_like
from jaxloss._core.reduction import Reduction, inert, reduce
from jaxloss._core.runtime import flag_invalid

_HALF = (jnp.dtype(jnp.float16), jnp.dtype(jnp.bfloat16))


# ----------------------------------------------------------------------------------------------
# Argument handling shared by the class-axis losses


def _class_last(input: ArrayLike, target: ArrayLike, axis: int | None) -> tuple[jax.Array, int]:
    """``input`` (floating) with its class axis moved last, and that axis: ``axis`` normalised, or
    read from ``target``'s shape when None (:func:`jaxloss._core.checks.class_axis`)."""
    (x,) = _checks.floating(input=input)
    if x.ndim == 0:
        raise fail(ValueError, "`input` must have a class axis, got a scalar")
    axis = _checks.class_axis(axis, x.shape, jnp.shape(target))
    if x.shape[axis] == 0:
        raise fail(ValueError, f"`input` has shape {x.shape} with an empty class axis ({axis}): need at least one class")
    return jnp.moveaxis(x, axis, -1), axis


def _index_target(target: ArrayLike, input: ArrayLike, axis: int) -> jax.Array:
    """Check class-index targets: integer, of ``input``'s shape without the class axis."""
    (y,) = _checks.integer(target=target)
    shape = jnp.shape(input)
    expected = tuple(s for i, s in enumerate(shape) if i != axis)
    if y.shape != expected:
        raise fail(ValueError, f"`target` has shape {tuple(y.shape)}, expected {expected}: `input` {tuple(shape)} "
                   f"without its class axis {axis}; {_checks.LAYOUT_HINT}")
    return y


def _class_weight(weight: ArrayLike | None, num_classes: int, dtype: Any, name: str = "weight",
                  axis: int = -1) -> jax.Array | None:
    """Check a per-class weight vector of shape ``(C,)`` (``C`` the size of ``input``'s class axis
    ``axis``) and return it in ``dtype`` (the logits' accumulation dtype: float64 weights stay
    float64 with float64 logits)."""
    if weight is None:
        return None
    (w,) = _checks.floating(**{name: weight})
    if w.shape != (num_classes,):
        raise fail(ValueError, f"`{name}` has shape {tuple(w.shape)}, expected ({num_classes},): one per class of "
                   f"`input`'s class axis {axis}; {_checks.LAYOUT_HINT}")
    return w.astype(dtype)


def _as_input_dtype(value: jax.Array, input: jax.Array) -> jax.Array:
    """Return a float32 result in a half-precision input's dtype (for losses that upcast themselves)."""
    return value.astype(input.dtype) if input.dtype in _HALF else value


def _probability_target(target: jax.Array, input: ArrayLike) -> jax.Array:
    """Check class-probability targets: floating, of ``input``'s shape."""
    (t,) = _checks.floating(target=target)
    if t.shape != jnp.shape(input):
        raise fail(ValueError, f"`target` has shape {tuple(t.shape)} and a floating dtype ({t.dtype}): class "
                   f"probabilities must have `input`'s shape {tuple(jnp.shape(input))}; class indices must have an "
                   "integer dtype (cast them, e.g. `target.astype(jnp.int32)`)")
    return t


def _class_index_cross_entropy(
    x: jax.Array, target: jax.Array, counts: jax.Array, class_weight: jax.Array | None, *, ignore_index: int,
    label_smoothing: float | jax.Array, loss: str,
) -> tuple[softmax.Finished, jax.Array, jax.Array]:
    """The engine's finished statistics of the logits ``x`` (classes last), 0 for the samples that do
    not count (so that whatever their logits hold reaches no gradient), and torch's per-sample
    cross-entropy from them: ``(finished, per_sample, denominator_weight)``."""
    finished = softmax.finish(softmax.counted(counts, softmax.row_statistics(x, target, class_weight)))
    per_sample, denominator, _ = softmax.class_index_terms(
        finished, target, class_weight=class_weight, num_classes=x.shape[-1], ignore_index=ignore_index,
        label_smoothing=label_smoothing, loss=loss,
    )
    return finished, per_sample, denominator


@loss(
    counterpart="`F.cross_entropy`",
    static=("ignore_index", "axis"),
    stable_form="logits (log-sum-exp)",
    custom_gradient=True,
    half_precision_upcast=False,
)
def cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    *,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    label_smoothing: float | jax.Array = 0.0,
    axis: int | None = None,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Softmax cross-entropy of logits, as ``torch.nn.functional.cross_entropy``.

    Class-index targets (integer dtype), with :math:`\epsilon` the label smoothing:

    .. math::
       \ell_i = (1 - \epsilon)\, w_{y_i} \big(-\log \mathrm{softmax}(x_i)_{y_i}\big)
                + \frac{\epsilon}{C} \sum_c w_c \big(-\log \mathrm{softmax}(x_i)_c\big)

    and ``"mean"`` divides by :math:`\sum_i w_{y_i}` over the samples that count (torch's weighted
    mean). Class-probability targets (floating, ``input``'s shape):
    :math:`\ell_i = -\sum_c w_c t'_{ic} \log \mathrm{softmax}(x_i)_c` with
    :math:`t' = (1 - \epsilon) t + \epsilon / C`, and ``"mean"`` divides by the number of samples.

    Args:
      input: logits, shape ``(..., C, ...)`` with the classes on ``axis``; ``(C,)`` for one sample.
      target: class indices of ``input``'s shape without the class axis (any integer dtype), or
        class probabilities of ``input``'s shape (floating).
      weight: optional class weights, shape ``(C,)``.
      ignore_index: class-index target value whose samples are left out (static).
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      label_smoothing: :math:`\epsilon \in [0, 1]` (traced). Negative values act as 0 (as in torch);
        values above 1 give NaN (torch raises), reported by :func:`jaxloss.checked`.
      axis: the class axis (static). ``None`` (default): the last axis for inputs of rank <= 2;
        for higher ranks, read from ``target``'s shape (classes last, or torch's axis 1), and an
        error when both fit or ``target`` has the input's shape; ``-1`` for channels-last, ``1``
        for torch's ``(N, C, d1, ...)`` layout. ``None`` (default): the last axis for inputs of rank <= 2;
        for higher ranks, read from ``target``'s shape (classes last, or torch's axis 1), and an
        error when both fit or ``target`` has the input's shape; ``-1`` for channels-last, ``1``
        for torch's ``(N, C, d1, ...)`` layout.
      where: optional boolean mask broadcastable to the per-sample loss; combines with
        ``ignore_index``.

    Returns:
      A scalar, or the per-sample loss (``input``'s shape without the class axis) for
      ``reduction="none"``; in ``input``'s dtype.

    A class index outside ``[0, C)`` (other than ``ignore_index``) gives NaN for that sample (torch
    raises); :func:`jaxloss.checked` reports it. A mean over nothing (every sample ignored or
    masked) is 0 with a zero gradient (torch gives NaN); a masked or ignored sample influences
    neither the value nor the gradient, whatever its logits hold. Computed by the softmax engine
    (:mod:`jaxloss._core.softmax`): exact under a shift of the logits (``lse - x_y`` as
    ``(max - x_y) + log(sum)``), float64 kept in float64; the gradient is a custom VJP that saves
    per-row statistics only and writes ``softmax - smoothed one-hot`` (weighted) in one elementwise
    pass; float16/bfloat16 logits are reduced in float32 (at most one float32 copy of the logits in
    compiled temporaries) and their gradient comes back in their dtype; long class axes are reduced
    in pieces of at most 32768.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> logits = jnp.array([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]])
      >>> # hand: lse = [2.2413, 1.5514] -> (0.2413 + 1.5514) / 2
      >>> jl.cross_entropy(logits, jnp.array([0, 2]))
      Array(0.8963..., dtype=float32)
      >>> jl.cross_entropy(logits, jnp.array([0, -100]), reduction="none")
      Array([0.2413..., 0.  ], dtype=float32)
    """
    x, axis = _class_last(input, target, axis)
    c = x.shape[-1]
    acc = softmax.accumulation_dtype(x.dtype)
    class_weight = _class_weight(weight, c, acc, axis=axis)
    target = jnp.asarray(target)
    if jnp.issubdtype(target.dtype, jnp.floating):
        # soft targets: sum_c t'_c w_c (lse - x_c), the engine's spread with per-row weights t' w
        probs = jnp.moveaxis(_probability_target(target, input), axis, -1).astype(acc)
        masked = None if where is None else _checks.mask(where, x.shape[:-1])
        probs = inert(masked, probs, features=1)
        eps, _ = softmax.smoothing_rule(label_smoothing, acc)
        per_class = (1 - eps) * probs + eps / c
        if class_weight is not None:
            per_class = per_class * class_weight
        no_class = jnp.full(x.shape[:-1], -1, jnp.int32)
        stats = softmax.row_statistics(x, no_class, per_class)
        per_sample = softmax.finish(stats if masked is None else softmax.counted(masked, stats)).smooth
        per_sample = softmax.flag_smoothing(per_sample, label_smoothing, loss="cross_entropy")
        return _as_input_dtype(reduce(per_sample, reduction, where=where), x)
    target, counts = softmax.counted_targets(_index_target(target, input, axis), where, ignore_index)
    _, per_sample, denominator = _class_index_cross_entropy(
        x, target, counts, class_weight, ignore_index=ignore_index, label_smoothing=label_smoothing,
        loss="cross_entropy",
    )
    return _as_input_dtype(reduce(per_sample, reduction, where=counts, divide_by=denominator), x)


@loss(counterpart="`F.nll_loss`", static=("ignore_index", "axis"))
def nll_loss(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    *,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    axis: int | None = None,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Negative log-likelihood of log-probabilities, as ``torch.nn.functional.nll_loss``.

    .. math:: \ell_i = -w_{y_i} x_{i, y_i}

    and ``"mean"`` divides by :math:`\sum_i w_{y_i}` over the samples that count.

    Args:
      input: log-probabilities, shape ``(..., C, ...)`` with the classes on ``axis``; ``(C,)`` for
        one sample.
      target: class indices of ``input``'s shape without the class axis (any integer dtype).
      weight: optional class weights, shape ``(C,)``.
      ignore_index: target value whose samples are left out (static).
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      axis: the class axis (static). ``None`` (default): the last axis for inputs of rank <= 2;
        for higher ranks, read from ``target``'s shape (classes last, or torch's axis 1), and an
        error when both fit or ``target`` has the input's shape; ``-1`` for channels-last, ``1``
        for torch's ``(N, C, d1, ...)`` layout. ``None`` (default): the last axis for inputs of rank <= 2;
        for higher ranks, read from ``target``'s shape (classes last, or torch's axis 1), and an
        error when both fit or ``target`` has the input's shape; ``-1`` for channels-last, ``1``
        for torch's ``(N, C, d1, ...)`` layout.
      where: optional boolean mask broadcastable to the per-sample loss.

    Returns:
      A scalar, or the per-sample loss for ``reduction="none"``.

    Out-of-range class indices give NaN (torch raises), reported by :func:`jaxloss.checked`; a mean
    over nothing is 0 (torch: NaN). ``cross_entropy(x, y) == nll_loss(log_softmax(x), y)``.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> # hand: (-w0 * -1 + -w1 * -4) / (w0 + w1) = (1 + 12) / 4
      >>> jl.nll_loss(jnp.array([[-1.0, -2.0], [-3.0, -4.0]]), jnp.array([0, 1]), jnp.array([1.0, 3.0]))
      Array(3.25, dtype=float32)
    """
    x, axis = _class_last(input, target, axis)
    c = x.shape[-1]
    class_weight = _class_weight(weight, c, softmax.accumulation_dtype(x.dtype), axis=axis)
    target, counts = softmax.counted_targets(_index_target(target, input, axis), where, ignore_index)
    picked = jnp.take_along_axis(x, jnp.clip(target, 0, c - 1)[..., None], axis=-1)[..., 0]
    zero = jnp.zeros_like(picked)
    per_sample, denominator, _ = softmax.class_index_terms(
        softmax.Finished(zero, -jnp.where(counts, picked, 0.0), zero), target, class_weight=class_weight,
        num_classes=c, ignore_index=ignore_index, label_smoothing=0.0, loss="nll_loss",
    )
    return reduce(per_sample, reduction, where=counts, divide_by=denominator)


# ----------------------------------------------------------------------------------------------
# Beyond torch: focal, poly-1, 0-1


@loss(counterpart="Keras `CategoricalFocalCrossentropy`", static=("ignore_index", "axis"),
      stable_form="logits (log-sum-exp)", custom_gradient=True, half_precision_upcast=False)
def softmax_focal_loss(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    *,
    gamma: float | jax.Array = 2.0,
    alpha: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: float | jax.Array = 0.0,
    reduction: Reduction = "mean",
    axis: int | None = None,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Multi-class (softmax) focal loss of logits (Lin et al., 2017), with cross-entropy's options.

    With :math:`p = \mathrm{softmax}(x_i)` and :math:`t' = (1 - \epsilon)\,\mathrm{onehot}(y_i) + \epsilon / C`:

    .. math:: \ell_i = \sum_c t'_c\, \alpha_c\, w_c\, (1 - p_c)^\gamma \big(-\log p_c\big)

    and ``"mean"`` divides by :math:`\sum_i w_{y_i}` over the samples that count, as
    :func:`cross_entropy` does, so ``gamma=0`` without ``alpha`` equals :func:`cross_entropy`.

    Args:
      input: logits with the classes on ``axis``.
      target: class indices of ``input``'s shape without the class axis.
      weight: optional class weights ``(C,)`` (as in :func:`cross_entropy`).
      gamma: focusing exponent :math:`\gamma \ge 0` (traced).
      alpha: optional class balance factor, a scalar or ``(C,)`` (traced); None means 1.
      ignore_index: target value whose samples are left out (static).
      label_smoothing: :math:`\epsilon \in [0, 1]` (traced), as in :func:`cross_entropy`.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      axis: the class axis (static). ``None`` (default): the last axis for inputs of rank <= 2;
        for higher ranks, read from ``target``'s shape (classes last, or torch's axis 1), and an
        error when both fit or ``target`` has the input's shape; ``-1`` for channels-last, ``1``
        for torch's ``(N, C, d1, ...)`` layout.
      where: optional boolean mask broadcastable to the per-sample loss.

    Returns:
      A scalar, or the per-sample loss for ``reduction="none"``.

    Follows Keras' ``CategoricalFocalCrossentropy`` (focal factor on every smoothed class term), but
    ``alpha`` defaults to None rather than Keras' 0.25, and adds torch-style ``weight`` and
    ``ignore_index``. :math:`(1-p)^\gamma` is computed as :math:`\exp(\gamma \log(1 - p))` with a
    finite gradient at :math:`p = 1` for any :math:`\gamma \ge 0`. Out-of-range class indices give
    NaN, reported by :func:`jaxloss.checked`.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> # hand: p_y = softmax([0, 0])_0 = 0.5 -> (1 - 0.5)**2 * log 2 = 0.1732868
      >>> jl.softmax_focal_loss(jnp.zeros((1, 2)), jnp.array([0]))
      Array(0.1732868, dtype=float32)
    """
    x, axis = _class_last(input, target, axis)
    c = x.shape[-1]
    acc = softmax.accumulation_dtype(x.dtype)
    class_weight = _class_weight(weight, c, acc, axis=axis)
    target, counts = softmax.counted_targets(_index_target(target, input, axis), where, ignore_index)
    factor = jnp.ones((c,), acc) if class_weight is None else class_weight
    if alpha is not None:
        (alpha_,) = _checks.floating(alpha=alpha)
        factor = factor * _checks.broadcastable_to("alpha", alpha_, (c,), "the class axis of shape").astype(acc)
    finished = softmax.finish(softmax.counted(counts, softmax.row_statistics(x, target)))
    keep, in_range, target_weight = softmax.index_bookkeeping(target, class_weight, c, ignore_index, acc)
    eps, smoothing = softmax.smoothing_rule(label_smoothing, acc)
    gamma = jnp.asarray(gamma, acc)
    per_sample = (1 - eps) * factor[jnp.where(in_range, target, 0)] * _focal_term(-finished.nll, gamma)
    # replicated options typed as varying like the logits under shard_map, so that their per-device
    # cotangents are summed across devices (see varying_like)
    smoothed = _smoothed_focal_sum(x, finished.lse, varying_like(factor, x), varying_like(gamma, x),
                                   smoothing & counts)
    per_sample = per_sample + jnp.where(smoothing, eps / c * smoothed, 0.0)
    per_sample = softmax.flag_targets(per_sample, keep, in_range, c, ignore_index, loss="softmax_focal_loss")
    per_sample = softmax.flag_smoothing(per_sample, label_smoothing, loss="softmax_focal_loss")
    result = reduce(per_sample, reduction, where=counts, divide_by=jnp.where(keep, target_weight, 0.0))
    return _as_input_dtype(result, x)


def _focal_factor(log_p: jax.Array, gamma: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    r"""``(certain, log(1 - p), (1 - p)^gamma)`` from :math:`\log p \le 0`, the factor as
    :math:`\exp(\gamma \log(1 - p))` and every value finite where ``certain`` (:math:`p = 1`), whose
    factor is 0, or 1 for :math:`\gamma = 0`."""
    certain = log_p >= 0
    log_not_p = jnp.log(-jnp.expm1(jnp.where(certain, -1.0, log_p)))
    factor = jnp.where(certain, jnp.where(gamma == 0, 1.0, 0.0), jnp.exp(gamma * log_not_p))
    return certain, log_not_p, factor


def _focal_term(log_p: jax.Array, gamma: jax.Array) -> jax.Array:
    r""":math:`\varphi = (1 - p)^\gamma (-\log p)` from :math:`\log p \le 0`, with a finite gradient
    at :math:`p = 1` for any :math:`\gamma \ge 0`."""
    return _focal_factor(log_p, gamma)[2] * -log_p


def _focal_slope(log_p: jax.Array, gamma: jax.Array) -> jax.Array:
    r""":math:`d\varphi / d\log p = -(1 - p)^\gamma + \gamma \log p\, (1 - p)^\gamma\, p / (1 - p)`, and
    its limit at :math:`p = 1`: -1 for :math:`\gamma = 0`, else 0."""
    certain, log_not_p, factor = _focal_factor(log_p, gamma)
    safe = jnp.where(certain, -1.0, log_p)
    slope = -factor + gamma * safe * factor * jnp.exp(safe - log_not_p)
    return jnp.where(certain, jnp.where(gamma == 0, -1.0, 0.0), slope)


_ROW_BLOCK_ELEMENTS = 2**22
"""Logits per block of rows in :func:`_smoothed_focal_sum` (16 MiB in float32)."""


@jax.custom_vjp
def _smoothed_focal_sum(x: jax.Array, lse: jax.Array, factor: jax.Array, gamma: jax.Array, use: jax.Array) -> jax.Array:
    r""":math:`\sum_c f_c \varphi(\log p_c)` per row (:math:`\varphi` of :func:`_focal_term`,
    :math:`\log p = x - \mathrm{lse}`), the label-smoothing part of the focal loss, in the rows where
    ``use`` holds (label smoothing is on and the sample counts).

    Forward and backward passes walk blocks of rows (``lax.map``), so that what XLA materialises of
    the many elementwise terms is at most a block's worth, never an array of the logits' size; the
    custom gradient saves only ``x`` and ``lse``, and skips the work when no row uses it. In the
    other rows every term is computed at ``log p = -1`` instead (finite; the caller drops the sum),
    so that what their logits hold (``-inf``, NaN) reaches no gradient."""

    def compute() -> jax.Array:
        return _row_blocks(lambda xr, lr, ur: jnp.sum(factor * _focal_term(_smoothed_log_p(xr, lr, ur), gamma), -1),
                           x, lse, use)

    return jax.lax.cond(jnp.any(use), compute, lambda: jnp.zeros_like(lse))


def _row_blocks(fn: Any, x: jax.Array, *per_row: jax.Array) -> Any:
    """``fn(x_row, *per_row_values)`` for every row of ``x`` (classes last), computed a block of rows
    at a time."""
    rows = x.reshape(-1, x.shape[-1])
    out = jax.lax.map(lambda a: fn(*a), (rows, *(jnp.broadcast_to(v, x.shape[:-1]).reshape(-1) for v in per_row)),
                      batch_size=max(1, _ROW_BLOCK_ELEMENTS // max(x.shape[-1], 1)))
    return jax.tree_util.tree_map(lambda o: o.reshape(*x.shape[:-1], *o.shape[1:]), out)


def _smoothed_log_p(x: jax.Array, lse: jax.Array, use: jax.Array) -> jax.Array:
    return jnp.where(use[..., None], x.astype(lse.dtype) - lse[..., None], -1.0)


def _smoothed_focal_sum_fwd(x, lse, factor, gamma, use):  # type: ignore[no-untyped-def]
    return _smoothed_focal_sum.fun(x, lse, factor, gamma, use), (x, lse, factor, gamma, use)


def _smoothed_focal_sum_bwd(res, g):  # type: ignore[no-untyped-def]
    x, lse, factor, gamma, use = res

    def one_row(xr: jax.Array, lr: jax.Array, gr: jax.Array, ur: jax.Array) -> tuple[jax.Array, ...]:
        log_p = _smoothed_log_p(xr, lr, ur)
        gr = jnp.where(ur, gr, 0.0)
        slope = factor * _focal_slope(log_p, gamma)
        certain, log_not_p, focal = _focal_factor(log_p, gamma)
        dgamma = jnp.sum(factor * jnp.where(certain, 0.0, focal * log_not_p * -log_p))
        return (gr * slope).astype(x.dtype), -gr * jnp.sum(slope), gr * _focal_term(log_p, gamma), gr * dgamma

    def compute() -> tuple[jax.Array, ...]:
        dx, dlse, dfactor, dgamma = _row_blocks(one_row, x, lse, g, use)
        rows = tuple(range(x.ndim - 1))
        return dx, dlse, jnp.sum(dfactor, axis=rows).astype(factor.dtype), jnp.sum(dgamma).astype(gamma.dtype)

    def nothing() -> tuple[jax.Array, ...]:
        # typed as varying like the computed branch under shard_map (the sums over rows are per device)
        return tuple(varying_like(jnp.zeros_like(a), x, lse, g) for a in (x, lse, factor, gamma))

    return (*jax.lax.cond(jnp.any(use), compute, nothing), None)


_smoothed_focal_sum.defvjp(_smoothed_focal_sum_fwd, _smoothed_focal_sum_bwd)


@loss(counterpart="PolyLoss (Leng et al., 2022) reference code", static=("ignore_index", "axis"),
      stable_form="logits (log-sum-exp)", custom_gradient=True, half_precision_upcast=False)
def poly1_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    *,
    epsilon: float | jax.Array = 1.0,
    ignore_index: int = -100,
    label_smoothing: float | jax.Array = 0.0,
    reduction: Reduction = "mean",
    axis: int | None = None,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Poly-1 cross-entropy (PolyLoss, Leng et al., 2022): cross-entropy plus ``epsilon * (1 - p_t)``.

    .. math::
       \ell_i = \mathrm{CE}_i + \varepsilon\, w_{y_i} (1 - p_t), \qquad
       p_t = \sum_c t'_c\, \mathrm{softmax}(x_i)_c = (1 - \epsilon_{ls})\, \mathrm{softmax}(x_i)_{y_i} + \epsilon_{ls} / C

    where :math:`\mathrm{CE}_i` is :func:`cross_entropy`'s per-sample loss (with ``weight``,
    ``ignore_index`` and ``label_smoothing``) and ``"mean"`` divides by :math:`\sum_i w_{y_i}` as it does.

    Args:
      input: logits with the classes on ``axis``.
      target: class indices of ``input``'s shape without the class axis.
      weight: optional class weights ``(C,)``; the poly term of sample ``i`` is weighted by :math:`w_{y_i}`.
      epsilon: the poly-1 coefficient :math:`\varepsilon` (traced); 0 gives :func:`cross_entropy`.
      ignore_index: target value whose samples are left out (static).
      label_smoothing: as in :func:`cross_entropy` (traced); :math:`p_t` uses the smoothed labels,
        as the paper's code does.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      axis: the class axis (static). ``None`` (default): the last axis for inputs of rank <= 2;
        for higher ranks, read from ``target``'s shape (classes last, or torch's axis 1), and an
        error when both fit or ``target`` has the input's shape; ``-1`` for channels-last, ``1``
        for torch's ``(N, C, d1, ...)`` layout.
      where: optional boolean mask broadcastable to the per-sample loss.

    Returns:
      A scalar, or the per-sample loss for ``reduction="none"``.

    Uses the same per-row statistics (and custom gradient) as :func:`cross_entropy`; class
    weights are an extension (the paper has none).

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> # hand: p_t = 0.5 -> log 2 + 1.0 * (1 - 0.5) = 1.1931472
      >>> jl.poly1_cross_entropy(jnp.zeros((1, 2)), jnp.array([0]))
      Array(1.1931472, dtype=float32)
    """
    x, axis = _class_last(input, target, axis)
    c = x.shape[-1]
    acc = softmax.accumulation_dtype(x.dtype)
    class_weight = _class_weight(weight, c, acc, axis=axis)
    target, counts = softmax.counted_targets(_index_target(target, input, axis), where, ignore_index)
    finished, ce, denominator = _class_index_cross_entropy(
        x, target, counts, class_weight, ignore_index=ignore_index, label_smoothing=label_smoothing,
        loss="poly1_cross_entropy",
    )
    eps, _ = softmax.smoothing_rule(label_smoothing, acc)
    p_t = (1 - eps) * jnp.exp(-finished.nll) + eps / c
    per_sample = ce + jnp.asarray(epsilon, acc) * denominator * (1 - p_t)
    return _as_input_dtype(reduce(per_sample, reduction, where=counts, divide_by=denominator), x)


@loss(counterpart="`sklearn.metrics.zero_one_loss`", static=("ignore_index", "axis"))
def zero_one_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    axis: int | None = None,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""0-1 classification error of logits (or scores): 1 where the arg-max class is not the target.

    .. math:: \ell_i = [\arg\max_c x_{ic} \ne y_i]

    Args:
      input: logits or scores with the classes on ``axis``.
      target: class indices of ``input``'s shape without the class axis.
      ignore_index: target value whose samples are left out (static).
      reduction: ``"mean"`` (the error rate, as sklearn's ``normalize=True``), ``"sum"`` (the
        number of errors) or ``"none"``.
      axis: the class axis (static). ``None`` (default): the last axis for inputs of rank <= 2;
        for higher ranks, read from ``target``'s shape (classes last, or torch's axis 1), and an
        error when both fit or ``target`` has the input's shape; ``-1`` for channels-last, ``1``
        for torch's ``(N, C, d1, ...)`` layout.
      where: optional boolean mask broadcastable to the per-sample loss.

    Returns:
      A scalar, or the per-sample 0/1 errors for ``reduction="none"``.

    For evaluation: the gradient is zero everywhere, by design (it is piecewise constant). Ties go
    to the first maximal class (``jnp.argmax``); a row with a NaN score gives NaN. Out-of-range
    class indices give NaN, reported by :func:`jaxloss.checked`.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> jl.zero_one_loss(jnp.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]]), jnp.array([0, 0, 1]))
      Array(0.6666667, dtype=float32)
    """
    x, axis = _class_last(input, target, axis)
    c = x.shape[-1]
    target, counts = softmax.counted_targets(_index_target(target, input, axis), where, ignore_index)
    keep, in_range, _ = softmax.index_bookkeeping(target, None, c, ignore_index, x.dtype)
    scores = jax.lax.stop_gradient(x)
    wrong = (jnp.argmax(scores, axis=-1) != target).astype(x.dtype)
    wrong = jnp.where(jnp.isnan(jnp.max(scores, axis=-1)), jnp.nan, wrong)  # argmax alone hides a NaN score
    per_sample = softmax.flag_targets(jnp.where(counts, wrong, 0.0), keep, in_range, c, ignore_index,
                                      loss="zero_one_loss")
    return reduce(per_sample, reduction, where=counts)


# ----------------------------------------------------------------------------------------------
# Binary and multi-label losses


@jax.custom_jvp
def _binary_cross_entropy(x: jax.Array, y: jax.Array) -> jax.Array:
    """Torch's BCE of probabilities, logs clamped at -100, with torch's derivatives (a ``custom_jvp``,
    so forward mode works and reverse mode is its transpose)."""
    return -(y * jnp.maximum(jnp.log(x), -100.0) + (1 - y) * jnp.maximum(jnp.log1p(-x), -100.0))


@_binary_cross_entropy.defjvp
def _binary_cross_entropy_jvp(primals, tangents):  # type: ignore[no-untyped-def]
    (x, y), (dx, dy) = primals, tangents
    slope_x = (x - y) / jnp.maximum(x * (1 - x), 1e-12)
    # the derivative of the clamped value (torch's is +-inf where x is 0 or 1)
    slope_y = jnp.maximum(jnp.log1p(-x), -100.0) - jnp.maximum(jnp.log(x), -100.0)
    return _binary_cross_entropy(x, y), slope_x * dx + slope_y * dy


@loss(counterpart="`F.binary_cross_entropy`", stable_form="`binary_cross_entropy_with_logits`",
      custom_gradient=True, elementwise=True)
def binary_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    *,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Binary cross-entropy of probabilities, as ``torch.nn.functional.binary_cross_entropy``.

    .. math:: \ell_i = -w_i \big(y_i \max(\log x_i, -100) + (1 - y_i) \max(\log(1 - x_i), -100)\big)

    Args:
      input: probabilities ``x`` in ``[0, 1]``, any shape.
      target: targets ``y`` in ``[0, 1]``, ``input``'s shape.
      weight: optional weights broadcastable to ``input``'s shape.
      reduction: ``"mean"`` (divided by the number of entries that count; weights are not
        normalised, as in torch), ``"sum"`` or ``"none"``.
      where: optional boolean mask broadcastable to ``input``'s shape.

    Returns:
      A scalar, or ``input``'s shape for ``reduction="none"``.

    Prefer :func:`binary_cross_entropy_with_logits`. The logs are clamped at -100 as in torch, and
    the gradient is torch's, :math:`w (x - y) / \max(x (1 - x), 10^{-12})` (finite at 0 and 1);
    the target's gradient is that of the clamped logs (finite where ``x`` is 0 or 1, where torch's
    is infinite). An ``input`` or ``target`` outside ``[0, 1]`` gives NaN (torch raises), reported
    by :func:`jaxloss.checked`.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> jl.binary_cross_entropy(jnp.array([0.0, 0.5]), jnp.array([1.0, 1.0]), reduction="none")
      Array([100.      ,   0.6931...], dtype=float32)
    """
    input, target = _checks.floating(input=input, target=target)
    _checks.same_shape(input=input, target=target)
    per_element = _binary_cross_entropy(input, target)
    # "not in [0, 1]" rather than "< 0 or > 1", so that a NaN probability is reported too
    per_element = flag_invalid(per_element, ~((input >= 0) & (input <= 1)), loss="binary_cross_entropy",
                               argument="input", requirement="must hold probabilities in [0, 1]")
    per_element = flag_invalid(per_element, ~((target >= 0) & (target <= 1)), loss="binary_cross_entropy",
                               argument="target", requirement="must hold probabilities in [0, 1]")
    return reduce(per_element, reduction, where=where, weight=weight, divide_by="count")


def _softplus_neg(x: jax.Array) -> jax.Array:
    """``log(1 + exp(-x))`` without overflow."""
    return jnp.log1p(jnp.exp(-jnp.abs(x))) + jnp.maximum(x, 0.0) - x


@jax.custom_jvp
def _bce_with_logits(x: jax.Array, y: jax.Array, pos_weight: jax.Array | None) -> jax.Array:
    """``-(p y log sigmoid(x) + (1 - y) log sigmoid(-x))`` with derivative ``(1 + (p-1) y) sigmoid(x) - p y``
    (a ``custom_jvp``: finite for huge ``|x|`` in forward and reverse mode, and to any order).

    Written as ``max(x, 0) - x y + log(1 + exp(-|x|))`` (exact for huge ``|x|``): without broadcast
    constants such as ``1 - y``, XLA:CPU fuses it into the reduction instead of materialising it."""
    if pos_weight is None:
        return jnp.maximum(x, 0.0) - x * y + jnp.log1p(jnp.exp(-jnp.abs(x)))
    return x - x * y + (1 + (pos_weight - 1) * y) * _softplus_neg(x)


@_bce_with_logits.defjvp
def _bce_with_logits_jvp(primals, tangents):  # type: ignore[no-untyped-def]
    (x, y, pos_weight), (dx, dy, dpos_weight) = primals, tangents
    sig = jax.nn.sigmoid(x)
    value = _bce_with_logits(x, y, pos_weight)
    if pos_weight is None:
        return value, (sig - y) * dx - x * dy
    sp = _softplus_neg(x)
    slope_x = (1 + (pos_weight - 1) * y) * sig - pos_weight * y
    return value, slope_x * dx + ((pos_weight - 1) * sp - x) * dy + y * sp * dpos_weight


@loss(counterpart="`F.binary_cross_entropy_with_logits`", stable_form="logits (log-sigmoid)",
      custom_gradient=True, elementwise=True)
def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    *,
    pos_weight: ArrayLike | None = None,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Binary cross-entropy of logits, as ``torch.nn.functional.binary_cross_entropy_with_logits``.

    .. math:: \ell_i = -w_i \big(p\, y_i \log \sigma(x_i) + (1 - y_i) \log \sigma(-x_i)\big)

    Args:
      input: logits ``x``, any shape.
      target: targets ``y`` (usually in ``[0, 1]``; not range-checked, as in torch), ``input``'s shape.
      weight: optional weights broadcastable to ``input``'s shape.
      pos_weight: optional weight :math:`p` of the positive term, broadcastable to ``input``'s
        shape against its trailing axes (as in torch): ``(C,)`` for channels-last ``(..., C)``
        logits, ``(C, 1, 1)`` for torch's ``(N, C, H, W)``.
      reduction: ``"mean"`` (divided by the number of entries that count; weights are not
        normalised), ``"sum"`` or ``"none"``.
      where: optional boolean mask broadcastable to ``input``'s shape.

    Returns:
      A scalar, or ``input``'s shape for ``reduction="none"``.

    Stable for logits of any finite size (``x=100, y=0`` gives 100). The gradient is a custom VJP,
    :math:`w ((1 + (p - 1) y)\, \sigma(x) - p\, y)`, that stores nothing beyond the inputs.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> jl.binary_cross_entropy_with_logits(jnp.array([100.0, 0.0]), jnp.array([0.0, 1.0]), reduction="none")
      Array([100.       ,   0.6931...], dtype=float32)
    """
    input, target = _checks.floating(input=input, target=target)
    _checks.same_shape(input=input, target=target)
    if pos_weight is not None:
        (pos_weight,) = _checks.floating(pos_weight=pos_weight)
        pos_weight = _checks.broadcastable_to("pos_weight", pos_weight, input.shape, "`input` of shape")
    per_element = _bce_with_logits(input, target, None if pos_weight is None else varying_like(pos_weight, input))
    return reduce(per_element, reduction, where=where, weight=weight, divide_by="count")


@loss(counterpart="`F.multilabel_soft_margin_loss`", stable_form="logits (log-sigmoid)",
      custom_gradient=True)
def multilabel_soft_margin_loss(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    *,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Multi-label one-versus-all logistic loss, as ``torch.nn.functional.multilabel_soft_margin_loss``.

    .. math:: \ell_n = \frac{1}{C} \sum_c -w_c \big(y_{nc} \log \sigma(x_{nc}) + (1 - y_{nc}) \log \sigma(-x_{nc})\big)

    Args:
      input: logits, shape ``(..., C)`` (classes last, as in torch).
      target: targets in ``[0, 1]``, ``input``'s shape.
      weight: optional weights broadcastable to ``input``'s shape (torch's ``(C,)`` class weights).
      reduction: ``"mean"`` (over samples), ``"sum"`` or ``"none"``.
      where: optional boolean mask broadcastable to the per-sample loss ``input.shape[:-1]``.

    Returns:
      A scalar, or ``input.shape[:-1]`` for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> # hand: (log(1 + e^-2) + log(1 + e^0)) / 2
      >>> jl.multilabel_soft_margin_loss(jnp.array([[2.0, 0.0]]), jnp.array([[1.0, 0.0]]))
      Array(0.4100..., dtype=float32)
    """
    input, target = _checks.floating(input=input, target=target)
    _checks.same_shape(input=input, target=target)
    if input.ndim == 0:
        raise ValueError("multilabel_soft_margin_loss: `input` must have a class axis, got a scalar")
    masked = None if where is None else _checks.mask(where, input.shape[:-1])
    input, target = inert(masked, input, features=1), inert(masked, target, features=1)
    per_element = _bce_with_logits(input, target, None)
    if weight is not None:
        (weight,) = _checks.floating(weight=weight)
        per_element = per_element * _checks.broadcastable_to("weight", weight, input.shape, "`input` of shape")
    return reduce(jnp.mean(per_element, axis=-1), reduction, where=where)


@loss(counterpart="`F.soft_margin_loss`", stable_form="softplus", elementwise=True)
def soft_margin_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Two-class logistic loss, as ``torch.nn.functional.soft_margin_loss``.

    .. math:: \ell_i = \log\big(1 + e^{-y_i x_i}\big)

    Args:
      input: scores ``x``, any shape.
      target: labels ``y`` (usually -1 or 1), broadcastable with ``input``.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      where: optional boolean mask broadcastable to the loss.

    Returns:
      A scalar, or the broadcast shape for ``reduction="none"``.

    Computed as a softplus, so finite where torch overflows to ``inf`` (``x=-89, y=1`` gives 89,
    torch gives ``inf``).

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> jl.soft_margin_loss(jnp.array([-89.0, 0.0]), jnp.array([1.0, -1.0]), reduction="none")
      Array([89.      ,  0.6931...], dtype=float32)
    """
    input, target = _checks.floating(input=input, target=target)
    _checks.broadcast(input=input, target=target)
    return reduce(jax.nn.softplus(-target * input), reduction, where=where)


@loss(counterpart="`F.kl_div`", static=("log_target",), elementwise=True)
def kl_div(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: Literal["mean", "batchmean", "sum", "none"] = "mean",
    log_target: bool = False,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Kullback-Leibler divergence of log-probabilities, as ``torch.nn.functional.kl_div``.

    .. math::
       \ell_i = \begin{cases} y_i (\log y_i - x_i) & \text{(0 where } y_i = 0) \\
                              e^{y_i} (y_i - x_i) & \text{log\_target} \end{cases}

    Args:
      input: log-probabilities ``x`` (the model's), any shape.
      target: probabilities ``y`` (log-probabilities with ``log_target=True``), broadcastable with ``input``.
      reduction: ``"mean"`` (over every element, as torch; usually not what you want),
        ``"batchmean"`` (the sum divided by ``input.shape[0]``: the KL divergence per sample),
        ``"sum"`` or ``"none"``.
      log_target: whether ``target`` is given as log-probabilities (static).
      where: optional boolean mask broadcastable to the loss (``"batchmean"`` still divides by
        ``input.shape[0]``).

    Returns:
      A scalar, or the broadcast shape for ``reduction="none"``.

    A zero target contributes 0 with finite gradients (also at ``x = -inf``, where torch gives NaN);
    a negative target gives NaN, reported by :func:`jaxloss.checked`.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> # hand: 0.5 * (log 0.5 - log 0.25) + 0 = 0.3465736
      >>> jl.kl_div(jnp.log(jnp.array([0.25, 0.75])), jnp.array([0.5, 0.0]), reduction="sum")
      Array(0.3465736, dtype=float32)
    """
    _checks.choice("reduction", reduction, ("mean", "batchmean", "sum", "none"))
    input, target = _checks.floating(input=input, target=target)
    _checks.broadcast(input=input, target=target)
    if log_target:
        per_element = jnp.exp(target) * (target - input)
    else:
        # 0 log 0 = 0 (a finite gradient at zero targets); a NaN target stays NaN (`target > 0` would drop it)
        zero = target == 0
        safe = jnp.where(zero, 1.0, target)
        per_element = jnp.where(zero, 0.0, safe * (jnp.log(safe) - jnp.where(zero, 0.0, input)))
        per_element = flag_invalid(per_element, target < 0, loss="kl_div", argument="target", requirement="must be non-negative")
    if reduction != "batchmean":
        return reduce(per_element, reduction, where=where)
    batch = input.shape[0] if input.ndim else 1
    return reduce(per_element, "sum", where=where) / batch


# ----------------------------------------------------------------------------------------------
# Margin losses


def _hinge(z: jax.Array) -> jax.Array:
    """``max(0, z)`` with torch's zero gradient at ``z = 0``; a NaN ``z`` stays NaN, with no gradient."""
    return clamp_min0(z, gradient_at_zero=False)


def _torch_unbatched_margin_shapes(
    input: ArrayLike, target: ArrayLike, axis: int | None
) -> tuple[jax.Array, jax.Array, int | None]:
    """The shapes torch's ``multi_margin_loss`` accepts besides ``(N, C)`` with ``(N,)``: a 0-d
    score is one class, and an unbatched ``(C,)`` input with a ``(1,)`` target is one sample of a
    batch of one (torch's result then has shape ``(1,)``)."""
    (scores,) = _checks.floating(input=input)
    labels = jnp.asarray(target)
    if scores.ndim <= 1 and axis in (-1, 0, None):
        scores = scores.reshape(1) if scores.ndim == 0 else scores
        if labels.shape == (1,):
            scores = scores[None]
        return scores, labels, -1
    return scores, labels, axis


@loss(counterpart="`F.multi_margin_loss`", static=("p", "axis"))
def multi_margin_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    p: int = 1,
    margin: float | jax.Array = 1.0,
    weight: ArrayLike | None = None,
    reduction: Reduction = "mean",
    axis: int | None = None,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Multi-class hinge loss, as ``torch.nn.functional.multi_margin_loss``.

    .. math:: \ell_n = \frac{1}{C} \sum_{c \ne y_n} w_{y_n} \max(0,\ \mathrm{margin} - x_{n y_n} + x_{nc})^p

    Args:
      input: scores, shape ``(..., C, ...)`` with the classes on ``axis``; ``(C,)`` for one sample.
      target: class indices of ``input``'s shape without the class axis.
      p: 1 or 2 (static).
      margin: the margin (traced).
      weight: optional class weights ``(C,)``.
      reduction: ``"mean"`` (over samples; weights are not normalised, as in torch), ``"sum"`` or ``"none"``.
      axis: the class axis (static). ``None`` (default): the last axis for inputs of rank <= 2;
        for higher ranks, read from ``target``'s shape (classes last, or torch's axis 1), and an
        error when both fit or ``target`` has the input's shape; ``-1`` for channels-last, ``1``
        for torch's ``(N, C, d1, ...)`` layout.
      where: optional boolean mask broadcastable to the per-sample loss.

    Returns:
      A scalar, or the per-sample loss for ``reduction="none"``.

    Out-of-range class indices give NaN (torch raises), reported by :func:`jaxloss.checked`.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> # hand: (max(0, 1 - 0.8 + 0.1) + max(0, 1 - 0.8 + 0.2) + max(0, 1 - 0.8 + 0.4)) / 4
      >>> jl.multi_margin_loss(jnp.array([[0.1, 0.2, 0.4, 0.8]]), jnp.array([3]))
      Array(0.325, dtype=float32)
    """
    _checks.choice("p", p, (1, 2))
    input, target, axis = _torch_unbatched_margin_shapes(input, target, axis)
    x, axis = _class_last(input, target, axis)
    c = x.shape[-1]
    class_weight = _class_weight(weight, c, x.dtype, axis=axis)
    target, counts = softmax.counted_targets(_index_target(target, input, axis), where, None)
    x = inert(counts, x, features=1)
    _, in_range, target_weight = softmax.index_bookkeeping(target, class_weight, c, -1, x.dtype)
    safe_target = jnp.where(in_range, target, 0)
    target_score = jnp.take_along_axis(x, safe_target[..., None], axis=-1)
    others = jnp.arange(c) != safe_target[..., None]
    z = _hinge(margin - target_score + x)
    terms = jnp.where(others, z if p == 1 else z * z, 0.0)
    per_sample = target_weight * jnp.sum(terms, axis=-1) / c
    per_sample = flag_invalid(per_sample, ~in_range, loss="multi_margin_loss", argument="target",
                              requirement=f"must hold class indices in [0, {c})")
    return reduce(per_sample, reduction, where=where)


@loss(counterpart="`F.multilabel_margin_loss`")
def multilabel_margin_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Multi-label hinge loss, as ``torch.nn.functional.multilabel_margin_loss``.

    .. math:: \ell_n = \frac{1}{C} \sum_{j \in Y_n} \sum_{i \notin Y_n} \max(0,\ 1 - (x_{nj} - x_{ni}))

    where :math:`Y_n` are the class indices of ``target[n]`` before its first ``-1`` (a repeated
    label counts twice, as in torch).

    Args:
      input: scores, shape ``(..., C)``.
      target: integer array of ``input``'s shape: each row lists label indices, ended by ``-1``
        (or filling the row).
      reduction: ``"mean"`` (over samples), ``"sum"`` or ``"none"``.
      where: optional boolean mask broadcastable to the per-sample loss ``input.shape[:-1]``.

    Returns:
      A scalar, or ``input.shape[:-1]`` for ``reduction="none"``.

    Entries outside ``[-1, C)`` (even after the first ``-1``) give NaN for that sample (torch
    raises), reported by :func:`jaxloss.checked`. Memory is ``O(C^2)`` per sample.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> # torch's docs example, labels {3, 0}: (0.4 + 0.6 + 1.1 + 1.3) / 4 = 0.85
      >>> jl.multilabel_margin_loss(jnp.array([[0.1, 0.2, 0.4, 0.8]]), jnp.array([[3, 0, -1, 1]]))
      Array(0.8499..., dtype=float32)
    """
    (input,) = _checks.floating(input=input)
    (target,) = _checks.integer(target=target)
    _checks.same_shape(input=input, target=target)
    if input.ndim == 0:  # torch: a 0-d input is one sample with one class
        input, target = input[None], target[None]
    c = input.shape[-1]
    masked = None if where is None else _checks.mask(where, input.shape[:-1])
    input, target = inert(masked, input, features=1), inert(masked, target, -1, features=1)
    listed = jnp.cumprod(target != -1, axis=-1).astype(bool)  # label slots before the first -1
    safe = jnp.where(listed, target, 0)
    safe = jnp.clip(safe, 0, c - 1)
    is_label = jnp.any(listed[..., :, None] & (safe[..., :, None] == jnp.arange(c)), axis=-2)
    label_score = jnp.take_along_axis(input, safe, axis=-1)  # (..., slots)
    z = _hinge(1 - label_score[..., :, None] + input[..., None, :])  # (..., slots, C)
    counted = listed[..., :, None] & ~is_label[..., None, :]
    per_sample = jnp.sum(jnp.where(counted, z, 0.0), axis=(-2, -1)) / c
    bad = jnp.any((target < -1) | (target >= c), axis=-1)
    per_sample = flag_invalid(per_sample, bad, loss="multilabel_margin_loss", argument="target",
                              requirement=f"must hold class indices in [0, {c}) ended by -1")
    return reduce(per_sample, reduction, where=where)
