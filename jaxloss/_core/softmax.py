r"""The softmax engine: every softmax cross-entropy in jaxloss is built from the pieces here, once.

A row of logits ``z`` (one sample's classes) is summarised by :class:`RowStats`, computed over a
*block* of its classes (the whole row, a piece of a long row, a vocabulary chunk of a fused
``x @ w``, one device's shard of the classes) relative to the block's *reference* ``r``: its largest
logit, or 0 when it holds none that is finite.

* ``max``: the block's largest logit ``m`` (carries no gradient: see below);
* ``sumexp``: :math:`s = \sum_c e^{z_c - r}`;
* ``target``: the target class's logit :math:`z_y` if the target is in the block, else 0;
* ``spread``: :math:`a = \sum_c w_c (r - z_c) \ge 0` (class weights ``w``, ones without them, or
  per-row weights such as a probability target times the class weights), what label smoothing and
  soft targets need; a zero weight contributes 0 even at a ``-inf`` logit;
* ``weight``: :math:`W = \sum_c w_c` over the block.

Blocks combine with one associative rule (:func:`merge` for two blocks of the same rows,
:func:`merge_across` for the blocks held by the devices of a mesh axis, with ``pmax``/``psum``):
rescale both to the larger reference (:math:`s e^{r_k - r}`, :math:`a + W (r - r_k)`), then add.
:func:`finish` turns the statistics into what the losses use,

.. math::
   \mathrm{lse} = r + \log s, \qquad
   \mathrm{nll} = \mathrm{lse} - z_y = (r - z_y) + \log s, \qquad
   \mathrm{smooth} = \sum_c w_c (\mathrm{lse} - z_c) = a + W \log s,

in that form because it is exact under a shift of the logits: ``lse - z_y`` computed after forming
``lse`` loses ``ulp(lse)``, which is 0.06 at logits of 1e6 in float32 (torch computes
``log_softmax`` the same way). Every difference above is between two logits or between a logit and
the row's maximum, so logits + 1e4, + 1e6 or rows like ``[3e38, 3e38, 0]`` lose nothing.

The gradient with respect to the logits is one formula, :func:`logits_cotangent`: for cotangents
``(g_s, g_t, g_a)`` of ``(sumexp, target, spread)`` it is
:math:`g_s e^{z - r} + g_t [c = y] - g_a w`, written by every custom VJP here in one elementwise
pass, with nothing saved but the logits (or what makes them) and the per-row statistics. The
reference and the maximum carry no gradient: the finished quantities do not depend on them (their
derivatives through ``r`` cancel exactly), so a custom VJP may ignore their cotangents.

:func:`class_index_terms` applies torch's rules for class-index targets (``weight``,
``ignore_index``, ``label_smoothing``, its weighted mean's denominator, NaN for a target out of
range) to finished statistics; every class-index softmax loss goes through it.

Precision: statistics are accumulated in :func:`accumulation_dtype` (float32 for half-precision and
float32 logits, float64 for float64 ones), class weights and smoothing included.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from jaxloss._core import checks
from jaxloss._core.numerics import varying_like
from jaxloss._core.reduction import inert
from jaxloss._core.runtime import flag_invalid

BLOCK = 32768
"""Longest piece of a class axis reduced at once (XLA:CPU slows down on longer exp-reductions)."""


def accumulation_dtype(dtype: Any) -> Any:
    """float32 for half-precision and float32 inputs, float64 for float64 ones (never less precise)."""
    return jnp.promote_types(dtype, jnp.float32)


class RowStats(NamedTuple):
    """Per-row softmax statistics of a block of classes (see the module docstring)."""

    max: jax.Array
    sumexp: jax.Array
    target: jax.Array
    spread: jax.Array
    weight: jax.Array


def reference(row_max: jax.Array) -> jax.Array:
    """The reference of a block: its maximum, or 0 where that is not finite (no finite logit)."""
    return jnp.where(jnp.isfinite(row_max), row_max, 0.0)


def block_statistics(z: jax.Array, target: jax.Array, weight: jax.Array | None) -> RowStats:
    """:class:`RowStats` of the logits ``z`` (``(..., c)``, classes last) in the accumulation dtype.

    ``target`` (``(...)``, integer) indexes the block's classes; an index outside ``[0, c)`` (a
    target in another block, an ignored or invalid one) contributes ``target = 0``. ``weight`` is
    None or broadcastable to ``z`` (``(c,)`` class weights, ``(..., c)`` per-row weights). The maximum is taken in ``z``'s own dtype (exact), so that a half-precision
    ``z`` is converted inside the fused reductions and never materialised in float32.
    """
    acc = accumulation_dtype(z.dtype)
    c = z.shape[-1]
    row_max = jnp.max(z, axis=-1).astype(acc)
    r = reference(row_max)[..., None]
    zf = z.astype(acc)
    sumexp = jnp.sum(jnp.exp(zf - r), axis=-1)
    spread = jnp.sum(_weighted_gap(weight, _own_copy(r), zf), axis=-1)
    inside = (target >= 0) & (target < c)
    index = jnp.clip(target, 0, c - 1)[..., None].astype(jnp.int32)
    picked = jnp.take_along_axis(z, index, axis=-1)[..., 0].astype(acc)
    return RowStats(row_max, sumexp, jnp.where(inside, picked, 0.0), spread, total_weight(weight, z.shape, acc))


def total_weight(weight: jax.Array | None, shape: tuple[int, ...], dtype: Any) -> jax.Array:
    r""":math:`W = \sum_c w_c` of each row of a block of logits of shape ``shape`` (a scalar for
    class weights or none, per row for per-row weights)."""
    if weight is None:
        return jnp.asarray(shape[-1], dtype)
    return jnp.sum(weight.astype(dtype), axis=-1)


def _weighted_gap(weight: jax.Array | None, r: jax.Array, z: jax.Array) -> jax.Array:
    """``w (r - z)``, 0 where ``w`` is 0 (a class that does not count, even at a ``-inf`` logit)."""
    if weight is None:
        return r - z
    w = weight.astype(z.dtype)
    return jnp.where(w == 0, 0.0, w * (r - z))


def _own_copy(r: jax.Array) -> jax.Array:
    """``r``, behind an optimisation barrier, so that the two reductions over a block's logits
    broadcast it each inside their own fused loop: XLA would otherwise share one broadcast of the
    per-row reference between them and materialise it, an array of the logits' size (seen on
    XLA:CPU with half-precision logits)."""
    return lax.optimization_barrier(r)


def _rescaled(stats: RowStats, top: jax.Array) -> RowStats:
    """``stats`` relative to the reference of ``top`` (a maximum at least as large as theirs)."""
    r, r_block = reference(top), reference(stats.max)
    return RowStats(top, stats.sumexp * jnp.exp(r_block - r), stats.target,
                    stats.spread + stats.weight * (r - r_block), stats.weight)


def merge(a: RowStats, b: RowStats) -> RowStats:
    """The statistics of two blocks of the same rows' classes, taken together (associative)."""
    top = jnp.maximum(a.max, b.max)
    a, b = _rescaled(a, top), _rescaled(b, top)
    return RowStats(top, a.sumexp + b.sumexp, a.target + b.target, a.spread + b.spread, a.weight + b.weight)


