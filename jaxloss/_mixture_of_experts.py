"""Mixture-of-experts router losses: load balancing (Switch/GShard, DeepSeek-V3's sequence-wise
balance) and the router z-loss.

Each takes router logits ``(..., E)`` (one row of ``E`` expert logits per token) and a token mask.
The balance losses depend on statistics of all the tokens (the fraction routed to each expert), so
under data parallelism a per-device loss would balance each device's tokens only: inside
``jax.shard_map``, ``axis_name=`` names the mesh axes the tokens are sharded over, the statistics
and the mean's denominator are ``psum``med across them, and every device gets the one-device result.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from jaxloss._core import checks as _checks
from jaxloss._core.decorator import loss
from jaxloss._core.errors import fail
from jaxloss._core.numerics import varying_like
from jaxloss._core.reduction import AxisName, Reduction, check_reduction, inert, reduce_over, safe_divide


def _logits(router_logits: ArrayLike, min_rank: int, what: str) -> jax.Array:
    (x,) = _checks.floating(router_logits=router_logits)
    if x.ndim < min_rank:
        raise fail(ValueError, f"`router_logits` has shape {tuple(x.shape)}, expected {what}")
    return x


def _token_mask(name: str, mask: ArrayLike | None, shape: tuple[int, ...]) -> jax.Array:
    """A boolean mask broadcast to ``shape`` (all True when None)."""
    if mask is None:
        return jnp.ones(shape, jnp.bool_)
    mask = jnp.asarray(mask)
    if mask.dtype != jnp.bool_:
        raise fail(TypeError, f"`{name}` must be a boolean array, got dtype {mask.dtype}")
    return _checks.broadcastable_to(name, mask, shape, "the tokens of shape")


def _top_k_choices(x: jax.Array, top_k: int) -> jax.Array:
    """``(..., E)`` with 1 at the ``top_k`` largest logits of each row (the softmax's or sigmoid's
    top-k: both are increasing), 0 elsewhere; no gradient (an indicator)."""
    experts = x.shape[-1]
    if not isinstance(top_k, int) or not 1 <= top_k <= experts:
        raise fail(ValueError, f"top_k={top_k!r} must be an integer between 1 and the number of experts, "
                               f"{experts} (the last axis of `router_logits` {tuple(x.shape)})")
    _, chosen = lax.top_k(lax.stop_gradient(x), top_k)
    return jnp.sum(jax.nn.one_hot(chosen, experts, dtype=x.dtype), axis=-2)


@loss(counterpart="transformers `load_balancing_loss_func`", static=("top_k", "axis_name"))
def load_balancing_loss(
    router_logits: ArrayLike,
    *,
    top_k: int = 2,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
    axis_name: AxisName | None = None,
) -> jax.Array:
    r"""Switch Transformer / GShard auxiliary load-balancing loss, as transformers' ``load_balancing_loss_func``.

    With :math:`p_t = \mathrm{softmax}(z_t)` the router probabilities of token :math:`t` among
    :math:`E` experts and :math:`N` the tokens that count,

    .. math::
       f_e = \frac1N \sum_t [e \in \mathrm{top}_k(p_t)], \qquad
       P_e = \frac1N \sum_t p_{t,e}, \qquad
       \mathcal{L} = E \sum_e f_e P_e = \frac1N \sum_t \ell_t, \quad \ell_t = E \sum_e f_e\, p_{t,e}

    :math:`f` (which sums to :math:`k`) is a count and carries no gradient; the gradient reaches
    the logits through :math:`P`. Uniform routing gives :math:`k`.

    Args:
      router_logits: ``(..., E)``: every leading axis indexes tokens. Mixtral's tuple of per-layer
        ``(batch * seq, E)`` gate logits is ``jnp.stack(gate_logits)``, ``(layers, batch * seq, E)``:
        the statistics pool all layers' tokens, as transformers does.
      top_k: experts per token (static; transformers' ``top_k``, Mixtral's ``num_experts_per_tok``).
      reduction: ``"mean"`` (the loss :math:`\mathcal{L}`), ``"sum"`` (:math:`N \mathcal{L}`) or
        ``"none"`` (the per-token terms :math:`\ell_t`, 0 for masked tokens, whose mean is the loss).
      where: token mask broadcastable to ``router_logits.shape[:-1]`` (transformers'
        ``attention_mask``, e.g. ``(batch, seq)`` against ``(layers, batch, seq, E)``): False
        tokens are left out of :math:`f`, :math:`P` and :math:`N`, whatever their logits hold.
        Every token masked gives 0 with a zero gradient.
      axis_name: inside ``jax.shard_map``, the mesh axis (or axes) the tokens are sharded over:
        :math:`f`, :math:`N` and the sums are taken over all of them (static).

    Returns:
      A scalar, or ``router_logits.shape[:-1]`` for ``reduction="none"``.

    Multiply by the auxiliary-loss coefficient (Mixtral's ``router_aux_loss_coef``) yourself.
    Deviation: transformers returns 0 (an int) when it gets no logits and NaN when every token is
    masked; here the latter is 0.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> logits = jnp.array([[2.0, 1.0, 0.0], [2.0, 0.0, 1.0], [0.0, 2.0, 1.0]])
      >>> jl.load_balancing_loss(logits, top_k=1)  # f = (2/3, 1/3, 0), P = (0.4734, 0.3333, 0.1933)
      Array(1.2803416, dtype=float32)
    """
    x = _logits(router_logits, 1, "(..., E) with an expert axis")
    check_reduction(reduction)
    keep = _token_mask("where", where, x.shape[:-1])
    x = inert(keep, x, features=1)
    counted = varying_like(keep.astype(x.dtype), x)[..., None]
    counts, tokens = jnp.sum(counted * _top_k_choices(x, top_k), axis=tuple(range(x.ndim - 1))), jnp.sum(counted)
    if axis_name is not None:
        counts, tokens = lax.psum((counts, tokens), axis_name)
    fraction = safe_divide(counts, tokens)
    per_token = x.shape[-1] * jnp.sum(jax.nn.softmax(x, axis=-1) * fraction, axis=-1)
    return reduce_over(per_token, reduction, axis_name, where=keep, divide_by=jnp.ones_like(per_token))


@loss(counterpart="transformers `router_z_loss_func`", static=("axis_name",))
def router_z_loss(
    router_logits: ArrayLike,
    *,
    reduction: Reduction = "mean",
    where: ArrayLike | None = None,
    axis_name: AxisName | None = None,
) -> jax.Array:
    r"""Router z-loss (ST-MoE), as transformers' ``router_z_loss_func``: keeps the router logits small.

    .. math:: \ell_t = \Big(\log \sum_{e=1}^{E} e^{z_{t,e}}\Big)^2

    Args:
      router_logits: ``(..., E)``: every leading axis indexes tokens (transformers takes
        ``(groups, tokens, E)``).
      reduction: ``"mean"`` (over the tokens that count: transformers' value), ``"sum"`` or
        ``"none"`` (one value per token).
      where: token mask broadcastable to ``router_logits.shape[:-1]``; False tokens are left out.
      axis_name: inside ``jax.shard_map``, the mesh axis (or axes) the tokens are sharded over: the
        mean is over the tokens of all of them (static).

    Returns:
      A scalar, or ``router_logits.shape[:-1]`` for ``reduction="none"``.

    The log-sum-exp is shift-stable (``jax.nn.logsumexp``). Multiply by the z-loss coefficient
    (ST-MoE's ``1e-3``) yourself.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> jl.router_z_loss(jnp.array([[0.0, 0.0], [1.0, -1.0]]), reduction="none")  # (log 2)^2, log(e + 1/e)^2
      Array([0.480453, 1.269967], dtype=float32)
    """
    x = _logits(router_logits, 1, "(..., E) with an expert axis")
    check_reduction(reduction)
    keep = _token_mask("where", where, x.shape[:-1])
    per_token = jnp.square(jax.nn.logsumexp(inert(keep, x, features=1), axis=-1))
    return reduce_over(per_token, reduction, axis_name, where=keep, divide_by=jnp.ones_like(per_token))


@loss(counterpart="DeepSeek-V3 (2024) sequence-wise balance loss, eqs. 17-20",
      static=("top_k", "affinity", "axis_name"))
def sequence_balance_loss(
    router_logits: ArrayLike,
    *,
    top_k: int,
    affinity: str = "sigmoid",
    reduction: Reduction = "mean",
    token_mask: ArrayLike | None = None,
    where: ArrayLike | None = None,
    axis_name: AxisName | None = None,
) -> jax.Array:
    r"""DeepSeek-V3's complementary sequence-wise balance loss, one value per sequence.

    For one sequence of :math:`T` tokens, :math:`N_r` routed experts and :math:`K_r` = ``top_k``,
    with affinities :math:`s_{i,t}` (the sigmoid of the logits, DeepSeek-V3's gate) normalised over
    the experts, :math:`s'_{i,t} = s_{i,t} / \sum_j s_{j,t}`:

    .. math::
       f_i = \frac{N_r}{K_r T} \sum_{t=1}^{T} [s_{i,t} \in \mathrm{Topk}(\{s_{j,t}\}, K_r)], \qquad
       P_i = \frac1T \sum_{t=1}^{T} s'_{i,t}, \qquad
       \ell = \sum_{i=1}^{N_r} f_i P_i

    :math:`f` is a count and carries no gradient. Balanced routing gives 1. The selection is the
    paper's top-k of :math:`s` (the bias that DeepSeek-V3's auxiliary-loss-free balancing adds for
    routing is not part of the loss).

    Args:
      router_logits: ``(..., T, E)``: sequences of ``T`` tokens' logits over ``E`` experts.
      top_k: :math:`K_r`, experts per token (static).
      affinity: ``"sigmoid"`` (DeepSeek-V3) or ``"softmax"`` (DeepSeek-V2, Mixtral: then
        :math:`s' = s`) (static).
      reduction: ``"mean"`` (over the sequences that count), ``"sum"`` or ``"none"`` (one value per
        sequence, shape ``(...)``).
      token_mask: padding mask broadcastable to ``(..., T)``: False tokens are left out of
        :math:`f`, :math:`P` and :math:`T`, whatever their logits hold. A sequence with no token
        gives 0 and does not count in the mean.
      where: optional boolean mask over the sequences, broadcastable to ``(...)``; False
        sequences are left out.
      axis_name: inside ``jax.shard_map``, the mesh axis (or axes) the sequences are sharded over:
        the mean is over the sequences of all of them (static).

    Returns:
      A scalar, or ``router_logits.shape[:-2]`` for ``reduction="none"``.

    Multiply by the balance factor :math:`\alpha` (DeepSeek-V3 uses 1e-4) yourself.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> logits = jnp.array([[[1.0, 0.0], [1.0, 0.0]]])  # both tokens pick expert 0
      >>> jl.sequence_balance_loss(logits, top_k=1, reduction="none")  # f = (2, 0), P_0 = s'_0 = 0.5938
      Array([1.187691], dtype=float32)
    """
    x = _logits(router_logits, 2, "(..., T, E): sequences of tokens' expert logits")
    check_reduction(reduction)
    _checks.choice("affinity", affinity, ("sigmoid", "softmax"))
    sequences = x.shape[:-2]
    counts_sequence = _token_mask("where", where, sequences)
    tokens_kept = _token_mask("token_mask", token_mask, x.shape[:-1]) & counts_sequence[..., None]
    x = inert(tokens_kept, x, features=1)
    experts = x.shape[-1]
    if affinity == "sigmoid":
        s = jax.nn.sigmoid(x)
        s = s / jnp.sum(s, axis=-1, keepdims=True)
    else:
        s = jax.nn.softmax(x, axis=-1)
    counted = tokens_kept.astype(x.dtype)[..., None]
    tokens = jnp.sum(counted, axis=(-2, -1))
    fraction = safe_divide(experts * jnp.sum(counted * _top_k_choices(x, top_k), axis=-2), top_k * tokens[..., None])
    probability = safe_divide(jnp.sum(counted * s, axis=-2), tokens[..., None])
    per_sequence = jnp.sum(fraction * probability, axis=-1)
    return reduce_over(per_sequence, reduction, axis_name, where=counts_sequence & (tokens > 0),
                       divide_by=jnp.ones_like(per_sequence))
