"""Segmentation losses: region overlaps (Dice, Jaccard, Tversky) and their Lovasz extensions.

They follow segmentation_models_pytorch (smp), whose ``DiceLoss``, ``JaccardLoss``,
``TverskyLoss`` and ``LovaszLoss`` are the reference implementations most code ports from:

* ``mode``: ``"binary"`` (one logit per pixel, targets in ``{0, 1}``), ``"multiclass"`` (``C``
  logits per pixel, integer class targets) or ``"multilabel"`` (``C`` independent logits per pixel,
  targets of the input's shape);
* ``from_logits`` applies the sigmoid (binary, multilabel) or softmax (multiclass) first;
* class axis ``axis``: ``-1`` channels-last, ``1`` torch's layout; by default read from the
  target's shape, and an error where both layouts fit (:func:`jaxloss._core.checks.class_axis`);
* ``ignore_index`` and ``where`` remove pixels: their predictions and targets count for nothing.

Choices where smp is silent or undefined (also in each docstring):

* a class with no target pixel in the batch contributes 0 to Dice/Jaccard/Tversky (smp's rule:
  the overlap ratio is undefined there) while still counting in the mean over classes; so a batch
  with no foreground at all gives 0 with zero gradient (pair these losses with a pixel loss such as
  :func:`sigmoid_focal_loss` to train on empty images);
* a fully ignored batch gives 0 with zero gradient for every loss; with ``per_image=True`` a fully
  ignored image is 0 in ``"none"`` and left out of the mean (smp averages it in as 0);
* an image with no foreground gives the Lovasz hinge of its most confident false positive and, for
  Lovasz-softmax, only the classes present in it count (``classes="present"``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxloss._core import checks as _checks
from jaxloss._core.decorator import loss
from jaxloss._core.errors import fail
from jaxloss._core.numerics import abs_, drop_unit_minor_axis
from jaxloss._core.reduction import Reduction, reduce, safe_divide
from jaxloss._core.runtime import flag_invalid

F = TypeVar("F", bound=Callable[..., Any])

Mode = Literal["binary", "multiclass", "multilabel"]
MODES: tuple[Mode, ...] = ("binary", "multiclass", "multilabel")


# --------------------------------------------------------------------------------------------------
# Shared preparation


def _binary_pair(input: jax.Array, target: jax.Array, axis: int | None) -> jax.Array:
    """Allow a ``(..., 1)`` binary input with a ``(...)`` target: drop the input's size-1 ``axis``."""
    if input.ndim == target.ndim + 1:
        ax = _checks.class_axis(axis, input.shape, target.shape)
        if input.shape[ax] == 1:
            input = jnp.squeeze(input, ax)
    return input


def _valid(target: jax.Array, ignore_index: int | None, where: ArrayLike | None) -> jax.Array | None:
    """Boolean mask of the target entries that count (``ignore_index`` and ``where`` combined)."""
    valid = None if ignore_index is None else target != ignore_index
    if where is not None:
        keep = _checks.mask(where, target.shape)
        valid = keep if valid is None else valid & keep
    return valid