def merge_along(stats: RowStats, axis: int) -> RowStats:
    """The statistics of blocks laid out along ``axis`` of each field (pieces of long rows, viewed
    as ``(..., pieces, width)``), merged: the rule of :func:`merge` as one reduction."""
    top = jnp.max(stats.max, axis=axis, keepdims=True)
    local = _rescaled(stats._replace(weight=jnp.broadcast_to(stats.weight, stats.max.shape)), top)
    total = lambda v: jnp.sum(v, axis=axis)  # noqa: E731
    return RowStats(jnp.squeeze(top, axis), total(local.sumexp), total(local.target), total(local.spread),
                    total(local.weight))


def merge_across(stats: RowStats, axis_name: Any) -> RowStats:
    """The statistics of the blocks held by the devices along ``axis_name`` (inside ``shard_map``):
    the rule of :func:`merge`, with ``pmax``/``psum`` of per-row vectors (the logits stay put)."""
    top = lax.pmax(lax.stop_gradient(stats.max), axis_name)
    local = _rescaled(stats, top)
    summed = lax.psum((local.sumexp, local.target, local.spread, local.weight), axis_name)
    return RowStats(top, *summed)


class Finished(NamedTuple):
    """What the losses use: ``lse``, ``nll = lse - z_y`` and ``smooth = sum_c w_c (lse - z_c)``."""

    lse: jax.Array
    nll: jax.Array
    smooth: jax.Array


