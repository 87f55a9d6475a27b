"""Embedding, ranking and metric-learning losses.

Two groups:

* torch's pair and triplet losses (``margin_ranking_loss``, ``hinge_embedding_loss``,
  ``cosine_embedding_loss``, ``triplet_margin_loss``, ``triplet_margin_with_distance_loss``), with
  torch's values and gradients, including its ``eps`` conventions;
* batch losses following pytorch-metric-learning (``contrastive_loss``, ``ntxent_loss``,
  ``supervised_contrastive_loss``): a batch of embeddings ``(N, D)`` and labels ``(N,)``, every pair
  of the batch formed from one ``(N, N)`` similarity matrix (``O(N^2)`` memory, never ``O(N^2 D)``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxloss._core import checks as _checks
from jaxloss._core import softmax
from jaxloss._core.decorator import loss
from jaxloss._core.errors import fail
from jaxloss._core.numerics import clamp_min0
from jaxloss._core.reduction import Reduction, check_reduction, inert, reduce
from jaxloss._core.runtime import flag_invalid

_COSINE_EPS = 1e-12  # torch's EPSILON in cosine_embedding_loss, added to each squared norm
_NORMALIZE_EPS = 1e-12  # torch.nn.functional.normalize's default
Distance = Literal["euclidean", "cosine"]
_DISTANCES: tuple[Distance, ...] = ("euclidean", "cosine")


# --------------------------------------------------------------------------- shared helpers


def _clamp_min0(z: jax.Array) -> jax.Array:
    """``torch.clamp_min(z, 0)``: its gradient passes at ``z == 0``; a NaN stays NaN, with no gradient."""
    return clamp_min0(z, gradient_at_zero=True)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _vector_norm(v: jax.Array, p: float) -> jax.Array:
    """``||v||_p`` over the last axis with torch's subgradients (see ``_vector_norm_jvp``)."""
    a = jnp.abs(v)
    if p == 2:
        return jnp.sqrt(jnp.sum(a * a, axis=-1))
    if p == 1:
        return jnp.sum(a, axis=-1)
    if p == math.inf:
        return jnp.max(a, axis=-1)
    return jnp.sum(a**p, axis=-1) ** (1.0 / p)


@_vector_norm.defjvp
def _vector_norm_jvp(p: float, primals: tuple[jax.Array], tangents: tuple[jax.Array]) -> tuple[jax.Array, jax.Array]:
    """torch's derivative of the p-norm: 0 at a zero vector (``jax.grad`` of ``sqrt`` gives NaN there),
    0 for a zero entry when ``p < 1``, and for ``p = inf`` shared equally between the tied maxima."""
    (v,), (dv,) = primals, tangents
    norm = _vector_norm(v, p)
    n = norm[..., None]
    a = jnp.abs(v)
    if p == math.inf:
        at_max = a == n
        g = jnp.sign(v) * at_max / jnp.sum(at_max, axis=-1, keepdims=True)
    elif p == 2:  # v / ||v|| (the general powers below cost two transcendental calls per entry)
        nonzero_n = n > 0
        g = jnp.where(nonzero_n, v / jnp.where(nonzero_n, n, 1.0), 0.0)
    elif p == 1:
        g = jnp.sign(v)
    else:
        nonzero_v, nonzero_n = v != 0, n > 0
        a_pow = jnp.where(nonzero_v, jnp.where(nonzero_v, a, 1.0) ** (p - 1), 0.0)
        n_pow = jnp.where(nonzero_n, jnp.where(nonzero_n, n, 1.0) ** (1 - p), 0.0)
        g = jnp.sign(v) * a_pow * n_pow
    return norm, jnp.sum(g * dv, axis=-1)


def _pairwise_distance(x1: jax.Array, x2: jax.Array, p: float = 2.0, eps: float | jax.Array = 1e-6) -> jax.Array:
    """torch's ``pairwise_distance``: ``||x1 - x2 + eps||_p`` over the last axis (eps on the signed difference)."""
    return _vector_norm(x1 - x2 + eps, p)


def _batched_floats(**arrays: ArrayLike) -> tuple[tuple[jax.Array, ...], tuple[int, ...]]:
    """Floating arrays of rank >= 1 whose shapes broadcast; returns them and the batch shape (without the last axis)."""
    out = _checks.floating(**arrays)
    for name, x in zip(arrays, out):
        if x.ndim == 0:
            _checks.rank(name, x, 1)  # raises: an embedding needs a feature axis
    full = _checks.broadcast(**dict(zip(arrays, out)))
    return out, full[:-1]