def _prepare(
    input: ArrayLike,
    target: ArrayLike,
    mode: Mode,
    axis: int | None,
    from_logits: bool,
    ignore_index: int | None,
    where: ArrayLike | None,
) -> tuple[jax.Array, jax.Array, jax.Array, int | None, jax.Array]:
    """Probabilities, one-hot/binary targets and pixel mask, all in the input's layout.

    Returns ``(probs, truth, keep, class_axis, bad)``: ``probs`` and ``truth`` have the same shape
    (the input's), ``keep`` broadcasts to it (1 where the entry counts), ``class_axis`` is the
    normalised class axis (None in binary mode) and ``bad`` flags class indices out of range.
    """
    _checks.choice("mode", mode, MODES)
    (input,) = _checks.floating(input=input)
    target = jnp.asarray(target)
    bad = jnp.zeros((), bool)
    if mode == "multiclass":
        (target,) = _checks.integer(target=target)
        _checks.rank("input", input, set(range(1, input.ndim + 1)) or {1})
        ax = _checks.class_axis(axis, input.shape, target.shape)
        num_classes = input.shape[ax]
        expected = input.shape[:ax] + input.shape[ax + 1:]
        if target.shape != expected:
            raise fail(ValueError, f"`target` has shape {tuple(target.shape)}, expected {tuple(expected)}: `input` "
                       f"{tuple(input.shape)} without its class axis {ax}; {_checks.LAYOUT_HINT}")
        valid = _valid(target, ignore_index, where)
        if valid is not None:  # pixels that do not count: class 0 at logit 0, whatever they held
            input = jnp.where(jnp.expand_dims(valid, ax), input, 0.0)
            target = jnp.where(valid, target, 0)
        bad = jnp.any((target < 0) | (target >= num_classes))
        labels = jnp.expand_dims(target, ax)
        classes = jax.lax.broadcasted_iota(target.dtype, [num_classes if i == ax else 1 for i in range(input.ndim)], ax)
        truth = (labels == classes).astype(input.dtype)
        probs = jax.nn.softmax(input, axis=ax) if from_logits else input
        keep = jnp.ones(labels.shape, input.dtype) if valid is None else jnp.expand_dims(valid, ax).astype(input.dtype)
        return probs, truth, keep, ax, bad
    binary_ax: int | None = None
    if mode == "binary":
        input = _binary_pair(input, target, axis)
    else:
        binary_ax = _checks.class_axis(axis, input.shape, target.shape)
    _checks.same_shape(input=input, target=target)
    valid = _valid(target, ignore_index, where)
    if valid is not None:  # pixels that do not count: 0, whatever they held
        input, target = jnp.where(valid, input, 0.0), jnp.where(valid, target, 0)
    if mode == "binary":  # the result is a scalar: a (N, H, W, 1) layout may be dropped for speed
        if valid is None:
            (input, target), _ = drop_unit_minor_axis(input, target)
        else:
            (input, target, valid), _ = drop_unit_minor_axis(input, target, valid)
    probs = jax.nn.sigmoid(input) if from_logits else input
    keep = jnp.ones((), input.dtype) if valid is None else valid.astype(input.dtype)
    return probs, target.astype(input.dtype), keep, binary_ax, bad


def _class_sums(probs: jax.Array, truth: jax.Array, keep: jax.Array, ax: int | None) -> tuple[jax.Array, ...]:
    """Per-class ``(sum p t, sum p, sum t)`` over every axis but the class axis (all axes in binary)."""
    p, t = probs * keep, truth * keep
    # reduce the leading (batch) axis last: per-row partial sums parallelise better on CPU than one
    # reduction over every element
    inner = tuple(i for i in range(1, probs.ndim) if i != ax)
    outer = (0,) if probs.ndim >= 1 and ax != 0 else ()

    def total(v: jax.Array) -> jax.Array:
        v = jnp.sum(v, axis=inner, keepdims=True) if inner else v
        v = jnp.sum(v, axis=outer, keepdims=True) if outer else v
        return v.reshape(-1) if ax is not None else v.reshape(())

    return total(p * t), total(p), total(t)


def _overlap_loss(
    score_fn: Callable[[jax.Array, jax.Array, jax.Array], tuple[jax.Array, jax.Array]],
    input: ArrayLike,
    target: ArrayLike,
    *,
    mode: Mode,
    axis: int | None,
    from_logits: bool,
    smooth: float | jax.Array,
    eps: float | jax.Array,
    ignore_index: int | None,
    weight: ArrayLike | None,
    log_loss: bool,
    reduction: Reduction,
    where: ArrayLike | None,
    loss: str,
) -> jax.Array:
    """Shared body of Dice, Jaccard and Tversky: per-class ``1 - score`` (smp), reduced over classes
    (``loss`` names the loss in run-time errors)."""
    probs, truth, keep, ax, bad = _prepare(input, target, mode, axis, from_logits, ignore_index, where)
    inter, pred_sum, true_sum = _class_sums(probs, truth, keep, ax)
    numerator, denominator = score_fn(inter, pred_sum, true_sum)
    score = (numerator + smooth) / jnp.maximum(denominator + smooth, eps)
    per_class = -jnp.log(jnp.maximum(score, eps)) if log_loss else 1.0 - score
    # undefined without target pixels (smp); a NaN target (true_sum NaN) stays NaN
    per_class = jnp.where(true_sum == 0, 0.0, per_class)
    per_class = flag_invalid(per_class, bad, loss=loss, argument="target", requirement="must hold class indices in [0, C)")
    if weight is not None:
        (weight,) = _checks.floating(weight=weight)
    return reduce(per_class, reduction, weight=weight)