def counted(keep: jax.Array, stats: RowStats) -> RowStats:
    """``stats`` with the rows that do not count (masked or ignored samples) replaced by those of a
    row of zeros' reference (``max`` 0, ``sumexp`` 1, ``target`` and ``spread`` 0), whose finished
    ``lse``, ``nll`` and ``smooth`` are 0: whatever their logits hold (NaN, inf) then reaches no
    formula, their statistics get exactly zero cotangents (the double ``where``), and the custom
    gradients give their logits a zero gradient (:func:`logits_cotangent`)."""
    return RowStats(
        max=jnp.where(keep, stats.max, 0.0),
        sumexp=jnp.where(keep, stats.sumexp, 1.0),
        target=jnp.where(keep, stats.target, 0.0),
        spread=jnp.where(keep, stats.spread, 0.0),
        weight=stats.weight,
    )


def finish(stats: RowStats) -> Finished:
    """``lse``, ``nll`` and ``smooth`` in the shift-exact form of the module docstring."""
    r = reference(stats.max)
    log_s = jnp.log(stats.sumexp)
    return Finished(r + log_s, (r - stats.target) + log_s, stats.spread + stats.weight * log_s)


def logits_cotangent(
    z: jax.Array, hit: jax.Array, weight: jax.Array | None, stats: RowStats, g: RowStats, *, share_exp: bool = True
) -> jax.Array:
    r"""The gradient with respect to the logits ``z`` of the statistics ``stats`` of ``z``'s rows,
    given their cotangents ``g``: :math:`g_s e^{z - r} + g_t [c = y] - g_a w` (``hit`` marks the
    target's class; the cotangents of ``max`` and ``weight`` are not used: see the module
    docstring). Elementwise, in ``z``'s dtype. A row none of whose statistics has a cotangent (a
    masked or ignored sample, see :func:`counted`) gets a zero gradient whatever its logits hold.

    With ``share_exp`` the exponential is written exactly as the forward pass wrote it, so that XLA
    may compute it once for both passes when they are in one program (as autodiff of a plain
    log-softmax does): fastest, and free in memory for float32 logits, whose gradient buffer can
    hold it. For half-precision logits that shared array would be twice their size in float32, so
    their callers pass ``share_exp=False``: the term is then written :math:`(g_s s)\,
    e^{z - \mathrm{lse}}` (the softmax, equal but not the same expression), recomputed in the
    backward pass."""
    col = lambda v: v[..., None]  # noqa: E731  (a per-row value against the class axis)
    w = 1.0 if weight is None else weight.astype(z.dtype)
    if share_exp:
        probability_part = col(g.sumexp) * jnp.exp(z - col(reference(stats.max)))
    else:
        probability_part = col(g.sumexp * stats.sumexp) * jnp.exp(z - col(finish(stats).lse))
    dz = probability_part + jnp.where(hit, col(g.target), 0.0) - col(g.spread) * w
    # a row with no cotangent at all (a masked or ignored sample) gets a zero gradient, whatever
    # its logits hold: NaN * 0 would otherwise be NaN
    active = (g.sumexp != 0) | (g.target != 0) | (g.spread != 0)
    return jnp.where(col(active), dz, 0.0)


def weight_cotangent(z: jax.Array, stats: RowStats, g: RowStats, weight: jax.Array) -> jax.Array:
    """The gradient with respect to the weights of ``spread = sum_c w_c (r - z_c)``, in ``weight``'s
    shape (summed over the rows for class weights ``(c,)``; 0 where a row's spread has no cotangent,
    even at an infinite logit)."""
    g_spread = g.spread[..., None]
    terms = jnp.where(g_spread != 0, g_spread * (reference(stats.max)[..., None] - z), 0.0)
    broadcast = tuple(range(terms.ndim - weight.ndim)) + tuple(
        terms.ndim - weight.ndim + i for i, n in enumerate(weight.shape) if n == 1 and terms.shape[i] != 1
    )
    return jnp.sum(terms, axis=broadcast).reshape(weight.shape).astype(weight.dtype)


# ----------------------------------------------------------------------------------------------
# Dense rows: the statistics of materialised logits, with a custom gradient


def row_statistics(x: jax.Array, target: jax.Array, weight: jax.Array | None = None) -> RowStats:
    """:class:`RowStats` of the logits ``x`` (``(..., C)``, classes last, any float dtype) over all
    their classes, long rows reduced in pieces of at most :data:`BLOCK` classes and merged.

    ``target`` (``(...)``) holds class indices (one outside ``[0, C)`` hits no class); ``weight`` is
    None or broadcastable to ``x`` (``(C,)`` class weights or ``(..., C)`` per-row weights). The backward pass saves ``x`` and the per-row reference only and writes the
    gradient with respect to ``x`` in one elementwise pass (:func:`logits_cotangent`), in ``x``'s
    dtype; ``weight`` gets its gradient too. Under ``shard_map`` a replicated ``weight`` is typed as
    varying like ``x`` first, so that its per-device cotangent is summed across devices.
    """
    acc = accumulation_dtype(x.dtype)
    w = None if weight is None else varying_like(weight.astype(acc), x)
    stats = _dense_statistics(x, target.astype(jnp.int32), w)
    return stats._replace(weight=total_weight(w, x.shape, acc))