def _triplet(
    anchor: jax.Array,
    positive: jax.Array,
    negative: jax.Array,
    distance: Callable[[jax.Array, jax.Array], jax.Array],
    margin: float | jax.Array,
    swap: bool,
    reduction: Reduction,
    where: ArrayLike | None,
    loss: str,
) -> jax.Array:
    """The triplet formula shared by both triplet losses (torch's, including ``swap``); ``loss``
    names the loss in run-time errors. Triplets that ``where`` drops are replaced by zeros first."""
    if where is not None:
        batch = np.broadcast_shapes(anchor.shape[:-1], positive.shape[:-1], negative.shape[:-1])
        masked = _checks.mask(where, batch)
        anchor, positive, negative = (inert(masked, v, features=1) for v in (anchor, positive, negative))
    d_pos = distance(anchor, positive)
    d_neg = distance(anchor, negative)
    if swap:
        d_neg = jnp.minimum(d_neg, distance(positive, negative))
    per_sample = _clamp_min0(margin + d_pos - d_neg)
    per_sample = flag_invalid(per_sample, jnp.asarray(margin) <= 0, loss=loss, argument="margin",
                              requirement="must be positive")
    return reduce(per_sample, reduction, where=where)


def _normalize(x: jax.Array) -> jax.Array:
    """``torch.nn.functional.normalize(x, dim=-1)``: ``x / max(||x||, 1e-12)``, finite gradient at 0."""
    n = _vector_norm(x, 2)[..., None]
    return x / jnp.where(n < _NORMALIZE_EPS, _NORMALIZE_EPS, n)


def _pair_matrix(embeddings: jax.Array, distance: Distance, normalize_embeddings: bool) -> jax.Array:
    """The ``(N, N)`` matrix of pytorch-metric-learning's ``LpDistance`` (``"euclidean"``) or
    ``CosineSimilarity`` (``"cosine"``; a dot product when not normalised), from one matmul."""
    e = _normalize(embeddings) if normalize_embeddings else embeddings
    gram = jnp.matmul(e, e.T, precision=jax.lax.Precision.HIGHEST)
    if distance == "cosine":
        return gram
    sq = jnp.sum(e * e, axis=-1)
    d2 = jnp.maximum(sq[:, None] + sq[None, :] - 2 * gram, 0.0)
    zero = d2 == 0  # not `d2 > 0`, which would turn a NaN into a zero distance
    return jnp.where(zero, 0.0, jnp.sqrt(jnp.where(zero, 1.0, d2)))  # sqrt with a zero gradient at 0


