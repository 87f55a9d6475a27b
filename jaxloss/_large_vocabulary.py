"""Large-vocabulary losses: the cross-entropy of a linear layer's output, without its logits.

A language model's last layer maps ``N`` hidden states of size ``D`` to ``V`` logits; with ``V`` in the
hundreds of thousands the ``N x V`` logits matrix (and its gradient) dominate training memory.
:func:`linear_cross_entropy` takes the hidden states and the weight instead, and walks the
vocabulary in chunks of ``chunk_size`` columns:

* the forward pass keeps, per token, a running maximum and sum of exponentials (an online
  log-sum-exp), the target's logit and the class-weighted sum of logits (for label smoothing);
* the backward pass (a ``jax.custom_vjp`` whose residuals are ``x``, ``w``, the targets and the
  per-token log-sum-exp) recomputes each chunk's logits, turns them into that chunk's gradient with
  respect to the logits, and immediately contracts it into ``dx`` (accumulated in float32) and the
  chunk's columns of ``dw`` (one float32-accumulated product over all tokens, so bfloat16 weights
  get gradients rounded once, not once per chunk).

``grad_in_forward=True`` is Liger-Kernel's alternative (chunks of tokens with all ``V`` logits, the
gradients computed in the forward pass and kept until the backward pass), and ``vocab_axis`` runs the
chunked form on each device's shard of ``w`` under ``shard_map``, combining per-token vectors only.

Everything softmax is the engine's (:mod:`jaxloss._core.softmax`): each chunk's
:class:`~jaxloss._core.softmax.RowStats` are merged into the running ones with
:func:`~jaxloss._core.softmax.merge`, the shards of ``vocab_axis`` with
:func:`~jaxloss._core.softmax.merge_across`, the backward pass writes each chunk's logits gradient
with :func:`~jaxloss._core.softmax.logits_cotangent`, and torch's semantics (``ignore_index``,
class weights, label smoothing, NaN for a bad target) come from
:func:`~jaxloss._core.softmax.class_index_terms`, exactly as for ``cross_entropy``.
:func:`vocab_parallel_cross_entropy` is ``cross_entropy`` for materialised logits whose class axis
is sharded over a mesh axis, on the same pieces.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from jaxloss._core import checks as _checks
from jaxloss._core import softmax
from jaxloss._core.decorator import loss
from jaxloss._core.errors import fail, naming
from jaxloss._core.numerics import varying_like
from jaxloss._core.reduction import AxisName, Reduction, check_reduction, inert, reduce, reduce_over
from jaxloss._core.runtime import flag_invalid

_HALF = (jnp.dtype(jnp.float16), jnp.dtype(jnp.bfloat16))

_CHUNK_ELEMENTS = 2**23
"""Default number of logits per chunk (tokens x chunk columns): 32 MiB of float32 scratch."""

_MIN_CHUNK = 256


class LinearCrossEntropyStats(NamedTuple):
    """Per-token statistics returned by ``linear_cross_entropy(..., return_stats=True)``.

    Attributes:
      lse: log-sum-exp of each token's (soft-capped) logits (float32, or float64 for float64
        inputs), shape ``target.shape``; 0 for ignored or masked-out tokens, whose hidden states the
        loss never reads (so that a NaN there reaches nothing).
      accuracy: float32, 1 where the target has the largest logit (ties count as correct), else 0;
        0 for ignored or masked-out tokens.
    """

    lse: jax.Array
    accuracy: jax.Array


# ----------------------------------------------------------------------------------------------
# Chunked per-token statistics with a custom gradient


class _Plan(NamedTuple):
    """How the local vocabulary is cut: ``chunks`` chunks of ``size`` columns, then a ``tail``."""

    size: int
    chunks: int
    tail: int


def _plan(num_tokens: int, vocab: int, chunk_size: int | None) -> _Plan:
    if chunk_size is None:
        chunk_size = max(_MIN_CHUNK, _CHUNK_ELEMENTS // max(num_tokens, 1))
        chunk_size = 1 << (chunk_size.bit_length() - 1)  # a power of two
    size = max(1, min(chunk_size, vocab))
    return _Plan(size, vocab // size, vocab % size)


def _segments(plan: _Plan) -> list[tuple[int, int, int]]:
    """``(start, size, count)`` of each run of equal chunks: the main run, then the tail."""
    runs = [(0, plan.size, plan.chunks)] if plan.chunks else []  # none for no tokens (grad_in_forward)
    if plan.tail:
        runs.append((plan.size * plan.chunks, plan.tail, 1))
    return runs


def _w_chunk(w: jax.Array, start: Any, size: int, dtype: Any) -> jax.Array:
    """Columns ``[start, start + size)`` of ``w`` in ``x``'s dtype (mixed precision: a float32
    weight used with bfloat16 activations is multiplied in bfloat16, with float32 accumulation)."""
    return lax.dynamic_slice_in_dim(w, start, size, axis=1).astype(dtype)


_accumulator = softmax.accumulation_dtype


def _a_bt(a: jax.Array, b: jax.Array) -> jax.Array:
    """``a @ b.T`` accumulated and returned in float32 (float64 for float64 inputs)."""
    return lax.dot_general(a, b, (((1,), (1,)), ((), ())), preferred_element_type=_accumulator(a.dtype))


def _at_b(a: jax.Array, b: jax.Array) -> jax.Array:
    """``a.T @ b`` accumulated and returned in float32 (float64 for float64 inputs)."""
    return lax.dot_general(a, b, (((0,), (0,)), ((), ())), preferred_element_type=_accumulator(a.dtype))


def _logits(
    x: jax.Array, w: jax.Array, b: jax.Array | None, start: Any, size: int, softcap: Any
) -> tuple[jax.Array, jax.Array]:
    """The float32 logits of columns ``[start, start + size)`` (soft-capped) and the uncapped ones."""
    z = jnp.dot(x, _w_chunk(w, start, size, x.dtype), preferred_element_type=_accumulator(x.dtype))
    if b is not None:
        z = z + lax.dynamic_slice_in_dim(b, start, size).astype(z.dtype)
    if softcap is None:
        return z, z
    return softcap * jnp.tanh(z / softcap), z


def _hit(target: jax.Array, start: Any, size: int) -> jax.Array:
    """``(N, size)``: where column ``start + j`` of this device's vocabulary is the token's target
    (``target`` already relative to this device's first class)."""
    return (start + lax.iota(jnp.int32, size))[None, :] == target[:, None]


def _chunk_weight(cw: jax.Array | None, start: Any, size: int, dtype: Any) -> jax.Array | None:
    return None if cw is None else lax.dynamic_slice_in_dim(cw, start, size).astype(dtype)


def _loop(step: Any, carry: Any, count: int, *like: jax.Array) -> Any:
    """``carry = step(j, carry)`` for ``j`` in ``range(count)``, as one ``fori_loop``.

    Under ``shard_map`` the chunks' results vary over every mesh axis that the arrays the step
    reads (``like``: the tokens over the batch axis, ``w`` over the vocabulary axis) vary over, so
    the initial (replicated) zeros are typed alike: a loop's carry keeps one type.
    """
    carry = jax.tree_util.tree_map(lambda c: varying_like(c, *like), carry)
    return lax.fori_loop(0, count, step, carry)


def _empty_stats(n: int, dtype: Any) -> softmax.RowStats:
    """The statistics of no classes, the start of a merge over chunks."""
    zero = jnp.zeros((n,), dtype)
    return softmax.RowStats(jnp.full((n,), -jnp.inf, dtype), zero, zero, zero, jnp.zeros((), dtype))


@functools.partial(jax.custom_vjp, nondiff_argnums=(6,))
def _vocab_statistics(
    x: jax.Array,
    w: jax.Array,
    b: jax.Array | None,
    cw: jax.Array | None,
    target: jax.Array,
    softcap: jax.Array | None,
    plan: _Plan,
) -> softmax.RowStats:
    """Per-token :class:`~jaxloss._core.softmax.RowStats` over the columns of ``w``, chunk by chunk.

    ``x`` is ``(N, D)``, ``w`` ``(D, V)``, ``b`` and ``cw`` ``(V,)`` or None, ``target`` ``(N,)``
    (relative to this device's first class: outside ``[0, V)`` it hits no column here), ``softcap``
    a scalar or None. The backward pass recomputes each chunk's logits and contracts the chunk's
    :func:`~jaxloss._core.softmax.logits_cotangent` into ``dx`` and ``dw`` at once.
    """
    stats = _empty_stats(x.shape[0], _accumulator(x.dtype))
    for first, size, count in _segments(plan):

        def step(j: Any, stats: softmax.RowStats, first: int = first, size: int = size) -> softmax.RowStats:
            start = first + j * size
            z, _ = _logits(x, w, b, start, size, softcap)
            chunk = softmax.block_statistics(z, target - start, _chunk_weight(cw, start, size, z.dtype))
            return softmax.merge(stats, chunk)

        stats = _loop(step, stats, count, x, w)
    return stats


def _vocab_statistics_fwd(x, w, b, cw, target, softcap, plan):  # type: ignore[no-untyped-def]
    stats = _vocab_statistics.fun(x, w, b, cw, target, softcap, plan)
    return stats, (x, w, b, cw, target, softcap, stats)


def _vocab_statistics_bwd(plan, res, g):  # type: ignore[no-untyped-def]
    x, w, b, cw, target, softcap, stats = res
    acc = _accumulator(x.dtype)
    g = jax.tree_util.tree_map(lambda c: c.astype(acc), g)
    n, d = x.shape
    dx = jnp.zeros((n, d), acc)
    dw = jnp.zeros(w.shape, w.dtype)
    db = None if b is None else jnp.zeros(b.shape, b.dtype)
    dcw = None if cw is None else jnp.zeros(cw.shape, cw.dtype)
    dcap = None if softcap is None else jnp.zeros((), acc)

    for first, size, count in _segments(plan):

        def step(j, carry, first=first, size=size):  # type: ignore[no-untyped-def]
            dx, dw, db, dcw, dcap = carry
            start = first + j * size
            z, raw = _logits(x, w, b, start, size, softcap)
            cw_c = _chunk_weight(cw, start, size, z.dtype)
            dz = softmax.logits_cotangent(z, _hit(target, start, size), cw_c, stats, g)
            if softcap is None:
                dl = dz
            else:  # z = c tanh(u), u = raw / c: dz/draw = 1 - tanh(u)^2, dz/dc = tanh(u) - u (1 - tanh(u)^2)
                t = z / softcap
                sech2 = 1.0 - t * t
                dl = dz * sech2
                dcap = dcap + jnp.sum(dz * (t - raw / softcap * sech2))
            dl_in = dl.astype(x.dtype)
            dx = dx + _a_bt(dl_in, _w_chunk(w, start, size, x.dtype))
            dw_c = _at_b(x, dl_in)
            dw = lax.dynamic_update_slice_in_dim(dw, dw_c.astype(dw.dtype), start, axis=1)
            if db is not None:
                db = lax.dynamic_update_slice_in_dim(db, jnp.sum(dl, axis=0).astype(db.dtype), start, axis=0)
            if dcw is not None and cw_c is not None:
                dcw_c = softmax.weight_cotangent(z, stats, g, cw_c)
                dcw = lax.dynamic_update_slice_in_dim(dcw, dcw_c.astype(dcw.dtype), start, axis=0)
            return dx, dw, db, dcw, dcap

        dx, dw, db, dcw, dcap = _loop(step, (dx, dw, db, dcw, dcap), count, x, w)

    if dcap is not None:
        dcap = dcap.astype(softcap.dtype)
    return dx.astype(x.dtype), dw, db, dcw, None, dcap


_vocab_statistics.defvjp(_vocab_statistics_fwd, _vocab_statistics_bwd)


def _forward_gradients(
    x: jax.Array,
    w: jax.Array,
    b: jax.Array | None,
    cw: jax.Array | None,
    target: jax.Array,
    softcap: jax.Array | None,
    token_loss: Any,
    token_weight: jax.Array,
    plan: _Plan,
) -> tuple[softmax.RowStats, tuple[jax.Array | None, ...]]:
    """One pass over chunks of ``plan.size`` tokens (all ``V`` columns at once, as Liger-Kernel
    does) giving the per-token statistics of :func:`_vocab_statistics` and, already, the gradients
    of ``sum_n token_weight_n * token_loss(stats, target)_n`` with respect to ``x``, ``w`` and
    ``b``: three matrix products instead of four, for a float32 ``dw`` held from the forward to the
    backward pass. No gradient flows through this function."""
    n, d = x.shape
    v = w.shape[1]
    acc = _accumulator(x.dtype)
    cw_acc = None if cw is None else cw.astype(acc)
    stats = _empty_stats(n, acc)
    carry = (
        stats._replace(weight=jnp.zeros((n,), acc)),  # per token here: filled chunk by chunk
        jnp.zeros((n, d), x.dtype),
        jnp.zeros((d, v), acc),
        None if b is None else jnp.zeros((v,), acc),
    )

    for first, size, count in _segments(plan):

        def step(j, carry, first=first, size=size):  # type: ignore[no-untyped-def]
            stats, dx, dw, db = carry
            start = first + j * size
            x_c = lax.dynamic_slice_in_dim(x, start, size)
            t_c = lax.dynamic_slice_in_dim(target, start, size)
            z, _ = _logits(x_c, w, b, 0, v, softcap)
            chunk = softmax.block_statistics(z, t_c, cw_acc)
            _, pull = jax.vjp(lambda st: token_loss(st._replace(max=chunk.max), t_c), chunk)
            (g,) = pull(lax.dynamic_slice_in_dim(token_weight, start, size))
            dz = softmax.logits_cotangent(z, _hit(t_c, 0, v), cw_acc, chunk, g)
            dl = dz if softcap is None else dz * (1.0 - jnp.square(z / softcap))
            dl_in = dl.astype(x.dtype)
            dx_c = _a_bt(dl_in, w.astype(x.dtype))
            dx = lax.dynamic_update_slice_in_dim(dx, dx_c.astype(dx.dtype), start, axis=0)
            dw = dw + _at_b(x_c, dl_in)
            if db is not None:
                db = db + jnp.sum(dl, axis=0)
            chunk = chunk._replace(weight=jnp.broadcast_to(chunk.weight, (size,)))
            stats = jax.tree_util.tree_map(lambda a, u: lax.dynamic_update_slice_in_dim(a, u, start, 0), stats, chunk)
            return stats, dx, dw, db

        carry = _loop(step, carry, count, x, w)

    stats, dx, dw, db = carry
    return stats, (dx, dw, db)


def _attach_gradient(value: jax.Array, pairs: list[tuple[jax.Array | None, jax.Array | None]]) -> jax.Array:
    """``value`` (unchanged) whose gradient with respect to each ``a`` of ``pairs`` is ``g``.

    The gradients were computed in the forward pass, so they cannot be differentiated again: a
    second derivative (``jax.hessian``, ``jax.grad`` of ``jax.grad``) raises an error instead of
    returning zeros."""
    for a, g in pairs:
        if a is not None and g is not None:
            value = _with_gradient(value, a, lax.stop_gradient(g))
    return value


@jax.custom_vjp
def _with_gradient(value: jax.Array, a: jax.Array, g: jax.Array) -> jax.Array:
    del a, g
    return value


def _with_gradient_fwd(value, a, g):  # type: ignore[no-untyped-def]
    return value, (a, g)


def _with_gradient_bwd(res, cotangent):  # type: ignore[no-untyped-def]
    a, g = res
    # a's derivative is never used (the select is constant), but differentiating it raises
    return cotangent, jnp.where(False, _first_order_only(a), (cotangent * g).astype(a.dtype)), None


_with_gradient.defvjp(_with_gradient_fwd, _with_gradient_bwd)


@jax.custom_jvp
def _first_order_only(a: jax.Array) -> jax.Array:
    return a


@_first_order_only.defjvp
def _first_order_only_jvp(primals, tangents):  # type: ignore[no-untyped-def]
    raise TypeError(
        "linear_cross_entropy: grad_in_forward=True computes the gradients in the forward pass, which "
        "cannot be differentiated again; for second derivatives (jax.hessian, jax.grad of jax.grad, "
        "jax.jvp of jax.grad) use grad_in_forward=False (the default)"
    )


# ----------------------------------------------------------------------------------------------
# The loss


def _check_vector(name: str, v: ArrayLike | None, size: int) -> jax.Array | None:
    if v is None:
        return None
    (v,) = _checks.floating(**{name: v})
    _checks.shape(name, v, (size,))
    return v


@loss(
    counterpart="`F.cross_entropy(x @ w + b)`; Cut Cross-Entropy, Liger `LigerFusedLinearCrossEntropyLoss`",
    static=("ignore_index", "chunk_size", "return_stats", "vocab_axis", "grad_in_forward"),
    stable_form="chunked online log-sum-exp",
    custom_gradient=True,
    half_precision_upcast=False,
)
def linear_cross_entropy(
    x: ArrayLike,
    w: ArrayLike,
    target: ArrayLike,
    *,
    bias: ArrayLike | None = None,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    label_smoothing: float | jax.Array = 0.0,
    z_loss: float | jax.Array = 0.0,
    softcap: float | jax.Array | None = None,
    chunk_size: int | None = None,
    where: ArrayLike | None = None,
    return_stats: bool = False,
    vocab_axis: str | None = None,
    grad_in_forward: bool = False,
) -> jax.Array | tuple[jax.Array, LinearCrossEntropyStats]:
    r"""Cross-entropy of the logits ``x @ w + bias``, computed without materialising them.

    Equal, in value and in gradients with respect to ``x``, ``w`` and ``bias``, to
    ``cross_entropy(x @ w + bias, target, ...)`` with the same options, but its scratch memory is
    a few ``N x chunk_size`` blocks instead of the ``N x V`` logits and their gradient.

    .. math::
       z_{n} = s \tanh\!\big((x_n W + b) / s\big), \qquad
       \ell_n = (1 - \epsilon)\, w_{y_n} (\mathrm{lse}_n - z_{n, y_n})
                + \frac{\epsilon}{V} \sum_c w_c (\mathrm{lse}_n - z_{n,c})
                + \lambda\, \mathrm{lse}_n^2

    with :math:`\mathrm{lse}_n = \log \sum_c e^{z_{n,c}}`, soft cap :math:`s` (none by default),
    label smoothing :math:`\epsilon`, class weights :math:`w_c` and z-loss coefficient
    :math:`\lambda`. The reductions are torch's: ``"mean"`` divides by the summed weight
    :math:`w_{y_n}` of the tokens that count.

    Args:
      x: ``(..., D)`` hidden states (any float dtype). The products run in ``x``'s dtype (each
        chunk of ``w`` is cast to it) with float32 accumulation, so bfloat16 activations with a
        float32 kernel are multiplied in bfloat16, as a Flax ``Dense`` with ``dtype=bfloat16`` does.
      w: ``(D, V)`` output projection, the layout of a Flax ``Dense`` kernel. For a tied embedding
        table ``E`` of shape ``(V, D)`` pass ``E.T``: at worst XLA makes one transposed copy of the
        table, never anything of the logits' size.
      target: ``(...)`` integer class indices in ``[0, V)``, or ``ignore_index``.
      bias: optional ``(V,)`` output bias.
      weight: optional ``(V,)`` class weights (torch's ``weight``).
      ignore_index: target value whose tokens are left out (static).
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      label_smoothing: torch's label smoothing :math:`\epsilon` in ``[0, 1]`` (traced).
      z_loss: coefficient :math:`\lambda` of the PaLM z-loss :math:`\lambda\,\mathrm{lse}^2`
        added to each counted token's loss before the reduction, so ``"mean"`` divides it by the
        same denominator (traced; 0 by default).
      softcap: Gemma 2's logit soft cap :math:`s > 0` applied before the loss (traced), or None.
        A non-positive value gives NaN.
      chunk_size: number of vocabulary columns per chunk (static); by default about
        :math:`2^{23} / N` rounded down to a power of two (at least 256), i.e. 32 MiB of float32
        logits per chunk.
      where: optional boolean mask broadcastable to ``target.shape``; False tokens are left out.
      return_stats: also return a :class:`LinearCrossEntropyStats` with each token's log-sum-exp
        and whether its target is the arg-max (static), for logging; neither carries a gradient
        that matters (the accuracy is piecewise constant).
      vocab_axis: name of a mesh axis over which ``w`` (and ``bias``) are sharded along ``V``
        (static). Call the loss inside ``jax.shard_map`` with ``w`` the local ``(D, V / k)`` shard;
        ``x``, ``target``, ``weight`` (the full ``(V,)``) and ``where`` replicated over that axis.
        Each device then processes only its shard; only per-token vectors cross devices.
      grad_in_forward: compute the gradients during the forward pass, as Liger-Kernel does
        (static): chunks of ``chunk_size`` *tokens* (by default about :math:`2^{23} / V`) with all
        ``V`` logits each, three matrix products instead of four, for a float32 ``dw`` kept from
        the forward to the backward pass (memory the size of ``w``). Needs a scalar loss
        (``reduction`` ``"mean"`` or ``"sum"``), no ``vocab_axis``, and gives gradients only with
        respect to ``x``, ``w`` and ``bias`` (none for ``weight``, ``label_smoothing``, ``z_loss``
        and ``softcap``), and no second derivatives (``jax.hessian`` raises; the default mode has
        them).

    Returns:
      The loss: a scalar, or ``target.shape`` for ``reduction="none"``, in the dtype of ``x``/``w``;
      with ``return_stats=True``, the pair ``(loss, stats)``.

    Counterparts: torch's ``F.cross_entropy(x @ w + b, target)`` (this is tested against it),
    Apple's Cut Cross-Entropy and Liger-Kernel's fused linear cross-entropy. As everywhere in
    jaxloss, a mean over no tokens is 0 (torch: NaN), and an out-of-range target gives NaN
    (torch raises; :func:`jaxloss.checked` reports it).

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> x = jnp.array([[1.0, 0.0], [0.0, 2.0]])
      >>> w = jnp.array([[1.0, 0.0, 0.5], [0.0, 1.0, -1.0]])
      >>> jl.linear_cross_entropy(x, w, jnp.array([0, 1]))
      Array(0.4116..., dtype=float32)
      >>> jl.cross_entropy(x @ w, jnp.array([0, 1]))  # the same, with the logits materialised
      Array(0.4116..., dtype=float32)
    """
    x, w = _checks.floating(x=x, w=w)
    (target,) = _checks.integer(target=target)
    _checks.rank("w", w, 2)
    d, v_local = w.shape
    if x.ndim < 1 or v_local < 1 or d < 1:
        raise fail(ValueError, f"need `x` of shape (..., D) and `w` of shape (D, V) with D >= 1 and V >= 1, got {x.shape} and {w.shape}")
    if x.shape[-1] != d:
        hint = " (it looks transposed: for an embedding table E of shape (V, D) pass E.T)" if w.shape[1] == x.shape[-1] else ""
        raise fail(ValueError, f"`w` has shape {w.shape}, expected (D, V) with D = {x.shape[-1]}, the last axis of "
                               f"`x` {x.shape}{hint}")
    _checks.shape("target", target, x.shape[:-1])
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise fail(ValueError, f"chunk_size={chunk_size!r} must be a positive integer or None")
    out_dtype = jnp.result_type(x, w)
    bias = _check_vector("bias", bias, v_local)
    if vocab_axis is None:
        offset, num_classes = jnp.zeros((), jnp.int32), v_local
    else:
        offset = lax.axis_index(vocab_axis).astype(jnp.int32) * v_local
        num_classes = v_local * lax.axis_size(vocab_axis)
    acc = _accumulator(x.dtype)
    class_weight = _check_vector("weight", weight, num_classes)
    class_weight = None if class_weight is None else class_weight.astype(acc)
    local_weight = (class_weight if vocab_axis is None or class_weight is None
                    else lax.dynamic_slice_in_dim(class_weight, offset, v_local))
    if softcap is not None:
        softcap = jnp.asarray(softcap, acc)

    shape = target.shape
    flat_target = target.reshape(-1).astype(jnp.int32)
    # tokens that do not count (masked, ignored) become zeros, and masked targets class 0: whatever
    # they held reaches neither the value nor any gradient (dw = x^T dz would carry a NaN row)
    masked = None if where is None else _checks.mask(where, shape).reshape(-1)
    flat_target, counts = softmax.counted_targets(flat_target, masked, ignore_index)
    tokens = inert(counts, x.reshape(-1, d), features=1)

    def token_losses(stats: softmax.RowStats, t: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """torch's per-token cross-entropy (the engine's rules) plus the z-loss."""
        finished = softmax.finish(stats)
        per_token, denominator, keep = softmax.class_index_terms(
            finished, t, class_weight=class_weight, num_classes=num_classes, ignore_index=ignore_index,
            label_smoothing=label_smoothing, loss="linear_cross_entropy",
        )
        z_coefficient = jnp.asarray(z_loss, acc)
        # without a z-loss, 0 with a zero gradient even where lse^2 (or its derivative) overflows
        off = z_coefficient == 0
        z_term = jnp.where(off, 0.0, z_coefficient * jnp.square(jnp.where(off, 0.0, finished.lse)))
        per_token = per_token + jnp.where(keep, z_term, 0.0)
        if softcap is not None:
            per_token = flag_invalid(per_token, jnp.broadcast_to(softcap <= 0, per_token.shape),
                                     loss="linear_cross_entropy", argument="softcap", requirement="must be positive")
        return per_token, denominator, keep

    def reduced(per_token: jax.Array, denominator: jax.Array) -> jax.Array:
        return reduce(per_token.reshape(shape), reduction, where=counts.reshape(shape),
                      divide_by=denominator.reshape(shape))

    if grad_in_forward:
        if reduction == "none" or vocab_axis is not None:
            raise fail(ValueError, "grad_in_forward=True needs reduction='mean' or 'sum' and no vocab_axis")
        sg = lax.stop_gradient
        label_smoothing, z_loss = sg(jnp.asarray(label_smoothing)), sg(jnp.asarray(z_loss))
        class_weight = None if class_weight is None else sg(class_weight)
        softcap = None if softcap is None else sg(softcap)
        nothing = _empty_stats(flat_target.shape[0], acc)
        _, denominator, _ = token_losses(nothing, flat_target)  # depend on the targets only
        _, pull = jax.vjp(lambda per_token: reduced(per_token, denominator), jnp.zeros(flat_target.shape, acc))
        (token_weight,) = pull(jnp.ones((), acc))  # d loss / d per-token loss
        stats, grads = _forward_gradients(
            sg(tokens), sg(w), None if bias is None else sg(bias), class_weight, flat_target, softcap,
            lambda *a: token_losses(*a)[0], token_weight, _plan(v_local, tokens.shape[0], chunk_size),
        )
        stats = jax.tree_util.tree_map(sg, stats)
        attach = [(tokens, grads[0]), (w, grads[1]), (bias, grads[2])]
    else:
        plan = _plan(tokens.shape[0], v_local, chunk_size)
        inputs = [tokens, w, bias, local_weight, softcap]
        # Under shard_map the gradients of replicated inputs are per-device terms (JAX psums them once
        # the inputs are typed as varying); outside shard_map this is a no-op.
        tokens_, w_, bias_, local_weight_, softcap_ = (None if a is None else varying_like(a, tokens, w) for a in inputs)
        stats = _vocab_statistics(tokens_, w_, bias_, local_weight_, flat_target - offset, softcap_, plan)
        # the total weight outside the custom gradient, so that class weights get its derivative
        stats = stats._replace(weight=softmax.total_weight(local_weight_, (v_local,), acc))
        attach = []
    if vocab_axis is not None:  # combine the shards' statistics: only (N,) vectors cross devices
        stats = softmax.merge_across(stats, vocab_axis)

    per_token, denominator, _ = token_losses(stats, flat_target)
    result = _attach_gradient(reduced(per_token, denominator), attach).astype(out_dtype)
    if not return_stats:
        return result
    lse = jnp.where(counts, lax.stop_gradient(softmax.finish(stats).lse), 0.0)
    accuracy = (counts & (stats.target >= lax.stop_gradient(stats.max))).reshape(shape).astype(jnp.float32)
    return result, LinearCrossEntropyStats(lse=lse.reshape(shape), accuracy=accuracy)


# ----------------------------------------------------------------------------------------------
# Materialised logits with a sharded class axis


def vocab_parallel_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    *,
    axis_name: AxisName,
    batch_axis: AxisName | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    label_smoothing: float | jax.Array = 0.0,
    axis: int | None = None,
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
    ``label_smoothing`` and weighted mean). The statistics and their merge across devices are the
    softmax engine's (:mod:`jaxloss._core.softmax`), with ``cross_entropy``'s custom gradient.

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
      axis: the class axis of ``input``: ``-1`` or ``1`` for torch's layout; ``None`` (default)
        reads it from ``target``'s shape as :func:`cross_entropy` does (an error where both fit).
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
    with naming("vocab_parallel_cross_entropy"):
        check_reduction(reduction)
        (x,) = _checks.floating(input=input)
        (t,) = _checks.integer(target=target)
        input_dtype = x.dtype
        if x.ndim == 0:
            raise fail(ValueError, "`input` must have a class axis, got a scalar")
        axis = _checks.class_axis(axis, x.shape, t.shape)
        x = jnp.moveaxis(x, axis, -1)
        _checks.shape("target", t, x.shape[:-1])
        local_classes = x.shape[-1]
        offset = lax.axis_index(axis_name).astype(jnp.int32) * local_classes
        num_classes = local_classes * lax.axis_size(axis_name)
        acc = _accumulator(x.dtype)
        class_weight = _check_vector("weight", weight, num_classes)
        class_weight = None if class_weight is None else class_weight.astype(acc)
        local_weight = None if class_weight is None else lax.dynamic_slice_in_dim(class_weight, offset, local_classes)
        # this shard's classes are offset + [0, local_classes): other targets hit nothing here
        t, counts = softmax.counted_targets(t, where, ignore_index)
        local = softmax.row_statistics(x, t.astype(jnp.int32) - offset, local_weight)
        # 0 for the samples that do not count: their logits then reach no gradient, whatever they hold
        finished = softmax.finish(softmax.counted(counts, softmax.merge_across(local, axis_name)))
        per_sample, denominator, _ = softmax.class_index_terms(
            finished, t, class_weight=class_weight, num_classes=num_classes, ignore_index=ignore_index,
            label_smoothing=label_smoothing, loss="vocab_parallel_cross_entropy",
        )
        result = reduce_over(per_sample, reduction, batch_axis, where=counts, divide_by=denominator)
        return result.astype(input_dtype) if input_dtype in _HALF else result