def _with_args(text: str) -> Callable[[F], F]:
    """Put the argument list shared by several losses in place of ``{args}`` in their docstrings."""

    def fill(fn: F) -> F:
        fn.__doc__ = (fn.__doc__ or "").replace("    {args}\n", text + "\n")
        return fn

    return fill


_OVERLAP_ARGS = """
    Args:
      input: logits (or probabilities with ``from_logits=False``). ``"binary"``: any shape, or the
        target's shape plus a size-1 class axis; ``"multiclass"``/``"multilabel"``: ``C`` classes
        along ``axis``.
      target: ``"binary"``: the input's shape (or without its size-1 class axis), values in
        ``{0, 1}``; ``"multiclass"``: integer class indices, the input's shape without ``axis``
        (an index outside ``[0, C)`` other than ``ignore_index`` gives NaN; :func:`jaxloss.checked`
        reports it); ``"multilabel"``: the input's shape, values in ``{0, 1}``.
      mode: ``"binary"``, ``"multiclass"`` or ``"multilabel"`` (static, required).
      axis: class axis (static). ``None`` (default): the last axis for inputs of rank <= 2; for
        higher ranks, read from ``target``'s shape in multiclass mode (classes last, or torch's
        axis 1), and an error when both fit or the target has the input's shape (multilabel);
        ``-1`` for channels-last, ``1`` for torch's ``(N, C, H, W)``.
      from_logits: apply sigmoid (binary, multilabel) or softmax (multiclass) to ``input`` (static).
      smooth: added to numerator and denominator (traced).
      eps: lower clamp of the denominator (and of the score with ``log_loss``) (traced).
      ignore_index: target value whose pixels are left out (static), as smp's ``ignore_index``.
      weight: optional per-class weights ``(C,)`` (a scalar in binary mode); ``"mean"`` then divides
        by their sum (a jaxloss extension).
      log_loss: use ``-log(score)`` instead of ``1 - score`` (static).
      reduction: over the per-class losses: ``"mean"`` (smp's), ``"sum"`` or ``"none"`` (``(C,)``;
        a scalar in binary mode).
      where: optional boolean mask broadcastable to ``target``; False entries are left out like
        ``ignore_index`` (in multilabel mode a channels-last per-pixel mask is ``(..., 1)``).

    Returns:
      A scalar, or the per-class losses ``(C,)`` for ``reduction="none"`` (a scalar in binary mode).

    Scores are computed over the whole batch (smp's ``dims=(0, 2)``); ``jax.vmap`` over images gives
    per-image losses. A class with no target pixel contributes 0 (and no gradient) but still counts
    in the mean, as in smp; so a batch with no foreground, or a fully ignored one, gives 0.
"""

_OVERLAP_STATIC = ("mode", "axis", "from_logits", "ignore_index", "log_loss")


