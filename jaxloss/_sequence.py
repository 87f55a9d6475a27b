"""Sequence losses: connectionist temporal classification (CTC).

The CTC likelihood is a sum over every alignment of the target with the input frames. It is computed
by the forward (alpha) recursion over time in log space, and its gradient by the backward (beta)
recursion in a ``jax.custom_vjp``: exact, finite, and without autodiff's tape of every scan step.
The value alone runs the alpha recursion and stores nothing; the value with its gradient runs both
recursions in one loop that meets in the middle (see ``_ctc_nll_fwd``).

Layout of the lattice. A target ``l_1 .. l_S`` is extended with blanks, ``_ l_1 _ l_2 _ .. l_S _``.
The recursions keep the blank states (``S + 1`` of them: blank ``k`` precedes label ``k``) and the
label states (``S``) in two arrays, so that the blank emission is one number per frame; one gather
takes the emissions ``log_probs[n, t, [blank, targets[n, k]...]]`` (no one-hot product over the
classes). In log space ``log(0)`` is represented by the finite stand-in ``_NEG``: ``logaddexp``
of two ``-inf`` has a NaN gradient and ``-inf - -inf`` is NaN, a finite number has neither problem.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxloss._core import checks as _checks
from jaxloss._core.decorator import loss
from jaxloss._core.errors import fail
from jaxloss._core.numerics import varying_like
from jaxloss._core.reduction import Reduction, inert, reduce
from jaxloss._core.runtime import flag_invalid

_NEG = -1e30
"""Finite stand-in for ``log(0)``: states at or below ``_NEG / 2`` are unreachable."""


def _logaddexp(x: jax.Array, y: jax.Array) -> jax.Array:
    """``log(exp(x) + exp(y))`` for finite ``x``, ``y`` (``-inf`` is replaced by ``_NEG``).

    ``log(1 + z)`` instead of ``log1p(z)`` is deliberate: it is markedly faster on CPU, and where they
    differ (``z < 6e-8``) the difference is below float32's rounding of the result.
    """
    return jnp.maximum(x, y) + jnp.log(1.0 + jnp.exp(-jnp.abs(x - y)))


def _unreachable(rows: jax.Array) -> jax.Array:
    """A column of ``_NEG`` with the rows (and dtype) of ``rows``."""
    return jnp.full((rows.shape[0], 1), _NEG, rows.dtype)


def _alpha_step(
    a_blank: jax.Array, a_label: jax.Array, e_blank: jax.Array, e_label: jax.Array, repeat: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Forward recursion, one frame: log-probabilities of the prefixes ending in each state.

    Blank ``k`` is entered from itself and from label ``k - 1``; label ``k`` from itself, blank ``k``
    and, unless it repeats label ``k - 1``, from label ``k - 1``. Entering label ``k`` from blank ``k``
    or label ``k - 1`` is exactly what entering blank ``k`` sums, so it is computed once.
    """
    into_blank = _logaddexp(a_blank, jnp.concatenate([_unreachable(a_label), a_label], axis=1))
    into_label = _logaddexp(a_label, jnp.where(repeat, a_blank[:, :-1], into_blank[:, :-1]))
    return jnp.maximum(into_blank + e_blank, _NEG), jnp.maximum(into_label + e_label, _NEG)