def _batch_pairs(
    embeddings: ArrayLike, labels: ArrayLike, where: ArrayLike | None, distance: Distance, normalize_embeddings: bool
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Check a batch loss's inputs; return its pair matrix and the positive and negative pair masks.

    A pair ``(i, j)`` takes part when ``i != j`` and ``where`` allows it: a ``(N,)`` mask removes
    samples from the batch, a ``(N, N)`` mask removes single pairs. Positive pairs share a label.
    """
    _checks.choice("distance", distance, _DISTANCES)
    (embeddings,) = _checks.floating(embeddings=embeddings)
    (labels,) = _checks.integer(labels=labels)
    _checks.rank("embeddings", embeddings, 2)
    n = embeddings.shape[0]
    _checks.shape("labels", labels, (n,))
    valid = ~jnp.eye(n, dtype=bool)
    if where is not None:
        where = jnp.asarray(where)
        if where.ndim <= 1:
            keep = _checks.mask(where, (n,))
            valid = valid & keep[:, None] & keep[None, :]
        else:
            valid = valid & _checks.mask(where, (n, n))
    # samples in no pair that counts are replaced by zeros: whatever they hold reaches nothing
    alive = jnp.any(valid, axis=0) | jnp.any(valid, axis=1)
    embeddings = jnp.where(alive[:, None], embeddings, 0.0)
    same = labels[:, None] == labels[None, :]
    return _pair_matrix(embeddings, distance, normalize_embeddings), same & valid, ~same & valid


def _logits(mat: jax.Array, distance: Distance, temperature: float | jax.Array, loss: str) -> jax.Array:
    """Similarities over the temperature (negative distances for ``"euclidean"``), NaN for a
    temperature <= 0 (``loss`` names the loss in run-time errors)."""
    logits = (mat if distance == "cosine" else -mat) / temperature
    return flag_invalid(logits, jnp.asarray(temperature) <= 0, loss=loss, argument="temperature",
                        requirement="must be positive")


# --------------------------------------------------------------------------- torch's losses


@loss(counterpart="`F.margin_ranking_loss`", elementwise=True)
def margin_ranking_loss(
    input1: ArrayLike,
    input2: ArrayLike,
    target: ArrayLike,
    *,
    margin: float | jax.Array = 0.0,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Margin ranking loss, as ``torch.nn.functional.margin_ranking_loss``.

    .. math:: \ell_i = \max(0,\ -y_i (x_{1,i} - x_{2,i}) + \text{margin})

    Args:
      input1: scores ``x1``, any shape.
      input2: scores ``x2``, broadcastable with ``input1``.
      target: ``y``, ``1`` where ``x1`` should rank higher and ``-1`` where ``x2`` should,
        broadcastable with the inputs (floating or integer).
      margin: the margin (traced).
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      where: optional boolean mask; False entries are left out of the loss.

    Returns:
      A scalar, or the broadcast shape of the arguments for ``reduction="none"``.

    torch requires the three arguments to have the same number of dimensions; here they only need to
    broadcast. At the kink (``-y (x1 - x2) + margin = 0``) the gradient is torch's (that of the
    linear part).

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> jl.margin_ranking_loss(jnp.array([1.0, 2.0]), jnp.array([2.0, 0.0]), jnp.array([1.0, 1.0]),
      ...                        margin=0.5, reduction="none")
      Array([1.5, 0. ], dtype=float32)
    """
    input1, input2 = _checks.floating(input1=input1, input2=input2)
    (target,) = _checks.numeric(target=target)
    _checks.broadcast(input1=input1, input2=input2, target=target)
    return reduce(_clamp_min0(-target * (input1 - input2) + margin), reduction, where=where)


@loss(counterpart="`F.hinge_embedding_loss`", elementwise=True)
def hinge_embedding_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    margin: float | jax.Array = 1.0,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Hinge embedding loss, as ``torch.nn.functional.hinge_embedding_loss``.

    .. math:: \ell_i = [y_i \ne 1] \max(0, \text{margin} - x_i) + [y_i \ne -1]\, x_i

    ``x`` is typically a distance, ``y = 1`` for similar and ``-1`` for dissimilar pairs. As in torch,
    a ``y`` that is neither gets both terms.

    Args:
      input: ``x``, any shape.
      target: ``y`` in ``{1, -1}``, broadcastable with ``input`` (floating or integer).
      margin: the margin (traced).
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      where: optional boolean mask; False entries are left out of the loss.

    Returns:
      A scalar, or the broadcast shape of ``input`` and ``target`` for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> jl.hinge_embedding_loss(jnp.array([0.3, 0.3, 0.3]), jnp.array([1, -1, 0]), reduction="none")
      Array([0.3, 0.7, 1. ], dtype=float32)
    """
    (input,) = _checks.floating(input=input)
    (target,) = _checks.numeric(target=target)
    _checks.broadcast(input=input, target=target)
    per_element = jnp.where(target != 1, _clamp_min0(margin - input), 0.0) + jnp.where(target != -1, input, 0.0)
    return reduce(per_element, reduction, where=where)


@loss(counterpart="`F.cosine_embedding_loss`")
def cosine_embedding_loss(
    input1: ArrayLike,
    input2: ArrayLike,
    target: ArrayLike,
    *,
    margin: float | jax.Array = 0.0,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Cosine embedding loss, as ``torch.nn.functional.cosine_embedding_loss``.

    .. math::
       \ell_i = \begin{cases} 1 - \cos_i & y_i = 1 \\ \max(0, \cos_i - \text{margin}) & y_i = -1 \\
                              0 & \text{otherwise} \end{cases}, \qquad
       \cos_i = \frac{x_{1,i} \cdot x_{2,i}}{\sqrt{(\|x_{1,i}\|^2 + 10^{-12})(\|x_{2,i}\|^2 + 10^{-12})}}

    The ``1e-12`` added to each squared norm is torch's, so a zero vector has ``cos = 0`` (loss 1 for
    ``y = 1``) and finite gradients, exactly as in torch. Where torch's ``sqrt(sq1 * sq2)`` overflows
    float32 (norms beyond about ``1e9.5``, where torch gives ``cos = 0`` for any pair) or its gradient
    underflows, the two norms are taken separately: the value is right up to norms of about ``1e19``,
    the gradient to at least ``1e10`` (at ``1e15`` its ``-cos x / |x|^2`` term is still lost).

    Args:
      input1: embeddings ``(..., D)`` (torch: ``(N, D)`` or ``(D,)``).
      input2: embeddings broadcastable with ``input1``.
      target: ``y`` in ``{1, -1}``, broadcastable to the batch shape ``(...)`` (floating or integer).
      margin: the margin for dissimilar pairs (traced).
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      where: optional boolean mask over the batch; False samples are left out of the loss.

    Returns:
      A scalar, or the batch shape ``(...)`` for ``reduction="none"``.

    Beyond torch: any number of batch dimensions.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> x1 = jnp.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
      >>> x2 = jnp.array([[0.0, 1.0], [1.0, 1.0], [1.0, 2.0]])
      >>> jl.cosine_embedding_loss(x1, x2, jnp.array([1, -1, 1]), margin=0.5, reduction="none")
      Array([1. , 0.5, 1. ], dtype=float32)
    """
    (input1, input2), batch = _batched_floats(input1=input1, input2=input2)
    target = _checks.broadcastable_to("target", _checks.numeric(target=target)[0], batch, "the batch shape of the inputs")
    if where is not None:
        masked = _checks.mask(where, batch)
        input1, input2, target = inert(masked, input1, features=1), inert(masked, input2, features=1), inert(masked, target)
    dot = jnp.sum(input1 * input2, axis=-1)
    sq1 = jnp.sum(input1 * input1, axis=-1) + _COSINE_EPS
    sq2 = jnp.sum(input2 * input2, axis=-1) + _COSINE_EPS
    # torch's denominator sqrt(sq1 * sq2), to the bit, while sq1 * sq2 < 1e30; beyond, it overflows (norms
    # ~1e9.5) and its gradient, ~cos / (sq1 * sq2), flushes to zero in float32, so the norms are taken separately
    prod = sq1 * sq2
    fits = prod < 1e30
    separate = (dot / jnp.sqrt(sq1)) / jnp.sqrt(sq2)  # one norm at a time: the gradient's 1/norm^2 stays finite
    cos = jnp.where(fits, dot / jnp.sqrt(jnp.where(fits, prod, 1.0)), separate)
    per_sample = jnp.where(target == 1, 1 - cos, 0.0) + jnp.where(target == -1, _clamp_min0(cos - margin), 0.0)
    return reduce(per_sample, reduction, where=where)


@loss(counterpart="`F.triplet_margin_loss`", static=("p", "swap"), custom_gradient=True)
def triplet_margin_loss(
    anchor: ArrayLike,
    positive: ArrayLike,
    negative: ArrayLike,
    *,
    margin: float | jax.Array = 1.0,
    p: float = 2,
    eps: float | jax.Array = 1e-6,
    swap: bool = False,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Triplet margin loss, as ``torch.nn.functional.triplet_margin_loss``.

    .. math::
       \ell_i = \max(0,\ \text{margin} + d(a_i, p_i) - d(a_i, n_i)), \qquad
       d(x, y) = \|x - y + \epsilon\|_p

    As in torch, ``eps`` is added to the signed difference (so ``d`` is not symmetric), and with
    ``swap=True`` the negative distance is ``min(d(a, n), d(p, n))``.

    Args:
      anchor: embeddings ``(..., D)`` (torch: ``(N, D)`` or ``(D,)``).
      positive: embeddings broadcastable with ``anchor``.
      negative: embeddings broadcastable with ``anchor``.
      margin: the margin, > 0 (traced). torch raises for ``margin <= 0``; here the margin may be a
        traced value, so the loss is NaN instead and :func:`jaxloss.checked` reports it.
      p: the norm degree, > 0, ``math.inf`` allowed (static). torch also accepts degenerate
        ``p <= 0``; here it raises ``ValueError``.
      eps: added to the difference before the norm (traced).
      swap: use the distance swap of Balntas et al. (static).
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      where: optional boolean mask over the batch; False triplets are left out of the loss.

    Returns:
      A scalar, or the batch shape ``(...)`` for ``reduction="none"``.

    Gradients are torch's and finite where the distance is 0 (identical anchor and positive with
    ``eps=0``): the norm has a custom derivative, 0 at a zero vector, like torch's.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> jl.triplet_margin_loss(jnp.array([[1.0]]), jnp.array([[0.0]]), jnp.array([[2.0]]))
      Array(1.0000019, dtype=float32)
    """
    if not (isinstance(p, (int, float)) and p > 0):
        raise fail(ValueError, f"p={p!r} is not supported; expected a positive number or math.inf")
    (anchor, positive, negative), _ = _batched_floats(anchor=anchor, positive=positive, negative=negative)
    distance = functools.partial(_pairwise_distance, p=p, eps=eps)
    return _triplet(anchor, positive, negative, distance, margin, swap, reduction, where, "triplet_margin_loss")


@loss(counterpart="`F.triplet_margin_with_distance_loss`", static=("distance_function", "swap"), custom_gradient=True)
def triplet_margin_with_distance_loss(
    anchor: ArrayLike,
    positive: ArrayLike,
    negative: ArrayLike,
    *,
    distance_function: Callable[[jax.Array, jax.Array], jax.Array] | None = None,
    margin: float | jax.Array = 1.0,
    swap: bool = False,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Triplet loss with any distance, as ``torch.nn.functional.triplet_margin_with_distance_loss``.

    .. math:: \ell_i = \max(0,\ \text{margin} + d(a_i, p_i) - d(a_i, n_i))

    Args:
      anchor: embeddings ``(..., D)``.
      positive: embeddings broadcastable with ``anchor``.
      negative: embeddings broadcastable with ``anchor``.
      distance_function: a JAX function of two embedding arrays returning their distances (batch
        shape), static: pass the same function object each call (a new ``lambda`` per call
        recompiles). Default: torch's ``pairwise_distance`` (``p=2``, ``eps=1e-6``), with a finite
        gradient at distance 0.
      margin: the margin, > 0 (traced); a non-positive margin gives NaN (torch raises), reported by
        :func:`jaxloss.checked`.
      swap: use ``min(d(a, n), d(p, n))`` as the negative distance (static).
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      where: optional boolean mask over the batch; False triplets are left out of the loss.

    Returns:
      A scalar, or the batch shape for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> l1 = lambda x, y: jnp.sum(jnp.abs(x - y), axis=-1)
      >>> a, p, n = jnp.zeros((1, 2)), jnp.ones((1, 2)), jnp.array([[1.0, 0.0]])
      >>> jl.triplet_margin_with_distance_loss(a, p, n, distance_function=l1, margin=0.5)
      Array(1.5, dtype=float32)
    """
    (anchor, positive, negative), _ = _batched_floats(anchor=anchor, positive=positive, negative=negative)
    distance = _pairwise_distance if distance_function is None else distance_function
    return _triplet(anchor, positive, negative, distance, margin, swap, reduction, where, "triplet_margin_with_distance_loss")


# --------------------------------------------------------------------------- pytorch-metric-learning's losses


@loss(
    counterpart="pytorch-metric-learning `ContrastiveLoss`",
    static=("distance", "normalize_embeddings"),
    custom_gradient=True,
)
def contrastive_loss(
    embeddings: ArrayLike,
    labels: ArrayLike,
    *,
    pos_margin: float | jax.Array = 0.0,
    neg_margin: float | jax.Array = 1.0,
    distance: Distance = "euclidean",
    normalize_embeddings: bool = True,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Contrastive loss over all pairs of a batch, as pytorch-metric-learning's ``ContrastiveLoss``.

    .. math::
       \ell_{ij} = \begin{cases} \max(0,\ d_{ij} - m_+) & y_i = y_j \\
                                 \max(0,\ m_- - d_{ij}) & y_i \ne y_j \end{cases}
       \quad (i \ne j), \qquad
       \text{mean} = \frac{\sum_{+} \ell_{ij}}{\#\{+ : \ell_{ij} > 0\}}
                   + \frac{\sum_{-} \ell_{ij}}{\#\{- : \ell_{ij} > 0\}}

    With ``distance="cosine"`` the pair value is a similarity ``s`` and the hinges are
    ``max(0, m+ - s)`` and ``max(0, s - m-)`` (so use e.g. ``pos_margin=1, neg_margin=0``).
    ``"mean"`` is pytorch-metric-learning's default ``AvgNonZeroReducer``: positive and negative
    pair losses are each averaged over the pairs whose loss is non-zero (0 if there are none), and the
    two averages added. (A NaN pair loss counts as non-zero, so it propagates instead of being dropped
    as ``losses[losses > 0]`` drops it in pytorch-metric-learning.)

    Args:
      embeddings: ``(N, D)``.
      labels: ``(N,)`` integer labels; pairs with equal labels are positive.
      pos_margin: ``m+`` (traced).
      neg_margin: ``m-`` (traced).
      distance: ``"euclidean"`` (``LpDistance(p=2)``) or ``"cosine"`` (``CosineSimilarity``), static.
      normalize_embeddings: L2-normalise the embeddings first, as pytorch-metric-learning's distances
        do by default (static). ``"cosine"`` without normalisation is a dot product.
      reduction: ``"mean"`` (as above), ``"sum"`` (over all pairs) or ``"none"``.
      where: optional boolean mask: ``(N,)`` leaves samples out of every pair (padding), ``(N, N)``
        leaves single pairs out.

    Returns:
      A scalar, or the ``(N, N)`` pair losses (0 on the diagonal and for masked pairs) for
      ``reduction="none"``.

    The distance matrix comes from one matrix product, ``sqrt(max(|a|^2 + |b|^2 - 2 a.b, 0))``
    (as ``torch.cdist`` computes it for more than 25 rows), with a zero gradient at distance 0.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> e = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
      >>> jl.contrastive_loss(e, jnp.array([0, 0, 1]))  # (sqrt(2) + sqrt(2)) / 2 + (1 + 1) / 2
      Array(2.4142137, dtype=float32)
    """
    check_reduction(reduction)
    mat, pos, neg = _batch_pairs(embeddings, labels, where, distance, normalize_embeddings)
    if distance == "euclidean":
        pos_loss, neg_loss = jax.nn.relu(mat - pos_margin), jax.nn.relu(neg_margin - mat)
    else:
        pos_loss, neg_loss = jax.nn.relu(pos_margin - mat), jax.nn.relu(mat - neg_margin)
    pos_loss, neg_loss = jnp.where(pos, pos_loss, 0.0), jnp.where(neg, neg_loss, 0.0)
    if reduction == "mean":
        # average over the non-zero losses; `!= 0` rather than `> 0` so that a NaN is counted and shows
        return reduce(pos_loss, "mean", where=pos_loss != 0) + reduce(neg_loss, "mean", where=neg_loss != 0)
    return reduce(pos_loss + neg_loss, reduction)


@loss(
    counterpart="pytorch-metric-learning `NTXentLoss`; optax `ntxent`",
    static=("distance", "normalize_embeddings"),
    stable_form="log-space",
    custom_gradient=True,
)
def ntxent_loss(
    embeddings: ArrayLike,
    labels: ArrayLike,
    *,
    temperature: float | jax.Array = 0.07,
    distance: Distance = "cosine",
    normalize_embeddings: bool = True,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""NT-Xent (InfoNCE) loss over a batch, as pytorch-metric-learning's ``NTXentLoss``.

    For every positive pair ``(a, p)`` (same label, ``a != p``) the positive competes with the
    anchor's negatives ``N(a)`` (different labels):

    .. math::
       \ell_{ap} = -\log \frac{e^{s_{ap}/\tau}}{e^{s_{ap}/\tau} + \sum_{n \in N(a)} e^{s_{an}/\tau}}

    and ``"mean"`` averages over the positive pairs. Anchors without a positive contribute nothing; a
    batch without any positive pair gives 0 (with zero gradient). SimCLR's two views of ``B`` images
    are ``2B`` embeddings whose labels are the image indices.

    Args:
      embeddings: ``(N, D)``.
      labels: ``(N,)`` integer labels.
      temperature: ``tau`` > 0 (traced); a non-positive value gives NaN, reported by
        :func:`jaxloss.checked`.
      distance: ``"cosine"`` (default, ``s`` = cosine similarity) or ``"euclidean"`` (``s`` = minus
        the Euclidean distance), static.
      normalize_embeddings: L2-normalise first (static); ``"cosine"`` without it is a dot product.
      reduction: ``"mean"`` (over positive pairs), ``"sum"`` or ``"none"``.
      where: optional boolean mask: ``(N,)`` leaves samples out of the batch, ``(N, N)`` leaves
        single pairs out (a masked negative leaves the denominator).

    Returns:
      A scalar, or the ``(N, N)`` pair losses (0 except at positive pairs) for ``reduction="none"``.

    Memory is ``O(N^2)``: one similarity matrix, never the ``(N, N, D)`` array of ``optax.ntxent``
    (which computes the same value). pytorch-metric-learning adds the smallest normal float inside
    the log, which caps a pair's loss at about 87.3 in float32; this loss is computed in log space
    and is not capped.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> e = jnp.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
      >>> jl.ntxent_loss(e, jnp.array([0, 0, 1]), temperature=1.0)  # log(1 + e^-1) = 0.3132617
      Array(0.313261..., dtype=float32)
    """
    check_reduction(reduction)
    mat, pos, neg = _batch_pairs(embeddings, labels, where, distance, normalize_embeddings)
    logits = _logits(mat, distance, temperature, "ntxent_loss")
    per_pair = jax.nn.softplus(softmax.logsumexp(logits, neg)[:, None] - logits)
    return reduce(per_pair, reduction, where=pos)


@loss(
    counterpart="pytorch-metric-learning `SupConLoss`",
    static=("distance", "normalize_embeddings"),
    stable_form="log-space",
    custom_gradient=True,
)
def supervised_contrastive_loss(
    embeddings: ArrayLike,
    labels: ArrayLike,
    *,
    temperature: float | jax.Array = 0.1,
    distance: Distance = "cosine",
    normalize_embeddings: bool = True,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Supervised contrastive loss (SupCon, Khosla et al. 2020), as pytorch-metric-learning's ``SupConLoss``.

    For each anchor ``a`` with positives ``P(a)`` (same label, ``!= a``) and all other samples
    ``A(a) = P(a) \cup N(a)``:

    .. math::
       \ell_a = -\frac{1}{|P(a)|} \sum_{p \in P(a)} \log \frac{e^{s_{ap}/\tau}}{\sum_{k \in A(a)} e^{s_{ak}/\tau}}

    ``"mean"`` averages over the anchors that have at least one positive; the others contribute
    nothing (0 in ``"none"``), and a batch with none gives 0 with zero gradient.

    Args:
      embeddings: ``(N, D)``.
      labels: ``(N,)`` integer labels.
      temperature: ``tau`` > 0 (traced); a non-positive value gives NaN, reported by
        :func:`jaxloss.checked`.
      distance: ``"cosine"`` (default) or ``"euclidean"`` (``s`` = minus the distance), static.
      normalize_embeddings: L2-normalise first (static); ``"cosine"`` without it is a dot product.
      reduction: ``"mean"`` (over anchors with a positive), ``"sum"`` or ``"none"``.
      where: optional boolean mask: ``(N,)`` leaves samples out of the batch, ``(N, N)`` leaves
        single pairs out.

    Returns:
      A scalar, or the ``(N,)`` per-anchor losses for ``reduction="none"``.

    Deviations from pytorch-metric-learning: it returns 0 for a whole batch that has no negative
    pair, and its default ``AvgNonZeroReducer`` also leaves out anchors whose loss is exactly 0; here
    every anchor with a positive counts. Memory is ``O(N^2)``.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> e = jnp.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
      >>> jl.supervised_contrastive_loss(e, jnp.array([0, 0, 1]), temperature=1.0)  # log(1 + e^-1)
      Array(0.313261..., dtype=float32)
    """
    check_reduction(reduction)
    mat, pos, neg = _batch_pairs(embeddings, labels, where, distance, normalize_embeddings)
    logits = _logits(mat, distance, temperature, "supervised_contrastive_loss")
    num_pos = jnp.sum(pos, axis=-1)
    has_pos = num_pos > 0
    mean_pos_logit = jnp.sum(jnp.where(pos, logits, 0.0), axis=-1) / jnp.maximum(num_pos, 1)
    per_anchor = softmax.logsumexp(logits, pos | neg) - mean_pos_logit
    return reduce(per_anchor, reduction, where=has_pos)
