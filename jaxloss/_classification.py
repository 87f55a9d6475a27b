"""Classification losses: cross-entropy and its relatives, binary and multi-label losses, margins.

The class-index cross-entropy semantics (torch's ``weight``, ``ignore_index`` and ``label_smoothing``,
and its weighted mean) live in one place, :func:`class_index_cross_entropy_terms`, which works from
per-row statistics (log-sum-exp, target logit, weighted logit sum). The losses here compute those
statistics with :func:`_row_statistics`, a ``custom_vjp`` that saves only the per-row log-sum-exp and
writes the gradient with respect to the logits in one elementwise pass; the large-vocabulary family
computes them chunk by chunk without materialising the logits.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxloss import _checks
from jaxloss._api import current_loss_name, flag_invalid, loss
from jaxloss._numerics import varying_like
from jaxloss._reduce import reduce

ArrayLike = Any

_BLOCK = 32768
"""Longest piece of the class axis reduced at once (XLA:CPU slows down on longer exp-reductions)."""

_HALF = (jnp.dtype(jnp.float16), jnp.dtype(jnp.bfloat16))


def _accumulation_dtype(x: jax.Array) -> Any:
    """float32 for half-precision and float32 logits, float64 for float64 ones (never less precise)."""
    return jnp.promote_types(x.dtype, jnp.float32)


# ----------------------------------------------------------------------------------------------
# Shared cross-entropy semantics


def class_index_cross_entropy_terms(
    lse: jax.Array,
    target_logit: jax.Array,
    weighted_logit_sum: jax.Array,
    target: jax.Array,
    *,
    class_weight: jax.Array | None,
    num_classes: int,
    ignore_index: int,
    label_smoothing: float | jax.Array,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    r"""Per-sample torch cross-entropy for class-index targets, from per-row statistics.

    With :math:`\epsilon` the label smoothing, :math:`C` the number of classes and :math:`w` the
    class weights (all ones without ``class_weight``):

    .. math::
       \ell = (1 - \epsilon)\, w_y (\mathrm{lse} - x_y)
              + \frac{\epsilon}{C} \sum_c w_c (\mathrm{lse} - x_c)
            = (1 - \epsilon)\, w_y (\mathrm{lse} - x_y)
              + \frac{\epsilon}{C} \Big(\mathrm{lse} \sum_c w_c - \sum_c w_c x_c\Big)

    Args:
      lse: ``(...,)`` float32 log-sum-exp of each row's logits.
      target_logit: ``(...,)`` the logit at the target class (any finite value where the target is
        ignored or out of range).
      weighted_logit_sum: ``(...,)`` :math:`\sum_c w_c x_c` (the plain sum without ``class_weight``).
        Only used where the label smoothing is positive, so it may be ``-inf`` (masked logits)
        without smoothing.
      target: ``(...,)`` integer class indices.
      class_weight: ``(C,)`` class weights, or None.
      num_classes: :math:`C`.
      ignore_index: target value whose samples are left out (loss 0, denominator weight 0).
      label_smoothing: :math:`\epsilon`; a negative value acts as 0 (as in torch); a value above 1
        gives NaN (torch raises), reported under :func:`jaxloss.checked`.

    Returns:
      ``(loss, denominator_weight, keep)``: the per-sample loss, 0 where ``target == ignore_index``
      and NaN (reported under :func:`jaxloss.checked` for argument ``target``) where the target is
      outside ``[0, C)`` and not ignored; the weight of each sample in torch's ``"mean"``
      denominator (:math:`w_y`, 1 without weights, 0 where ignored); and ``target != ignore_index``.
      The caller reduces with ``reduce(loss, reduction, where=keep & where, divide_by=denominator_weight)``.
    """
    keep, in_range, _, target_weight = _index_bookkeeping(target, class_weight, num_classes, ignore_index)
    eps, smoothing = _smoothing(label_smoothing)
    eps = eps.astype(lse.dtype)  # float64 statistics keep eps / C in float64
    weight_total = jnp.float32(num_classes) if class_weight is None else jnp.sum(class_weight.astype(jnp.float32))
    nll = target_weight * (lse - target_logit)
    smooth = jnp.where(smoothing, weight_total * lse - weighted_logit_sum, 0.0)
    per_sample = (1 - eps) * nll + jnp.where(smoothing, eps / num_classes * smooth, 0.0)
    per_sample = _flag_targets(per_sample, keep, in_range, num_classes, ignore_index)
    return _flag_smoothing(per_sample, label_smoothing), jnp.where(keep, target_weight, 0.0), keep


def _index_bookkeeping(
    target: jax.Array, class_weight: jax.Array | None, num_classes: int, ignore_index: int
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """``(keep, in_range, safe_target, target_weight)`` for class-index targets: which samples count,
    which targets are valid classes, the targets clipped to a valid class, and ``w[y]`` (1 without
    weights)."""
    keep = target != ignore_index
    in_range = (target >= 0) & (target < num_classes)
    safe_target = jnp.where(in_range, target, 0)
    if class_weight is None:
        target_weight = jnp.ones(target.shape, jnp.float32)
    else:
        target_weight = class_weight.astype(jnp.float32)[safe_target]
    return keep, in_range, safe_target, target_weight


def _flag_targets(
    per_sample: jax.Array, keep: jax.Array, in_range: jax.Array, num_classes: int, ignore_index: int
) -> jax.Array:
    """0 for ignored samples, NaN (reported in checked mode) for out-of-range class indices."""
    return flag_invalid(
        jnp.where(keep, per_sample, 0.0),
        keep & ~in_range,
        argument="target",
        requirement=f"must hold class indices in [0, {num_classes}) or ignore_index={ignore_index}",
    )


def _smoothing(label_smoothing: float | jax.Array) -> tuple[jax.Array, jax.Array]:
    """Torch's label smoothing: ``(eps, eps > 0)`` with a negative ``eps`` acting as 0."""
    eps = jnp.asarray(label_smoothing, jnp.float32)
    return jnp.where(eps > 0, eps, 0.0), eps > 0