def _dense_forward(x: jax.Array, target: jax.Array, weight: jax.Array | None) -> RowStats:
    c = x.shape[-1]
    pieces = -(-c // BLOCK)
    if pieces == 0:  # no classes (the similarities of an empty batch): an empty block, lse = -inf
        acc = accumulation_dtype(x.dtype)
        zero = jnp.zeros(x.shape[:-1], acc)
        return RowStats(jnp.full(x.shape[:-1], -jnp.inf, acc), zero, zero, zero, total_weight(weight, x.shape, acc))
    if pieces == 1:
        return block_statistics(x, target, weight)
    width = -(-c // pieces)
    if c % pieces == 0:  # equal pieces: one reduction over a (..., pieces, width) view, then merged
        starts = jnp.arange(pieces, dtype=target.dtype) * width
        pieced = x.reshape(*x.shape[:-1], pieces, width)
        w = None if weight is None else weight.reshape(*weight.shape[:-1], pieces, width)
        # the barrier keeps XLA from folding the merge back into one reduction over the whole row
        # (max of the pieces' maxima -> max over the row: 5x slower on XLA:CPU for 131072 classes)
        pieces_stats = lax.optimization_barrier(block_statistics(pieced, target[..., None] - starts, w))
        return merge_along(pieces_stats, axis=-1)
    stats = None
    for start in range(0, c, width):
        size = min(width, c - start)
        part = block_statistics(
            lax.slice_in_dim(x, start, start + size, axis=-1), target - start,
            None if weight is None else weight[..., start : start + size],
        )
        stats = part if stats is None else merge(stats, part)
    assert stats is not None
    return stats


@jax.custom_vjp
def _dense_statistics(x: jax.Array, target: jax.Array, weight: jax.Array | None) -> RowStats:
    return _dense_forward(x, target, weight)


def _dense_statistics_fwd(x, target, weight):  # type: ignore[no-untyped-def]
    stats = _dense_forward(x, target, weight)
    return stats, (x, target, weight, stats)


def _dense_statistics_bwd(res, g):  # type: ignore[no-untyped-def]
    x, target, weight, stats = res
    zf = x.astype(stats.sumexp.dtype)
    hit = lax.broadcasted_iota(jnp.int32, x.shape, x.ndim - 1) == target[..., None]
    dx = logits_cotangent(zf, hit, weight, stats, g, share_exp=zf.dtype == x.dtype).astype(x.dtype)
    dweight = None if weight is None else weight_cotangent(zf, stats, g, weight)
    return dx, None, dweight


_dense_statistics.defvjp(_dense_statistics_fwd, _dense_statistics_bwd)


def logsumexp(x: jax.Array, where: jax.Array | None = None) -> jax.Array:
    """Log-sum-exp over the last axis of the entries of ``x`` where ``where`` holds (all without it),
    from :func:`row_statistics`: ``-inf``, with a zero gradient, for a row with no entry; an entry
    left out influences neither the value nor the gradient, whatever it holds."""
    z = x if where is None else jnp.where(where, x, -jnp.inf)
    stats = row_statistics(z, jnp.full(z.shape[:-1], -1, jnp.int32))
    nonempty = stats.sumexp > 0
    log_s = jnp.log(jnp.where(nonempty, stats.sumexp, 1.0))
    return jnp.where(nonempty, reference(stats.max) + log_s, -jnp.inf)


# ----------------------------------------------------------------------------------------------
# torch's rules for class-index targets


def class_index_terms(
    finished: Finished,
    target: jax.Array,
    *,
    class_weight: jax.Array | None,
    num_classes: int,
    ignore_index: int,
    label_smoothing: float | jax.Array,
    loss: str,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    r"""Per-sample torch cross-entropy for class-index targets, from finished statistics.

    With :math:`\epsilon` the label smoothing, :math:`C` the number of classes and :math:`w` the
    class weights (all ones without ``class_weight``):

    .. math::
       \ell = (1 - \epsilon)\, w_y\, \mathrm{nll} + \frac{\epsilon}{C}\, \mathrm{smooth}
            = (1 - \epsilon)\, w_y (\mathrm{lse} - x_y) + \frac{\epsilon}{C} \sum_c w_c (\mathrm{lse} - x_c)

    Args:
      finished: the rows' :class:`Finished` statistics (``smooth`` is read only where
        :math:`\epsilon > 0`, so it may be infinite otherwise).
      target: ``(...,)`` integer class indices.
      class_weight: ``(C,)`` class weights, or None.
      num_classes: :math:`C`.
      ignore_index: target value whose samples are left out (loss 0, denominator weight 0).
      label_smoothing: :math:`\epsilon`; a negative value acts as 0 (as in torch); a value above 1
        gives NaN (torch raises), reported in checked mode.
      loss: the loss's name, for the run-time error messages.

    Returns:
      ``(loss, denominator_weight, keep)``: the per-sample loss, 0 where ``target == ignore_index``
      and NaN (reported in checked mode for argument ``target``) where the target is outside
      ``[0, C)`` and not ignored; the weight of each sample in torch's ``"mean"`` denominator
      (:math:`w_y`, 1 without weights, 0 where ignored); and ``target != ignore_index``. The caller
      reduces with ``reduce(loss, reduction, where=keep & where, divide_by=denominator_weight)``.
    """
    acc = finished.nll.dtype
    keep, in_range, target_weight = index_bookkeeping(target, class_weight, num_classes, ignore_index, acc)
    eps, smoothing = smoothing_rule(label_smoothing, acc)
    smooth = jnp.where(smoothing, eps / num_classes * finished.smooth, 0.0)
    per_sample = (1 - eps) * target_weight * finished.nll + smooth
    per_sample = flag_targets(per_sample, keep, in_range, num_classes, ignore_index, loss=loss)
    return flag_smoothing(per_sample, label_smoothing, loss=loss), jnp.where(keep, target_weight, 0.0), keep


def counted_targets(
    target: jax.Array, where: ArrayLike | None, ignore_index: int | None
) -> tuple[jax.Array, jax.Array]:
    """``(target, counts)``: class-index targets with those ``where`` masks replaced by class 0
    (:func:`jaxloss._core.reduction.inert`: a bad index there is not an error, and nothing reaches
    the gradient), and which samples count (``where`` allows them and ``target != ignore_index``;
    ignored targets keep ``ignore_index``). ``where`` is checked against ``target``'s shape."""
    masked = None if where is None else checks.mask(where, target.shape)
    counts = jnp.ones(target.shape, bool) if ignore_index is None else target != ignore_index
    counts = counts if masked is None else counts & masked
    return inert(masked, target), counts


def index_bookkeeping(
    target: jax.Array, class_weight: jax.Array | None, num_classes: int, ignore_index: int, dtype: Any
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(keep, in_range, target_weight)`` for class-index targets: which samples count, which
    targets are valid classes, and ``w[y]`` (1 without weights) in ``dtype``."""
    keep = target != ignore_index
    in_range = (target >= 0) & (target < num_classes)
    if class_weight is None:
        target_weight = jnp.ones(target.shape, dtype)
    else:
        target_weight = class_weight.astype(dtype)[jnp.where(in_range, target, 0)]
    return keep, in_range, target_weight


def flag_targets(
    per_sample: jax.Array, keep: jax.Array, in_range: jax.Array, num_classes: int, ignore_index: int, *, loss: str
) -> jax.Array:
    """0 for ignored samples, NaN (reported in checked mode) for out-of-range class indices."""
    return flag_invalid(
        jnp.where(keep, per_sample, 0.0),
        keep & ~in_range,
        loss=loss,
        argument="target",
        requirement=f"must hold class indices in [0, {num_classes}) or ignore_index={ignore_index}",
    )


def smoothing_rule(label_smoothing: float | jax.Array, dtype: Any) -> tuple[jax.Array, jax.Array]:
    """Torch's label smoothing: ``(eps, eps > 0)`` in ``dtype``, a negative ``eps`` acting as 0."""
    eps = jnp.asarray(label_smoothing, dtype)
    return jnp.where(eps > 0, eps, 0.0), eps > 0


def flag_smoothing(per_sample: jax.Array, label_smoothing: float | jax.Array, *, loss: str) -> jax.Array:
    """NaN (reported in checked mode) everywhere if ``label_smoothing > 1`` (torch raises)."""
    too_big = jnp.broadcast_to(jnp.asarray(label_smoothing) > 1, per_sample.shape)
    return flag_invalid(per_sample, too_big, loss=loss, argument="label_smoothing", requirement="must be at most 1")