@loss(counterpart="smp `DiceLoss`; optax `dice_loss`", static=_OVERLAP_STATIC, stable_form="logits")
@_with_args(_OVERLAP_ARGS)
def dice_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    mode: Mode,
    axis: int | None = None,
    from_logits: bool = True,
    smooth: float | jax.Array = 0.0,
    eps: float | jax.Array = 1e-7,
    ignore_index: int | None = None,
    weight: ArrayLike | None = None,
    log_loss: bool = False,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Soft Dice loss, as segmentation_models_pytorch's ``DiceLoss``.

    .. math::
       \ell_c = 1 - \frac{2 \sum_i p_{ic} t_{ic} + s}{\max\left(\sum_i (p_{ic} + t_{ic}) + s,\ \epsilon\right)}
    {args}
    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> logits = jnp.array([[[2.0, -1.0], [0.5, 0.0]], [[-1.0, 1.0], [0.0, 3.0]]])  # (2, 2, C=2)
      >>> labels = jnp.array([[0, 0], [1, 1]])
      >>> jl.dice_loss(logits, labels, mode="multiclass", axis=-1)  # (2, 2, 2) fits both layouts: say which
      Array(0.14851838, dtype=float32)
    """
    return _overlap_loss(
        lambda inter, p, t: (2 * inter, p + t), input, target, mode=mode, axis=axis, from_logits=from_logits,
        smooth=smooth, eps=eps, ignore_index=ignore_index, weight=weight, log_loss=log_loss,
        reduction=reduction, where=where, loss="dice_loss",
    )


@loss(counterpart="smp `JaccardLoss`", static=_OVERLAP_STATIC, stable_form="logits")
@_with_args(_OVERLAP_ARGS)
def jaccard_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    mode: Mode,
    axis: int | None = None,
    from_logits: bool = True,
    smooth: float | jax.Array = 0.0,
    eps: float | jax.Array = 1e-7,
    ignore_index: int | None = None,
    weight: ArrayLike | None = None,
    log_loss: bool = False,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Soft Jaccard (IoU) loss, as segmentation_models_pytorch's ``JaccardLoss``.

    .. math::
       \ell_c = 1 - \frac{\sum_i p_{ic} t_{ic} + s}
                         {\max\left(\sum_i (p_{ic} + t_{ic} - p_{ic} t_{ic}) + s,\ \epsilon\right)}
    {args}
    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> masks = jnp.array([[1.0, 0.0], [1.0, 1.0]])
      >>> jl.jaccard_loss(masks, masks, mode="binary", from_logits=False)  # identical masks
      Array(0., dtype=float32)
    """
    return _overlap_loss(
        lambda inter, p, t: (inter, p + t - inter), input, target, mode=mode, axis=axis, from_logits=from_logits,
        smooth=smooth, eps=eps, ignore_index=ignore_index, weight=weight, log_loss=log_loss,
        reduction=reduction, where=where, loss="jaccard_loss",
    )


def _focal_power(x: jax.Array, gamma: jax.Array) -> jax.Array:
    """``x ** gamma`` for ``x >= 0`` with a finite gradient at ``x = 0`` for ``0 <= gamma < 1`` (NaN stays NaN)."""
    positive = ~(x <= 0)
    powered = jnp.where(positive, jnp.where(positive, x, 1.0) ** gamma, jnp.where(gamma == 0, 1.0, 0.0))
    return jnp.where(gamma == 1, x, powered)