def _flag_smoothing(per_sample: jax.Array, label_smoothing: float | jax.Array) -> jax.Array:
    """NaN (reported in checked mode) everywhere if ``label_smoothing > 1`` (torch raises)."""
    too_big = jnp.broadcast_to(jnp.asarray(label_smoothing) > 1, per_sample.shape)
    return flag_invalid(per_sample, too_big, argument="label_smoothing", requirement="must be at most 1")


# ----------------------------------------------------------------------------------------------
# Row statistics of logits with a custom gradient


def _blocks(x: jax.Array) -> list[jax.Array] | jax.Array:
    """The class axis (last) of ``x`` cut into pieces of at most ``_BLOCK``: one array
    ``(..., pieces, width)`` when the pieces are equal, else a list of slices."""
    c = x.shape[-1]
    pieces = -(-c // _BLOCK)
    if pieces == 1:
        return x[..., None, :]
    if c % pieces == 0:
        return x.reshape(*x.shape[:-1], pieces, c // pieces)
    width = -(-c // pieces)
    return [x[..., s : s + width] for s in range(0, c, width)]


def _piece_lse(xb: jax.Array) -> jax.Array:
    """Log-sum-exp over the last axis in float32 (``-inf`` for an all ``-inf`` piece).

    The maximum is taken in the input's dtype (exact), so that the float32 conversion of
    half-precision logits feeds a single reduction and is fused into it, never materialised."""
    acc = _accumulation_dtype(xb)
    m = jnp.max(xb, axis=-1).astype(acc)
    m_safe = jnp.where(jnp.isfinite(m), m, 0.0)
    return m_safe + jnp.log(jnp.sum(jnp.exp(xb.astype(acc) - m_safe[..., None]), axis=-1))


def _lse(x: jax.Array) -> jax.Array:
    """Float32 log-sum-exp over the last axis, blocking long rows and combining the pieces."""
    pieces = _blocks(x)
    if isinstance(pieces, list):
        per_piece = jnp.stack([_piece_lse(p) for p in pieces], axis=-1)
    else:
        per_piece = _piece_lse(pieces)
    if per_piece.shape[-1] == 1:
        return per_piece[..., 0]
    return jax.nn.logsumexp(per_piece, axis=-1)


def _statistics(
    x: jax.Array, target: jax.Array, weight: jax.Array | None, with_sum: jax.Array
) -> tuple[jax.Array, ...]:
    c = x.shape[-1]
    safe_target = jnp.clip(target, 0, c - 1)
    lse = _lse(x)
    acc = _accumulation_dtype(x)
    target_logit = jnp.take_along_axis(x, safe_target[..., None], axis=-1)[..., 0].astype(acc)

    def weighted_sum() -> jax.Array:
        xf = x.astype(acc)
        return jnp.sum(xf if weight is None else xf * weight.astype(acc), axis=-1)

    # Only label smoothing needs the sum: skip its pass over the logits otherwise. Being a separate
    # computation, it also keeps half-precision logits from being converted to float32 once for two
    # reductions (which XLA would materialise as a float32 copy).
    zeros = lambda: jnp.zeros_like(lse)  # noqa: E731  (zeros_like keeps lse's shard_map variance)
    return lse, target_logit, jax.lax.cond(with_sum, weighted_sum, zeros)


def _row_statistics(
    x: jax.Array, target: jax.Array, weight: jax.Array | None, with_sum: jax.Array
) -> tuple[jax.Array, ...]:
    """``(lse, x[y], sum_c w_c x_c)`` over the last axis of ``x``, in float32 (float64 for float64
    ``x``; the sum is 0 unless
    the boolean scalar ``with_sum`` holds).

    The backward pass saves only ``lse`` and writes
    ``d lse * softmax(x) + d x_y * onehot(y) + d wsum * w`` in one elementwise pass, in ``x``'s dtype.
    A replicated ``weight`` is typed as varying like ``x`` first, so that under ``shard_map`` its
    per-device cotangent is summed across devices (see :func:`jaxloss._numerics.varying_like`).
    """
    return _row_statistics_vjp(x, target, None if weight is None else varying_like(weight, x), with_sum)


@jax.custom_vjp
def _row_statistics_vjp(
    x: jax.Array, target: jax.Array, weight: jax.Array | None, with_sum: jax.Array
) -> tuple[jax.Array, ...]:
    return _statistics(x, target, weight, with_sum)


def _row_statistics_fwd(x, target, weight, with_sum):  # type: ignore[no-untyped-def]
    lse, target_logit, weighted_sum = _statistics(x, target, weight, with_sum)
    return (lse, target_logit, weighted_sum), (x, lse, target, weight, with_sum)


def _row_statistics_bwd(res, cotangents):  # type: ignore[no-untyped-def]
    x, lse, target, weight, with_sum = res
    g_lse, g_target, g_sum = cotangents
    c = x.shape[-1]
    xf = x.astype(_accumulation_dtype(x))
    classes = jax.lax.broadcasted_iota(jnp.int32, x.shape, x.ndim - 1)
    onehot = classes == jnp.clip(target, 0, c - 1)[..., None].astype(jnp.int32)
    w = 1.0 if weight is None else weight.astype(xf.dtype)
    dx = (
        g_lse[..., None] * jnp.exp(xf - lse[..., None])
        + jnp.where(onehot, g_target[..., None], 0.0)
        + g_sum[..., None] * w
    )
    dweight = None
    if weight is not None:
        dweight = jnp.sum(g_sum[..., None] * xf, axis=tuple(range(x.ndim - 1))).astype(weight.dtype)
        dweight = jnp.where(with_sum, dweight, 0.0)
    return dx.astype(x.dtype), None, dweight, None


_row_statistics_vjp.defvjp(_row_statistics_fwd, _row_statistics_bwd)


# ----------------------------------------------------------------------------------------------
# Argument handling shared by the class-axis losses


def _class_last(input: ArrayLike, axis: int) -> tuple[jax.Array, int]:
    """``input`` (floating) with its class axis moved last, and that axis normalised."""
    (input,) = _checks.floating(input=input)
    if input.ndim == 0:
        raise ValueError(f"{current_loss_name()}: `input` must have a class axis, got a scalar")
    axis = _checks.normalize_axis(axis, input.ndim)
    return jnp.moveaxis(input, axis, -1), axis


def _index_target(target: ArrayLike, input: jax.Array, axis: int) -> jax.Array:
    """Check class-index targets: integer, of ``input``'s shape without the class axis."""
    (target,) = _checks.integer(target=target)
    expected = tuple(s for i, s in enumerate(input.shape) if i != axis)
    _checks.shape("target", target, expected)
    return target


def _class_weight(weight: ArrayLike | None, num_classes: int, name: str = "weight") -> jax.Array | None:
    """Check a per-class weight vector of shape ``(C,)`` and return it in float32."""
    if weight is None:
        return None
    (weight,) = _checks.floating(**{name: weight})
    _checks.shape(name, weight, (num_classes,))
    return weight.astype(jnp.float32)




def _as_input_dtype(value: jax.Array, input: jax.Array) -> jax.Array:
    """Return a float32 result in a half-precision input's dtype (for losses that upcast themselves)."""
    return value.astype(input.dtype) if input.dtype in _HALF else value


def _probability_target(target: jax.Array, input: jax.Array) -> jax.Array:
    """Check class-probability targets: floating, of ``input``'s shape."""
    (target,) = _checks.floating(target=target)
    _checks.same_shape(input=input, target=target)
    return target


# ----------------------------------------------------------------------------------------------
# Cross-entropy and negative log-likelihood


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
    reduction: str = "mean",
    label_smoothing: float | jax.Array = 0.0,
    axis: int = -1,
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
      axis: the class axis (static); ``-1`` (default) for channels-last logits, ``1`` for torch's
        ``(N, C, d1, ...)`` layout.
      where: optional boolean mask broadcastable to the per-sample loss; combines with
        ``ignore_index``.

    Returns:
      A scalar, or the per-sample loss (``input``'s shape without the class axis) for
      ``reduction="none"``; in ``input``'s dtype.

    A class index outside ``[0, C)`` (other than ``ignore_index``) gives NaN for that sample (torch
    raises); :func:`jaxloss.checked` reports it. A mean over nothing (every sample ignored or
    masked) is 0 with a zero gradient (torch gives NaN). The gradient is a custom VJP that saves only
    the per-row log-sum-exp and writes ``softmax - smoothed one-hot`` (weighted) in one elementwise
    pass; float16/bfloat16 logits are reduced in float32 and their gradient comes back in their dtype
    (XLA:CPU materialises one float32 conversion of the logits in the forward pass, shared by its two
    reductions), and long class axes are reduced in pieces of at most 32768.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> logits = jnp.array([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]])
      >>> # hand: lse = [2.2413, 1.5514] -> (0.2413 + 1.5514) / 2
      >>> jl.cross_entropy(logits, jnp.array([0, 2]))
      Array(0.8963..., dtype=float32)
      >>> jl.cross_entropy(logits, jnp.array([0, -100]), reduction="none")
      Array([0.2413..., 0.  ], dtype=float32)
    """
    x, axis = _class_last(input, axis)
    c = x.shape[-1]
    class_weight = _class_weight(weight, c)
    target = jnp.asarray(target)
    if jnp.issubdtype(target.dtype, jnp.floating):
        acc = _accumulation_dtype(x)
        probs = jnp.moveaxis(_probability_target(target, input), axis, -1).astype(acc)
        eps = _smoothing(label_smoothing)[0].astype(acc)
        probs = (1 - eps) * probs + eps / c
        if class_weight is not None:
            probs = probs * class_weight
        log_p = jax.nn.log_softmax(x.astype(acc), axis=-1)
        # A zero target probability at a -inf logit contributes 0 (torch: NaN), with a finite gradient.
        per_sample = -jnp.sum(probs * jnp.where(probs == 0, 0.0, log_p), axis=-1)
        per_sample = _flag_smoothing(per_sample, label_smoothing)
        return _as_input_dtype(reduce(per_sample, reduction, where=where), x)
    target = _index_target(target, input, axis)
    lse, target_logit, weighted_sum = _row_statistics(x, target, class_weight, _smoothing(label_smoothing)[1])
    per_sample, denominator, keep = class_index_cross_entropy_terms(
        lse, target_logit, weighted_sum, target, class_weight=class_weight, num_classes=c,
        ignore_index=ignore_index, label_smoothing=label_smoothing,
    )
    mask = keep if where is None else keep & _checks.mask(where, keep.shape)
    return _as_input_dtype(reduce(per_sample, reduction, where=mask, divide_by=denominator), x)


@loss(counterpart="`F.nll_loss`", static=("ignore_index", "axis"))
def nll_loss(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
    axis: int = -1,
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
      axis: the class axis (static); ``1`` is torch's layout.
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
    x, axis = _class_last(input, axis)
    c = x.shape[-1]
    class_weight = _class_weight(weight, c)
    target = _index_target(target, input, axis)
    picked = jnp.take_along_axis(x, jnp.clip(target, 0, c - 1)[..., None], axis=-1)[..., 0]
    zero = jnp.zeros_like(picked)
    per_sample, denominator, keep = class_index_cross_entropy_terms(
        zero, picked, zero, target, class_weight=class_weight, num_classes=c,
        ignore_index=ignore_index, label_smoothing=0.0,
    )
    mask = keep if where is None else keep & _checks.mask(where, keep.shape)
    return reduce(per_sample, reduction, where=mask, divide_by=denominator)


# ----------------------------------------------------------------------------------------------
# Beyond torch: focal, poly-1, 0-1


@loss(counterpart="Keras `CategoricalFocalCrossentropy`", static=("ignore_index", "axis"),
      stable_form="logits (log-softmax)")
def softmax_focal_loss(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    *,
    gamma: float | jax.Array = 2.0,
    alpha: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: float | jax.Array = 0.0,
    reduction: str = "mean",
    axis: int = -1,
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
      axis: the class axis (static).
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
    x, axis = _class_last(input, axis)
    c = x.shape[-1]
    class_weight = _class_weight(weight, c)
    target = _index_target(target, input, axis)
    keep, in_range, safe_target, target_weight = _index_bookkeeping(target, class_weight, c, ignore_index)
    eps, _ = _smoothing(label_smoothing)
    log_p = jax.nn.log_softmax(x, axis=-1)
    smoothed = (1 - eps) * jax.nn.one_hot(safe_target, c, dtype=x.dtype) + eps / c
    factor = jnp.ones((c,), x.dtype)
    if class_weight is not None:
        factor = factor * class_weight
    if alpha is not None:
        (alpha,) = _checks.floating(alpha=alpha)
        factor = factor * _checks.broadcastable_to("alpha", alpha, (c,), "the class axis of shape")
    certain = log_p >= 0  # p == 1: (1 - p)**gamma is 0 (or 1 for gamma = 0), with a zero gradient
    log_not_p = jnp.log(-jnp.expm1(jnp.where(certain, -1.0, log_p)))
    focal = jnp.where(certain, jnp.where(gamma == 0, 1.0, 0.0), jnp.exp(gamma * log_not_p))
    counts = smoothed > 0  # classes with zero smoothed target contribute 0, even at a -inf logit
    terms = smoothed * factor * focal * -jnp.where(counts, log_p, 0.0)
    per_sample = _flag_targets(jnp.sum(terms, axis=-1), keep, in_range, c, ignore_index)
    per_sample = _flag_smoothing(per_sample, label_smoothing)
    mask = keep if where is None else keep & _checks.mask(where, keep.shape)
    return reduce(per_sample, reduction, where=mask, divide_by=jnp.where(keep, target_weight, 0.0))


@loss(counterpart="PolyLoss (Leng et al., 2022) reference code", static=("ignore_index", "axis"),
      stable_form="logits (log-sum-exp)", custom_gradient=True)
def poly1_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    *,
    epsilon: float | jax.Array = 1.0,
    ignore_index: int = -100,
    label_smoothing: float | jax.Array = 0.0,
    reduction: str = "mean",
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Poly-1 cross-entropy (PolyLoss, Leng et al., 2022): cross-entropy plus :math:`\varepsilon (1 - p_t)`.

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
      axis: the class axis (static).
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
    x, axis = _class_last(input, axis)
    c = x.shape[-1]
    class_weight = _class_weight(weight, c)
    target = _index_target(target, input, axis)
    lse, target_logit, weighted_sum = _row_statistics(x, target, class_weight, _smoothing(label_smoothing)[1])
    ce, denominator, keep = class_index_cross_entropy_terms(
        lse, target_logit, weighted_sum, target, class_weight=class_weight, num_classes=c,
        ignore_index=ignore_index, label_smoothing=label_smoothing,
    )
    eps = _smoothing(label_smoothing)[0].astype(lse.dtype)
    p_t = (1 - eps) * jnp.exp(target_logit - lse) + eps / c
    per_sample = ce + epsilon * denominator * (1 - p_t)
    mask = keep if where is None else keep & _checks.mask(where, keep.shape)
    return reduce(per_sample, reduction, where=mask, divide_by=denominator)


@loss(counterpart="`sklearn.metrics.zero_one_loss`", static=("ignore_index", "axis"))
def zero_one_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
    axis: int = -1,
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
      axis: the class axis (static).
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
    x, axis = _class_last(input, axis)
    c = x.shape[-1]
    target = _index_target(target, input, axis)
    keep, in_range, _, _ = _index_bookkeeping(target, None, c, ignore_index)
    scores = jax.lax.stop_gradient(x)
    wrong = (jnp.argmax(scores, axis=-1) != target).astype(x.dtype)
    wrong = jnp.where(jnp.isnan(jnp.max(scores, axis=-1)), jnp.nan, wrong)  # argmax alone hides a NaN score
    per_sample = _flag_targets(wrong, keep, in_range, c, ignore_index)
    mask = keep if where is None else keep & _checks.mask(where, keep.shape)
    return reduce(per_sample, reduction, where=mask)


# ----------------------------------------------------------------------------------------------
# Binary and multi-label losses


@jax.custom_vjp
def _binary_cross_entropy(x: jax.Array, y: jax.Array) -> jax.Array:
    """Torch's BCE of probabilities, logs clamped at -100, with torch's gradients."""
    return -(y * jnp.maximum(jnp.log(x), -100.0) + (1 - y) * jnp.maximum(jnp.log1p(-x), -100.0))


def _binary_cross_entropy_fwd(x, y):  # type: ignore[no-untyped-def]
    return _binary_cross_entropy(x, y), (x, y)


def _binary_cross_entropy_bwd(res, g):  # type: ignore[no-untyped-def]
    x, y = res
    dx = g * (x - y) / jnp.maximum(x * (1 - x), 1e-12)
    # the derivative of the clamped value (torch's is +-inf where x is 0 or 1)
    dy = g * (jnp.maximum(jnp.log1p(-x), -100.0) - jnp.maximum(jnp.log(x), -100.0))
    return dx, dy


_binary_cross_entropy.defvjp(_binary_cross_entropy_fwd, _binary_cross_entropy_bwd)


@loss(counterpart="`F.binary_cross_entropy`", stable_form="`binary_cross_entropy_with_logits`",
      custom_gradient=True, elementwise=True)
def binary_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    *,
    reduction: str = "mean",
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
    per_element = flag_invalid(per_element, (input < 0) | (input > 1), argument="input",
                               requirement="must hold probabilities in [0, 1]")
    per_element = flag_invalid(per_element, (target < 0) | (target > 1), argument="target",
                               requirement="must hold probabilities in [0, 1]")
    return reduce(per_element, reduction, where=where, weight=weight, divide_by="count")


def _softplus_neg(x: jax.Array) -> jax.Array:
    """``log(1 + exp(-x))`` without overflow."""
    return jnp.log1p(jnp.exp(-jnp.abs(x))) + jnp.maximum(x, 0.0) - x


@jax.custom_vjp
def _bce_with_logits(x: jax.Array, y: jax.Array, pos_weight: jax.Array | None) -> jax.Array:
    """``-(p y log sigmoid(x) + (1 - y) log sigmoid(-x))`` with gradient ``(1 + (p-1) y) sigmoid(x) - p y``.

    Written as ``max(x, 0) - x y + log(1 + exp(-|x|))`` (exact for huge ``|x|``): without broadcast
    constants such as ``1 - y``, XLA:CPU fuses it into the reduction instead of materialising it."""
    if pos_weight is None:
        return jnp.maximum(x, 0.0) - x * y + jnp.log1p(jnp.exp(-jnp.abs(x)))
    return x - x * y + (1 + (pos_weight - 1) * y) * _softplus_neg(x)


def _bce_with_logits_fwd(x, y, pos_weight):  # type: ignore[no-untyped-def]
    return _bce_with_logits(x, y, pos_weight), (x, y, pos_weight)


def _bce_with_logits_bwd(res, g):  # type: ignore[no-untyped-def]
    x, y, pos_weight = res
    sig = jax.nn.sigmoid(x)
    if pos_weight is None:
        return g * (sig - y), g * -x, None
    log_weight = 1 + (pos_weight - 1) * y
    sp = _softplus_neg(x)
    return g * (log_weight * sig - pos_weight * y), g * ((pos_weight - 1) * sp - x), g * y * sp


_bce_with_logits.defvjp(_bce_with_logits_fwd, _bce_with_logits_bwd)


@loss(counterpart="`F.binary_cross_entropy_with_logits`", stable_form="logits (log-sigmoid)",
      custom_gradient=True, elementwise=True)
def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    *,
    pos_weight: ArrayLike | None = None,
    reduction: str = "mean",
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
    reduction: str = "mean",
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
    reduction: str = "mean",
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
    reduction: str = "mean",
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
        positive = target > 0
        safe = jnp.where(positive, target, 1.0)
        per_element = jnp.where(positive, safe * (jnp.log(safe) - jnp.where(positive, input, 0.0)), 0.0)
        per_element = flag_invalid(per_element, target < 0, argument="target", requirement="must be non-negative")
    if reduction != "batchmean":
        return reduce(per_element, reduction, where=where)
    batch = input.shape[0] if input.ndim else 1
    return reduce(per_element, "sum", where=where) / batch


# ----------------------------------------------------------------------------------------------
# Margin losses


def _hinge(z: jax.Array) -> jax.Array:
    """``max(0, z)`` with torch's zero gradient at ``z = 0`` (``jnp.maximum`` splits it 0.5/0.5); a
    NaN ``z`` stays NaN (torch's ``z > 0`` test drops it)."""
    return jnp.where(z <= 0, 0.0, z)


@loss(counterpart="`F.multi_margin_loss`", static=("p", "axis"))
def multi_margin_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    p: int = 1,
    margin: float | jax.Array = 1.0,
    weight: ArrayLike | None = None,
    reduction: str = "mean",
    axis: int = -1,
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
      axis: the class axis (static).
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
    x, axis = _class_last(input, axis)
    c = x.shape[-1]
    class_weight = _class_weight(weight, c)
    target = _index_target(target, input, axis)
    _, in_range, safe_target, target_weight = _index_bookkeeping(target, class_weight, c, ignore_index=-1)
    target_score = jnp.take_along_axis(x, safe_target[..., None], axis=-1)
    others = jnp.arange(c) != safe_target[..., None]
    z = _hinge(margin - target_score + x)
    terms = jnp.where(others, z if p == 1 else z * z, 0.0)
    per_sample = target_weight * jnp.sum(terms, axis=-1) / c
    per_sample = flag_invalid(per_sample, ~in_range, argument="target",
                              requirement=f"must hold class indices in [0, {c})")
    return reduce(per_sample, reduction, where=where)


@loss(counterpart="`F.multilabel_margin_loss`")
def multilabel_margin_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: str = "mean",
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
    if input.ndim == 0:
        raise ValueError("multilabel_margin_loss: `input` must have a class axis, got a scalar")
    c = input.shape[-1]
    listed = jnp.cumprod(target != -1, axis=-1).astype(bool)  # label slots before the first -1
    safe = jnp.where(listed, target, 0)
    safe = jnp.clip(safe, 0, c - 1)
    is_label = jnp.any(listed[..., :, None] & (safe[..., :, None] == jnp.arange(c)), axis=-2)
    label_score = jnp.take_along_axis(input, safe, axis=-1)  # (..., slots)
    z = _hinge(1 - label_score[..., :, None] + input[..., None, :])  # (..., slots, C)
    counted = listed[..., :, None] & ~is_label[..., None, :]
    per_sample = jnp.sum(jnp.where(counted, z, 0.0), axis=(-2, -1)) / c
    bad = jnp.any((target < -1) | (target >= c), axis=-1)
    per_sample = flag_invalid(per_sample, bad, argument="target",
                              requirement=f"must hold class indices in [0, {c}) ended by -1")
    return reduce(per_sample, reduction, where=where)