def _beta_step(b_blank: jax.Array, b_label: jax.Array, repeat_next: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Backward recursion, one frame: log-probabilities of the suffixes that follow each state.

    ``b_*`` hold the suffix log-probabilities from the next frame on (its emission included); the
    result excludes this frame's emission. Blank ``k`` goes to itself or label ``k``; label ``k`` to
    itself, blank ``k + 1`` and, unless label ``k + 1`` repeats it, label ``k + 1``.
    """
    from_blank = _logaddexp(b_blank, jnp.concatenate([b_label, _unreachable(b_label)], axis=1))
    from_label = _logaddexp(b_label, jnp.where(repeat_next, b_blank[:, 1:], from_blank[:, 1:]))
    return from_blank, from_label


def _emissions(log_probs: jax.Array, labels: jax.Array, blank: int) -> jax.Array:
    """Time-major emissions ``(T, N, 1 + S)``: the blank's, then each label's; ``-inf`` made finite.

    One gather for both (a separate slice for the blank makes XLA's CPU gather several times slower).
    """
    index = jnp.concatenate([jnp.full((labels.shape[0], 1), blank, labels.dtype), labels], axis=1)
    frames = jnp.swapaxes(log_probs, 0, 1)
    return jnp.maximum(jnp.take_along_axis(frames, index[None], axis=2, mode="promise_in_bounds"), _NEG)


def _repeats(labels: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(N, S)`` masks: label ``k`` equals label ``k - 1``; label ``k + 1`` equals label ``k``."""
    n, s = labels.shape
    same = labels[:, 1:] == labels[:, :-1]
    edge = jnp.zeros((n, min(s, 1)), bool)
    return jnp.concatenate([edge, same], axis=1), jnp.concatenate([same, edge], axis=1)


def _start(n: int, s: int, emissions: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Alphas before the first frame: only the initial blank is reached (with probability 1).

    Typed as varying like ``emissions`` under ``shard_map``, as a scan carry must be."""
    blank, label = jnp.full((n, s + 1), _NEG, emissions.dtype).at[:, 0].set(0.0), jnp.full((n, s), _NEG, emissions.dtype)
    return varying_like(blank, emissions), varying_like(label, emissions)


def _ends(target_lengths: jax.Array, s: int, dtype: Any) -> tuple[jax.Array, jax.Array]:
    """Log-indicators ``(N, S + 1)``, ``(N, S)`` of the two states a sequence may end in."""
    k = jnp.arange(s + 1)
    end_blank = jnp.where(k == target_lengths[:, None], 0.0, _NEG).astype(dtype)
    end_label = jnp.where(k[:s] == target_lengths[:, None] - 1, 0.0, _NEG).astype(dtype)
    return end_blank, end_label


def _alpha_frame(carry: Any, emissions: jax.Array, repeat: jax.Array, live: jax.Array) -> Any:
    """Advance the alphas by one frame, or keep them where the input has already ended."""
    a_blank, a_label = carry
    new = _alpha_step(a_blank, a_label, emissions[:, :1], emissions[:, 1:], repeat)
    return tuple(jnp.where(live[:, None], a, old) for a, old in zip(new, carry))


def _log_likelihood(alphas: tuple[jax.Array, jax.Array], ends: tuple[jax.Array, jax.Array]) -> jax.Array:
    """``log p(target | input)`` from the alphas of the last frame."""
    total = [jnp.max(a + e, axis=1, initial=_NEG) for a, e in zip(alphas, ends)]
    return _logaddexp(*total)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def _ctc_nll(
    log_probs: jax.Array, labels: jax.Array, input_lengths: jax.Array, target_lengths: jax.Array, blank: int
) -> jax.Array:
    """Per-sample CTC negative log-likelihood ``(N,)``, ``inf`` where no alignment exists.

    ``labels`` have the padding replaced by a valid index and lengths lie in range (the caller
    flags bad values). The gradient is the exact one: minus the posterior occupancy of each class.
    """
    n, s = labels.shape
    emissions = _emissions(log_probs, labels, blank)
    repeat, _ = _repeats(labels)

    def step(carry: Any, t: jax.Array) -> tuple[Any, None]:
        return _alpha_frame(carry, emissions[t], repeat, t < input_lengths), None

    alphas, _ = jax.lax.scan(step, _start(n, s, emissions), jnp.arange(emissions.shape[0]))
    log_likelihood = _log_likelihood(alphas, _ends(target_lengths, s, emissions.dtype))
    # written as "impossible" rather than "possible": a NaN input gives a NaN loss, not inf
    return jnp.where(log_likelihood <= _NEG / 2, jnp.inf, -log_likelihood)


def _ctc_nll_fwd(
    log_probs: jax.Array, labels: jax.Array, input_lengths: jax.Array, target_lengths: jax.Array, blank: int
) -> tuple[jax.Array, Any]:
    """Value and gradient together, meeting in the middle.

    The alpha recursion runs forward from the first frame while the beta recursion runs backward
    from the last, in the same loop (half the trips of two loops). Over the first half of the trips
    both are stored; over the second half each recursion meets the other's stored half, so the
    occupancy of two frames is computed per trip and nothing else is stored.
    """
    n, s = labels.shape
    emissions = _emissions(log_probs, labels, blank)
    t_max, dtype = emissions.shape[0], emissions.dtype
    half = (t_max + 1) // 2  # trips of the first loop; the second makes t_max - half
    repeat, repeat_next = _repeats(labels)
    ends = _ends(target_lengths, s, dtype)

    def beta_frame(betas: Any, u: jax.Array) -> tuple[Any, Any]:
        """What follows frame ``u`` (``_NEG`` past the input's end) and the betas of frame ``u``."""
        b_blank, b_label = betas
        last, ended = (u == input_lengths - 1)[:, None], (u >= input_lengths)[:, None]
        after = tuple(
            jnp.where(ended, _NEG, jnp.where(last, end, b))
            for end, b in zip(ends, _beta_step(b_blank, b_label, repeat_next))
        )
        e = emissions[u]
        return after, (jnp.maximum(after[0] + e[:, :1], _NEG), jnp.maximum(after[1] + e[:, 1:], _NEG))

    def first(carry: Any, t: jax.Array) -> tuple[Any, Any]:
        alphas = _alpha_frame(carry[:2], emissions[t], repeat, t < input_lengths)
        after, betas = beta_frame(carry[2:], t_max - 1 - t)
        return (*alphas, *betas), (*alphas, *after)

    start = _start(n, s, emissions)
    carry, stored = jax.lax.scan(first, (*start, *start), jnp.arange(half))
    # The meeting frame half - 1: its alphas, and what follows it.
    mid_alphas = carry[:2]
    if t_max % 2:
        after_mid = (stored[2][-1], stored[3][-1])
    elif t_max:
        after_mid, _ = beta_frame(carry[2:], jnp.asarray(half - 1))
    else:
        after_mid = start
    # log p(target): summed over the states of the meeting frame; a sequence that has ended by then
    # has its final alphas already.
    met = jax.nn.logsumexp(jnp.concatenate([a + b for a, b in zip(mid_alphas, after_mid)], axis=1), axis=1)
    log_z = jnp.where(input_lengths > half, met, _log_likelihood(mid_alphas, ends))
    log_z = jnp.where(log_z <= _NEG / 2, 0.0, log_z)[:, None]

    def occupancy(alphas: Any, after: Any) -> tuple[jax.Array, jax.Array]:
        """Posterior occupancy of the blank (summed over its states) and of each label state."""
        return jnp.exp(alphas[0] + after[0] - log_z).sum(axis=1), jnp.exp(alphas[1] + after[1] - log_z)

    def second(carry: Any, t: jax.Array) -> tuple[Any, Any]:
        u = t_max - 1 - t  # < half: its alphas, and what follows frame t, are stored at index u
        alphas = _alpha_frame(carry[:2], emissions[t], repeat, t < input_lengths)
        after, betas = beta_frame(carry[2:], u)
        kept = [x[u] for x in stored]
        return (*alphas, *betas), (occupancy(alphas, kept[2:]), occupancy(kept[:2], after))

    carry, (late, early) = jax.lax.scan(second, carry, jnp.arange(half, t_max))
    # frames 0 .. t_max - half - 1 (met by the beta recursion, in reverse order), the meeting frame
    # if the count is odd, frames half .. t_max - 1
    pieces = [tuple(x[::-1] for x in early)]
    if t_max % 2:
        pieces.append(tuple(x[None] for x in occupancy(mid_alphas, after_mid)))
    occ_blank, occ_label = (jnp.concatenate(p, axis=0) for p in zip(*pieces, late))
    log_likelihood = _log_likelihood(carry[:2], ends)
    possible = ~(log_likelihood <= _NEG / 2)  # NaN counts as possible: it propagates to value and gradient
    # d nll / d log_probs[n, t, c] = -(occupancy of class c at frame t): a product with the one-hot
    # labels gathers repeated classes (a scatter-add is slower on CPU).
    c = log_probs.shape[-1]
    one_hot = jax.nn.one_hot(labels, c, dtype=dtype)
    occ = jnp.einsum("tns,nsc->ntc", occ_label, one_hot, precision=jax.lax.Precision.HIGHEST)
    occ = occ + jnp.swapaxes(occ_blank, 0, 1)[:, :, None] * (jnp.arange(c) == blank)
    occ = jnp.where(possible[:, None, None], occ, 0.0)
    return jnp.where(possible, -log_likelihood, jnp.inf), (occ, possible, input_lengths)


def _ctc_nll_bwd(blank: int, residuals: Any, g: jax.Array) -> tuple[Any, ...]:
    occupancy, possible, input_lengths = residuals
    # An impossible alignment (inf loss) has no gradient: NaN on its frames, as in torch, unless its
    # cotangent is 0 (zero_infinity, a `where` mask), which gives 0.
    scale = jnp.where(possible, g, jnp.where(g == 0, 0.0, jnp.nan)).astype(occupancy.dtype)
    live = jnp.arange(occupancy.shape[1]) < input_lengths[:, None]
    return jnp.where(live[:, :, None], -scale[:, None, None] * occupancy, 0.0), None, None, None


_ctc_nll.defvjp(_ctc_nll_fwd, _ctc_nll_bwd)


def _length_vector(name: str, lengths: jax.Array, n: int, batched: bool) -> jax.Array:
    if batched:
        _checks.shape(name, lengths, (n,))
    elif lengths.size != 1 or lengths.ndim > 1:
        raise fail(ValueError, f"`{name}` has shape {tuple(lengths.shape)}, expected () or (1,) "
            "for an unbatched `log_probs` of shape (T, C)"
        )
    return lengths.reshape(n).astype(jnp.int32)


@loss(
    counterpart="`F.ctc_loss` (batch-major)",
    static=("blank", "zero_infinity"),
    stable_form="log-probabilities (`log_softmax` output)",
    custom_gradient=True,
)
def ctc_loss(
    log_probs: ArrayLike,
    targets: ArrayLike,
    input_lengths: ArrayLike,
    target_lengths: ArrayLike,
    *,
    blank: int = 0,
    reduction: Reduction = "mean",
    zero_infinity: bool = False,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Connectionist temporal classification loss, as ``torch.nn.functional.ctc_loss``.

    .. math::
       \ell_n = -\log \sum_{\pi \in \mathcal{B}^{-1}(y_n)} \prod_{t=1}^{T_n} p_{n,t}(\pi_t)

    where :math:`\mathcal{B}` removes repeated symbols and then blanks, so the sum runs over every
    alignment :math:`\pi` of length :math:`T_n` (``input_lengths[n]``) of the target
    :math:`y_n` (``targets[n, :target_lengths[n]]``). It is computed by the forward recursion in log
    space; the gradient by the backward recursion (a ``custom_vjp``).

    Args:
      log_probs: ``(N, T, C)`` log-probabilities (``log_softmax`` output), batch-major, as produced
        by a Flax/Haiku model (torch takes ``(T, N, C)``: transpose with ``swapaxes(0, 1)``). An
        unbatched ``(T, C)`` is accepted, with ``(S,)`` targets and scalar lengths.
      targets: ``(N, S)`` integer class indices, padded; entries past ``target_lengths`` are
        ignored. A label equal to ``blank`` or outside ``[0, C)`` gives NaN for that sample.
      input_lengths: ``(N,)`` integer frame counts, in ``[0, T]``.
      target_lengths: ``(N,)`` integer target lengths, in ``[0, S]``.
      blank: index of the blank class (static).
      reduction: ``"mean"`` (each loss divided by its target length, clamped to at least 1, then
        averaged over the samples), ``"sum"`` or ``"none"``.
      zero_infinity: replace the ``inf`` loss of an impossible alignment (a target too long for
        its input) by 0, with a zero gradient (static).
      where: optional ``(N,)`` boolean mask; False samples are left out of the loss.

    Returns:
      A scalar, or the ``(N,)`` per-sample losses for ``reduction="none"``.

    Matches torch in values and gradients, with one deliberate difference in the gradient: torch's
    CTC backward returns the gradient with respect to the logits behind a ``log_softmax`` (it adds
    ``exp(log_probs)``), this returns the true gradient with respect to ``log_probs``; through a
    ``log_softmax`` both give the same gradient for the logits. An impossible alignment gives
    ``inf`` and a NaN gradient, as in torch. Bad lengths (negative, or beyond ``T`` or ``S``) and
    bad labels give NaN instead of torch's exception; :func:`jaxloss.checked` raises instead.
    Padded ``(N, S)`` targets only (torch's concatenated 1-D format has a data-dependent shape).
    ``float16``/``bfloat16`` inputs are computed in ``float32``.

    Example:
      >>> import jax, jax.numpy as jnp, jaxloss as jl
      >>> log_probs = jax.nn.log_softmax(jnp.zeros((1, 3, 2)))  # uniform over blank and label 1
      >>> # alignments of [1] in 3 frames: 11_ 1__ _11 __1 _1_ 111 -> 6 of 8 paths
      >>> jl.ctc_loss(log_probs, jnp.array([[1]]), jnp.array([3]), jnp.array([1]))
      Array(0.28768206, dtype=float32)
    """
    (log_probs,) = _checks.floating(log_probs=log_probs)
    targets, input_lengths, target_lengths = _checks.integer(
        targets=targets, input_lengths=input_lengths, target_lengths=target_lengths
    )
    _checks.rank("log_probs", log_probs, {2, 3})
    batched = log_probs.ndim == 3
    if not batched:
        log_probs = log_probs[None]
        _checks.rank("targets", targets, 1)
        targets = targets[None]
    n, t_max, num_classes = log_probs.shape
    if targets.ndim == 1:
        raise fail(ValueError, f"`targets` has shape {tuple(targets.shape)}: torch's concatenated targets are not "
                   "supported (their split depends on the lengths' values); pad them to (N, S), "
                   "`targets[n, :target_lengths[n]]` holding sample n's labels")
    _checks.rank("targets", targets, 2)
    if targets.shape[0] != n and targets.shape[0] == t_max:
        raise fail(ValueError, f"`targets` has {targets.shape[0]} rows but `log_probs` {tuple(log_probs.shape)} has "
                   f"N = {n}: jaxloss takes batch-major (N, T, C) log-probabilities; torch's time-major (T, N, C) "
                   "is `log_probs.swapaxes(0, 1)`")
    _checks.shape("targets", targets, (n, None))
    input_lengths = _length_vector("input_lengths", input_lengths, n, batched)
    target_lengths = _length_vector("target_lengths", target_lengths, n, batched)
    if not isinstance(blank, int) or not 0 <= blank < num_classes:
        raise fail(ValueError, f"blank={blank!r} is not a class index in [0, {num_classes})")
    s = targets.shape[1]
    if where is not None:  # masked samples become empty alignments: whatever they held reaches nothing
        masked = _checks.mask(where, (n,))
        log_probs, targets = inert(masked, log_probs, features=2), inert(masked, targets, features=1)
        input_lengths, target_lengths = inert(masked, input_lengths), inert(masked, target_lengths)

    # Run-time bad values: NaN for the sample (checked mode raises); compute on clipped values.
    used = jnp.arange(s) < target_lengths[:, None]
    bad_label = jnp.any(used & ((targets < 0) | (targets >= num_classes) | (targets == blank)), axis=1)
    bad_input_length = (input_lengths < 0) | (input_lengths > t_max)
    bad_target_length = (target_lengths < 0) | (target_lengths > s)
    labels = jnp.where(used, jnp.clip(targets, 0, num_classes - 1), blank).astype(jnp.int32)
    nll = _ctc_nll(log_probs, labels, jnp.clip(input_lengths, 0, t_max), jnp.clip(target_lengths, 0, s), blank)
    if zero_infinity:
        nll = jnp.where(jnp.isinf(nll), 0.0, nll)
    nll = flag_invalid(nll, bad_label, loss="ctc_loss", argument="targets", requirement=f"must be class indices in [0, C) other than blank={blank}")
    nll = flag_invalid(nll, bad_input_length, loss="ctc_loss", argument="input_lengths", requirement="must lie in [0, T]")
    nll = flag_invalid(nll, bad_target_length, loss="ctc_loss", argument="target_lengths", requirement="must lie in [0, S]")
    if not batched and reduction == "none":
        return reduce(nll, reduction, where=where)[0]
    if reduction == "mean":
        return reduce(nll / jnp.maximum(target_lengths, 1), reduction, where=where)
    return reduce(nll, reduction, where=where)