@loss(counterpart="smp `TverskyLoss`", static=_OVERLAP_STATIC, stable_form="logits")
@_with_args(_OVERLAP_ARGS)
def tversky_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    mode: Mode,
    axis: int | None = None,
    alpha: float | jax.Array = 0.5,
    beta: float | jax.Array = 0.5,
    gamma: float | jax.Array = 1.0,
    from_logits: bool = True,
    smooth: float | jax.Array = 0.0,
    eps: float | jax.Array = 1e-7,
    ignore_index: int | None = None,
    weight: ArrayLike | None = None,
    log_loss: bool = False,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Tversky loss and focal-Tversky loss, as segmentation_models_pytorch's ``TverskyLoss``.

    .. math::
       \ell_c = 1 - \frac{TP_c + s}{\max(TP_c + \alpha FP_c + \beta FN_c + s,\ \epsilon)},\qquad
       \mathcal{L} = \Big(\operatorname{reduce}_c \ell_c\Big)^{\gamma}

    with ``TP = sum p t``, ``FP = sum p (1 - t)``, ``FN = sum (1 - p) t``. ``alpha = beta = 0.5`` is
    Dice when ``smooth = 0``; ``alpha = beta = 1`` is Jaccard. As in smp, the focal exponent
    ``gamma`` is applied to the reduced loss (``loss.mean() ** gamma``); with ``reduction="none"``
    it is applied to each class's loss. Its gradient is finite at a zero loss for ``gamma < 1``.
    ``alpha``, ``beta``, ``gamma`` are traced.
    {args}
    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> probs = jnp.array([0.9, 0.6, 0.2, 0.1]); truth = jnp.array([1.0, 1.0, 1.0, 0.0])
      >>> jl.tversky_loss(probs, truth, mode="binary", from_logits=False, alpha=0.3, beta=0.7)
      Array(0.35606056, dtype=float32)
    """
    per_class = _overlap_loss(
        lambda inter, p, t: (inter, inter + alpha * (p - inter) + beta * (t - inter)), input, target, mode=mode,
        axis=axis, from_logits=from_logits, smooth=smooth, eps=eps, ignore_index=ignore_index, weight=weight,
        log_loss=log_loss, reduction=reduction, where=where, loss="tversky_loss",
    )
    return _focal_power(per_class, jnp.asarray(gamma))


# --------------------------------------------------------------------------------------------------
# Lovasz extensions


def _float_order(bits: jax.Array) -> jax.Array:
    """Map a float's bits (as a signed integer) to an integer of the same order, and back.

    Negative floats have their magnitude bits flipped; the map is its own inverse.
    """
    return bits ^ ((bits >> (jnp.iinfo(bits.dtype).bits - 1)) & jnp.iinfo(bits.dtype).max)


def _key_types(dtype: Any) -> tuple[Any, Any]:
    """The (float, integer) pair of one width in which errors of ``dtype`` are packed."""
    return (jnp.float64, jnp.int64) if dtype == jnp.float64 else (jnp.float32, jnp.int32)


def _order_keys(errors: jax.Array, truth: jax.Array, keep: jax.Array) -> jax.Array:
    """One integer sort key per entry: ascending key = descending error, the truth in the lowest bit.

    The float's bits are mapped to an integer of the same order (:func:`_float_order`), the lowest
    bit is replaced by the truth (moving the error by at most one ulp) and the result is
    complemented, so an ascending sort puts the largest error first. Entries not kept get the
    largest key and sort last. A single integer operand is what sorts fast: XLA:CPU sorted float
    keys with a payload 6x slower than integer keys alone (jax 0.10).
    """
    ftype, itype = _key_types(errors.dtype)
    key = (_float_order(jax.lax.bitcast_convert_type(errors.astype(ftype), itype)) & ~1) | truth.astype(itype)
    return jnp.where(keep, ~key, jnp.asarray(jnp.iinfo(itype).max, itype))


def _sorted_errors(sorted_keys: jax.Array, dtype: Any) -> tuple[jax.Array, jax.Array]:
    """Invert :func:`_order_keys` on sorted keys: ``(errors, truth)`` in sorted order (0, 0 if not kept)."""
    ftype, _ = _key_types(dtype)
    kept = sorted_keys != jnp.iinfo(sorted_keys.dtype).max
    ordered = ~sorted_keys
    errors = jax.lax.bitcast_convert_type(_float_order(ordered), ftype).astype(dtype)
    return jnp.where(kept, errors, 0), (ordered & 1).astype(jnp.int32)


def _jaccard_path(truth_sorted: jax.Array, dtype: Any) -> jax.Array:
    """Jaccard loss of the top-k set for k = 1..P along the last axis (Berman et al.'s ``J_k``)."""
    total = jnp.sum(truth_sorted, axis=-1, keepdims=True)
    hits = jnp.cumsum(truth_sorted, axis=-1)  # exact integer counts
    misses = jnp.cumsum(1 - truth_sorted, axis=-1)
    return 1.0 - (total - hits).astype(dtype) / (total + misses).astype(dtype)  # union >= 1 everywhere


@jax.custom_vjp
def _lovasz_of(errors: jax.Array, truth: jax.Array, keep: jax.Array) -> jax.Array:
    """Lovasz extension of the Jaccard loss along the last axis (Berman et al., smp's ``lovasz_grad``).

    ``sum_k max(e_(k), 0) (J_k - J_(k-1))`` with the errors sorted in decreasing order. ``errors``,
    ``truth`` (0/1) and ``keep`` (bool) share their shape; entries not kept sort last and count for
    nothing, exactly as if removed (a fixed-shape stand-in for smp's filtering). Returns ``(...,)``.

    The value needs one integer sort (:func:`_order_keys`). The gradient of entry ``i`` is the
    Jaccard increment at its rank, found by binary search of its key among the sorted keys (no
    permutation is carried through the sort). Entries with equal keys (tied errors and truths)
    share the average increment of their run: the value does not depend on their order, and the
    average is the subgradient that does not either (torch's depends on its sort).
    """
    return _lovasz_forward(errors, truth, keep)[0]


def _lovasz_forward(errors: jax.Array, truth: jax.Array, keep: jax.Array) -> tuple[jax.Array, tuple[jax.Array, ...]]:
    keys = _order_keys(errors, truth, keep)
    sorted_keys = jnp.sort(keys, axis=-1)
    errors_sorted, truth_sorted = _sorted_errors(sorted_keys, errors.dtype)
    jaccard = _jaccard_path(truth_sorted, errors.dtype)
    increments = jnp.diff(jaccard, axis=-1, prepend=jnp.zeros_like(jaccard[..., :1]))
    value = jnp.sum(jnp.maximum(errors_sorted, 0) * increments, axis=-1)
    return value, (errors, keep, keys, sorted_keys, jaccard)  # the keys replace the truth: same size


def _lovasz_backward(residuals: tuple[jax.Array, ...], cotangent: jax.Array) -> tuple[jax.Array, None, None]:
    errors, keep, keys, sorted_keys, jaccard = residuals
    size = errors.shape[-1]
    rows = sorted_keys.reshape(-1, size)
    first = jax.vmap(functools.partial(jnp.searchsorted, side="left"))(rows, keys.reshape(-1, size))  # run starts
    position = jax.lax.broadcasted_iota(jnp.int32, rows.shape, 1)
    run_ends = jnp.where(rows[:, 1:] != rows[:, :-1], position[:, :-1], size - 1)
    last_of_run = jax.lax.cummin(jnp.concatenate([run_ends, position[:, -1:]], axis=-1), axis=1, reverse=True)
    last = jnp.take_along_axis(last_of_run, first, axis=-1)
    path = jnp.concatenate([jnp.zeros_like(jaccard[..., :1]), jaccard], axis=-1).reshape(-1, size + 1)
    average = (jnp.take_along_axis(path, last + 1, axis=-1) - jnp.take_along_axis(path, first, axis=-1)) / (
        last - first + 1
    ).astype(errors.dtype)
    grad = jnp.where(keep & (errors > 0), average.reshape(errors.shape) * cotangent[..., None], 0)
    return grad, None, None


_lovasz_of.defvjp(_lovasz_forward, _lovasz_backward)


def _per_image(x: jax.Array, per_image: bool) -> jax.Array:
    """``(N, P)`` rows of one image each, or a single ``(1, P)`` row for the whole batch."""
    if per_image:
        _checks.rank("input", x, set(range(1, x.ndim + 1)) or {1})
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))  # not -1: N may be 0
    return x.reshape(1, -1)


def _rows(x: jax.Array, ax: int, per_image: bool) -> jax.Array:
    """``(N, C, P)`` (one row of pixels per image and class), or ``(1, C, P)`` for the whole batch."""
    if per_image:
        x = jnp.moveaxis(x, ax, 1)
        return x.reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:]))  # not -1: N may be 0
    x = jnp.moveaxis(x, ax, 0)
    return x.reshape(1, x.shape[0], -1)


def _reduce_images(per_row: jax.Array, any_kept: jax.Array, per_image: bool, reduction: Reduction) -> jax.Array:
    """Per-image losses (images with no pixel left out of the mean), or the whole-batch scalar."""
    if per_image:
        return reduce(per_row, reduction, where=any_kept)
    return reduce(per_row[0], reduction)


@loss(counterpart="smp `LovaszLoss` (binary)", static=("per_image", "ignore_index"), stable_form="logits")
def lovasz_hinge_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    per_image: bool = False,
    ignore_index: int | None = None,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Lovasz hinge loss for binary segmentation, as segmentation_models_pytorch's binary ``LovaszLoss``.

    .. math::
       \ell = \sum_k \max(e_{(k)}, 0)\, g_k, \qquad e_i = 1 - x_i (2 y_i - 1)

    where ``e_(k)`` are the hinge errors sorted in decreasing order and ``g`` the increments of the
    Jaccard loss along that order (Berman et al., 2018): the convex Lovasz extension of the Jaccard
    loss. An image with no foreground gives the hinge error of its highest logit; entries left out
    by ``ignore_index``/``where`` are sorted last with zero weight (fixed shapes, no filtering).
    Entries with tied errors share the average of their Jaccard increments in the gradient (torch's
    gradient depends on the order its sort leaves them in; the value does not).

    Args:
      input: logits, ``(N, ...)`` (a trailing size-1 class axis may be added to the target's shape).
      target: binary labels ``{0, 1}``, the input's shape (without that size-1 axis).
      per_image: compute the loss per image (axis 0) and average, rather than over the whole batch
        as one image (static; smp's default is False).
      ignore_index: target value whose pixels are left out (static).
      reduction: with ``per_image=True``, over the images: ``"mean"`` (images with no pixel left
        are not counted; smp averages them in as 0), ``"sum"`` or ``"none"`` (``(N,)``); otherwise
        the loss is a scalar for every reduction.
      where: optional boolean mask broadcastable to ``target``; False entries are left out.

    Returns:
      A scalar, or ``(N,)`` for ``per_image=True`` and ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> jl.lovasz_hinge_loss(jnp.array([[3.0, -2.0, 0.5, -0.5]]), jnp.array([[1.0, 0.0, 1.0, 0.0]]))
      Array(0.33333334, dtype=float32)
    """
    (input,) = _checks.floating(input=input)
    target = jnp.asarray(target)
    input = _binary_pair(input, target, -1)
    _checks.same_shape(input=input, target=target)
    valid = _valid(target, ignore_index, where)
    keep = jnp.ones(target.shape, bool) if valid is None else valid
    if valid is not None:  # pixels that do not count: 0, whatever they held
        input, target = jnp.where(valid, input, 0.0), jnp.where(valid, target, 0)
    truth = target.astype(input.dtype)
    errors = 1.0 - input * (2.0 * truth - 1.0)
    keep_rows = _per_image(keep, per_image)
    per_row = _lovasz_of(_per_image(errors, per_image), _per_image(truth, per_image), keep_rows)
    not_binary = jnp.any(_per_image((truth != 0) & (truth != 1), per_image), axis=-1)  # NaN counts too
    per_row = flag_invalid(per_row, not_binary, loss="lovasz_hinge_loss", argument="target",
                           requirement="must hold binary labels 0 or 1")
    return _reduce_images(per_row, jnp.any(keep_rows, axis=-1), per_image, reduction)


@loss(counterpart="smp `LovaszLoss` (multiclass)", static=("axis", "from_logits", "classes", "per_image", "ignore_index"),
      stable_form="logits")
def lovasz_softmax_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    axis: int | None = None,
    from_logits: bool = True,
    classes: Literal["present", "all"] = "present",
    per_image: bool = False,
    ignore_index: int | None = None,
    weight: ArrayLike | None = None,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Lovasz-softmax loss for multi-class segmentation, as segmentation_models_pytorch's multiclass ``LovaszLoss``.

    .. math::
       \ell = \frac{\sum_{c} w_c\, \bar\Delta_{J_c}(m_c)}{\sum_c w_c}, \qquad
       m_{ic} = |[y_i = c] - p_{ic}|

    where ``Delta_J_c`` is the Lovasz extension of class ``c``'s Jaccard loss (errors sorted in
    decreasing order, weighted by the Jaccard increments) and the sums run over the classes present
    in the target (``classes="present"``, smp's default) or all classes (``"all"``).
    Pixels with tied errors share the average of their Jaccard increments in the gradient (torch's
    depends on the order its sort leaves them in; the value does not).

    Args:
      input: logits (or probabilities with ``from_logits=False``) with ``C`` classes along ``axis``,
        ``(N, ..., C)`` channels-last by default.
      target: integer class indices, the input's shape without ``axis`` (an index outside
        ``[0, C)`` other than ``ignore_index`` gives NaN; :func:`jaxloss.checked` reports it).
      axis: class axis (static). ``None`` (default): the last axis for inputs of rank <= 2; for
        higher ranks, read from ``target``'s shape in multiclass mode (classes last, or torch's
        axis 1), and an error when both fit or the target has the input's shape (multilabel);
        ``-1`` for channels-last, ``1`` for torch's ``(N, C, H, W)``.
      from_logits: apply softmax along ``axis`` first (static; smp always does).
      classes: ``"present"`` or ``"all"`` (static).
      per_image: compute the loss per image (axis 0) and average (static; smp's default is False).
      ignore_index: target value whose pixels are left out (static).
      weight: optional per-class weights ``(C,)`` for the mean over classes (a jaxloss extension).
      reduction: with ``per_image=True``, over the images: ``"mean"`` (images with no pixel left
        are not counted; smp averages them in as 0), ``"sum"`` or ``"none"`` (``(N,)``); otherwise
        the loss is a scalar for every reduction.
      where: optional boolean mask broadcastable to ``target``; False pixels are left out.

    Returns:
      A scalar, or ``(N,)`` for ``per_image=True`` and ``reduction="none"``. A batch (or image)
      with no pixel left gives 0.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> logits = jnp.array([[[2.0, -1.0], [0.5, 0.0]], [[-1.0, 1.0], [0.0, 3.0]]])  # (2, 2, C=2)
      >>> jl.lovasz_softmax_loss(logits, jnp.array([[0, 0], [1, 1]]), axis=-1)
      Array(0.20291796, dtype=float32)
    """
    _checks.choice("classes", classes, ("present", "all"))
    probs, truth, keep, class_ax, bad = _prepare(input, target, "multiclass", axis, from_logits, ignore_index, where)
    ax = int(class_ax)  # type: ignore[arg-type]  # never None in multiclass mode
    if per_image and ax == 0:
        raise fail(ValueError, f"per_image=True needs a batch axis 0 before the class axis, got class axis {class_ax}")
    num_classes = probs.shape[ax]
    probs, truth = _rows(probs, ax, per_image), _rows(truth, ax, per_image)  # (N or 1, C, P)
    keep = jnp.broadcast_to(_rows(keep, ax, per_image) > 0, probs.shape)
    per_class = _lovasz_of(abs_(truth - probs), truth, keep)  # (n, C)
    present = jnp.sum(truth * keep, axis=-1) > 0 if classes == "present" else jnp.ones(per_class.shape, bool)
    w = jnp.ones((num_classes,), probs.dtype) if weight is None else _checks.floating(weight=weight)[0]
    w = jnp.where(present, _checks.broadcastable_to("weight", w, (num_classes,), "the classes"), 0.0)
    per_row = safe_divide(jnp.sum(w * per_class, axis=-1), jnp.sum(w, axis=-1))
    per_row = flag_invalid(per_row, bad, loss="lovasz_softmax_loss", argument="target", requirement="must hold class indices in [0, C)")
    return _reduce_images(per_row, jnp.any(keep[:, 0], axis=-1), per_image, reduction)
