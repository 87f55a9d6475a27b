"""CTC loss against live torch (values and gradients), a brute-force enumeration of alignments,
edge cases, masks, half precision, errors and checked mode.

Gradients are compared with respect to the logits behind a ``log_softmax``: torch's CTC backward
adds ``exp(log_probs)`` to the gradient with respect to ``log_probs`` (TORCH_SEMANTICS.md), so only
the logits' gradient is comparable. The true gradient with respect to ``log_probs`` is checked
against autodiff of the brute-force sum over alignments.
"""

from __future__ import annotations

import itertools

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from jax.experimental import checkify

import jaxloss as jl
from tests.parity import assert_finite, assert_parity, randint, randn

N, T, C, S = 4, 8, 5, 3  # the shared shape of most cases (one compilation per configuration)


def jl_ctc(**kwargs):
    """jaxloss on logits ``(N, T, C)``, batch-major."""
    return lambda x, tg, il, tl: jl.ctc_loss(jax.nn.log_softmax(x), tg, il, tl, **kwargs)


def torch_ctc(**kwargs):
    """torch on the same logits, transposed to its ``(T, N, C)`` layout."""
    return lambda x, tg, il, tl: F.ctc_loss(x.log_softmax(-1).transpose(0, 1), tg, il, tl, **kwargs)


def batch(seed, n=N, t=T, c=C, s=S, blank=0, scale=1.0):
    """Random logits, labels avoiding ``blank`` (with repeats: few classes), lengths including 0."""
    logits = randn((n, t, c), seed, scale=scale)
    labels = randint((n, s), seed + 1, high=c - 1)
    labels = labels + (labels >= blank)  # skip the blank
    input_lengths = randint((n,), seed + 2, high=t + 1, low=t // 2)
    input_lengths[0] = t
    target_lengths = randint((n,), seed + 3, high=s + 1)
    target_lengths[0] = s
    return logits, labels, input_lengths, target_lengths


# ---------------------------------------------------------------------------------------------
# parity with torch on random batches

# (reduction, blank, zero_infinity): every reduction, a blank in the middle and at the end, and
# zero_infinity; a few combinations rather than the product, to keep compilations down.
CONFIGS = [("mean", 0, False), ("sum", 0, False), ("none", 2, False), ("none", C - 1, True), ("mean", 3, True)]


@pytest.mark.parametrize("reduction,blank,zero_infinity", CONFIGS)
def test_random_batches_match_torch(reduction, blank, zero_infinity):
    kw = dict(blank=blank, reduction=reduction, zero_infinity=zero_infinity)
    x, tg, il, tl = batch(seed=blank * 7 + len(reduction), blank=blank)
    if zero_infinity:  # make sample 1 impossible: 3 labels (at least) in 2 frames
        il[1], tl[1] = 2, 3
    value, _ = assert_parity(jl_ctc(**kw), torch_ctc(**kw), x, tg, il, tl, rtol=1e-5, atol=1e-5)
    assert np.all(np.isfinite(value))
    # the value-only path (no gradient: no backward recursion) agrees too
    np.testing.assert_allclose(jl_ctc(**kw)(*map(jnp.asarray, (x, tg, il, tl))), value, rtol=1e-6, atol=1e-6)


@given(
    labels=st.lists(st.integers(0, 1), min_size=S * N, max_size=S * N),
    target_lengths=st.lists(st.integers(0, S), min_size=N, max_size=N),
    input_lengths=st.lists(st.integers(0, T), min_size=N, max_size=N),
    seed=st.integers(0, 2**16),
)
def test_any_lengths_and_repeats_match_torch(labels, target_lengths, input_lengths, seed):
    # two label classes (0 and 1, blank=2): many repeated labels, many impossible alignments (inf,
    # NaN gradient on their frames, as torch)
    arrays = (
        randn((N, T, C), seed, scale=2.0),
        np.array(labels, np.int64).reshape(N, S),
        np.array(input_lengths),
        np.array(target_lengths),
    )
    kw = dict(blank=2, reduction="none")
    assert_parity(jl_ctc(**kw), torch_ctc(**kw), *arrays, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# named edge cases, against torch


def one(t, labels, seed=0, scale=1.0):
    """One sample in the shared (T, C, S) shape: logits, padded labels, lengths."""
    return randn((1, T, C), seed, scale=scale), [labels + [1] * (S - len(labels))], [t], [len(labels)]


EDGE_CASES = {
    # "1_1" is the only alignment of [1, 1] in 3 frames: the blank between repeats is required
    "repeated_labels_need_blank_between": one(3, [1, 1]),
    # [1, 1] cannot fit in 2 frames: inf, NaN gradient (as torch)
    "repeated_labels_too_long_is_inf": one(2, [1, 1], seed=1),
    "target_longer_than_input_is_inf": one(2, [1, 2, 3], seed=2),
    "zero_input_length_nonempty_target_is_inf": one(0, [2], seed=3),
    "zero_input_length_empty_target": one(0, [], seed=4),
    "empty_target_is_all_blank": one(6, [], seed=5),
    "forced_alignment_input_equals_target": one(3, [1, 2, 3], seed=6),
    "empty_label_axis": (randn((2, T, C), 7), np.zeros((2, 0), np.int64), [T, 3], [0, 0]),
    # an odd frame count: the value-and-gradient pass meets in the middle of frame 15
    "peaky_logits_stay_exact": (randn((2, 31, 6), 8, scale=40.0), randint((2, 6), 9, high=6, low=1), [31, 12], [6, 6]),
    # blank logit 30 above the others: labels at about -30, states 1e-13 apart per frame
    "blank_collapsed_model": (
        np.concatenate([np.full((2, 30, 1), 30.0, np.float32), randn((2, 30, 5), 10)], axis=2),
        [[1, 2, 3, 4, 5, 1], [1, 1, 2, 2, 3, 3]], [30, 12], [6, 6],
    ),
    "long_sequence": (randn((2, 300, 5), 11, scale=3.0), randint((2, 60), 12, high=5, low=1), [300, 200], [60, 50]),
}


@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_edge_cases_match_torch(name):
    x, tg, il, tl = EDGE_CASES[name]
    arrays = (x, np.array(tg, np.int64), np.array(il), np.array(tl))
    tol = dict(rtol=1e-5, atol=1e-4) if name in ("peaky_logits_stay_exact", "long_sequence") else {}
    value, _ = assert_parity(jl_ctc(reduction="none"), torch_ctc(reduction="none"), *arrays, **tol)
    assert np.any(np.isinf(value)) == ("_is_inf" in name)


@pytest.mark.parametrize("name", [n for n in EDGE_CASES if n.endswith("_is_inf")])
def test_zero_infinity_gives_zero_loss_and_gradient(name):
    x, tg, il, tl = EDGE_CASES[name]
    arrays = (x, np.array(tg, np.int64), np.array(il), np.array(tl))
    kw = dict(reduction="none", zero_infinity=True)
    value, _ = assert_parity(jl_ctc(**kw), torch_ctc(**kw), *arrays)
    grad = jax.grad(lambda x: jl_ctc(**kw)(x, *map(jnp.asarray, arrays[1:])).sum())(jnp.asarray(x))
    assert value[0] == 0
    np.testing.assert_array_equal(grad, 0.0)


def test_single_frame_uniform_empty_target():
    # hand: T=1, C=2, uniform: the only alignment is one blank, -log(1/2) = 0.6931, divided by max(0, 1)
    log_probs = jnp.log(jnp.full((1, 1, 2), 0.5))
    out = jl.ctc_loss(log_probs, jnp.zeros((1, 1), jnp.int32), jnp.array([1]), jnp.array([0]))
    np.testing.assert_allclose(out, np.log(2.0), rtol=1e-6)


def test_docstring_example_by_hand():
    # uniform over {blank, 1}, 3 frames, target [1]: 6 of the 8 paths collapse to [1] -> -log(6/8)
    out = jl.ctc_loss(jnp.log(jnp.full((1, 3, 2), 0.5)), jnp.array([[1]]), jnp.array([3]), jnp.array([1]))
    np.testing.assert_allclose(out, -np.log(6 / 8), rtol=1e-6)


def test_unbatched_matches_torch():
    x, tg, il, tl = batch(seed=20)
    jl_fn = lambda x, tg, il, tl: jl.ctc_loss(jax.nn.log_softmax(x), tg, il, tl, reduction="none")  # noqa: E731
    torch_fn = lambda x, tg, il, tl: F.ctc_loss(x.log_softmax(-1), tg, il, tl, reduction="none")  # noqa: E731
    assert_parity(jl_fn, torch_fn, x[0], tg[0], np.array(il[0]), np.array(tl[0]))


def test_masked_class_minus_inf_has_finite_gradient():
    # a class whose logit is -inf (masked vocabulary): torch's gradient is NaN, the limit is finite
    x, tg, il, tl = batch(seed=21)
    x_inf, x_big = x.copy(), x.copy()
    x_inf[:, :, C - 1] = -np.inf
    x_big[:, :, C - 1] = -1e4
    tg = np.minimum(tg, C - 2)
    value, grad = jax.value_and_grad(lambda x: jl_ctc(reduction="sum")(x, tg, il, tl))(jnp.asarray(x_inf))
    assert_finite(value, grad)
    xt = torch.tensor(x_big, requires_grad=True)
    t_value = torch_ctc(reduction="sum")(xt, *map(torch.as_tensor, (tg, il, tl)))
    (t_grad,) = torch.autograd.grad(t_value, xt)
    np.testing.assert_allclose(value, t_value.item(), rtol=1e-5)
    np.testing.assert_allclose(grad, t_grad.numpy(), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# the true gradient with respect to log_probs, against a brute-force sum over alignments


def brute_force_nll(log_probs, target, blank):
    """-log sum over all C**T paths that collapse (merge repeats, drop blanks) to ``target``."""
    t, c = log_probs.shape
    paths = np.array([p for p in itertools.product(range(c), repeat=t)
                      if [k for k, _ in itertools.groupby(p) if k != blank] == list(target)])
    scores = log_probs[np.arange(t), paths].sum(axis=1)  # (number of paths,)
    return -jax.nn.logsumexp(scores)


@pytest.mark.parametrize(
    "target,blank,frames", [([1, 2], 0, 5), ([1, 1], 0, 5), ([2], 1, 5), ([], 0, 5), ([0, 0, 2], 1, 5), ([1], 0, 1), ([2, 1], 0, 4)]
)
def test_gradient_wrt_log_probs_is_exact(target, blank, frames):
    # unnormalised log-probabilities on purpose: the gradient must not assume a log_softmax
    log_probs = jnp.asarray(randn((frames, 3), 30, scale=1.5))
    expected_value, expected_grad = jax.value_and_grad(brute_force_nll)(log_probs, target, blank)
    labels = jnp.asarray([target + [blank] * (3 - len(target))])
    lengths = jnp.array([frames]), jnp.array([len(target)])
    fn = lambda lp: jl.ctc_loss(lp[None], labels, *lengths, blank=blank, reduction="sum")  # noqa: E731
    value, grad = jax.value_and_grad(fn)(log_probs)
    np.testing.assert_allclose(value, expected_value, rtol=1e-5)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# masks, reductions, empty batches


def test_where_equals_boolean_selection(reduction="mean"):
    x, tg, il, tl = map(jnp.asarray, batch(seed=40))
    keep = jnp.array([True, False, True, True])
    fn = lambda x, keep: jl.ctc_loss(jax.nn.log_softmax(x), tg, il, tl, reduction=reduction, where=keep)  # noqa: E731
    masked, masked_grad = jax.value_and_grad(fn)(x, keep)
    idx = np.flatnonzero(keep)
    sub = lambda x: jl.ctc_loss(jax.nn.log_softmax(x), tg[idx], il[idx], tl[idx], reduction=reduction)  # noqa: E731
    selected, selected_grad = jax.value_and_grad(sub)(x[idx])
    np.testing.assert_allclose(masked, selected, rtol=1e-6)
    np.testing.assert_allclose(masked_grad[idx], selected_grad, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(masked_grad[1], 0.0)


def test_where_none_zeroes_masked_samples_even_impossible_ones():
    # sample 1 is impossible (inf, NaN gradient) but masked: 0 and a zero gradient, no NaN anywhere
    x, tg, il, tl = map(jnp.asarray, batch(seed=41))
    il = il.at[1].set(1)
    tl = tl.at[1].set(3)
    keep = jnp.array([True, False, True, True])
    fn = lambda x: jl.ctc_loss(jax.nn.log_softmax(x), tg, il, tl, reduction="none", where=keep)  # noqa: E731
    out, vjp = jax.vjp(fn, x)
    (grad,) = vjp(jnp.ones(N))
    unmasked = jl.ctc_loss(jax.nn.log_softmax(x), tg, il, tl, reduction="none")
    assert np.isinf(unmasked[1]) and out[1] == 0
    np.testing.assert_array_equal(out[keep], unmasked[keep])
    assert_finite(out, grad)


@pytest.mark.parametrize("case", ["all_masked", "empty_batch"])
def test_mean_over_nothing_is_zero_with_zero_gradient(case):
    x, tg, il, tl = map(jnp.asarray, batch(seed=42))
    keep = jnp.zeros(N, bool)
    if case == "empty_batch":
        x, tg, il, tl, keep = x[:0], tg[:0], il[:0], tl[:0], keep[:0]
    fn = lambda x: jl.ctc_loss(jax.nn.log_softmax(x), tg, il, tl, where=keep)  # noqa: E731
    value, grad = jax.value_and_grad(fn)(x)
    assert value == 0.0
    np.testing.assert_array_equal(grad, 0.0)


def test_mean_divides_by_clamped_target_length():
    x, tg, il, tl = map(jnp.asarray, batch(seed=43))
    per_sample = jl.ctc_loss(jax.nn.log_softmax(x), tg, il, tl, reduction="none")
    mean = jl.ctc_loss(jax.nn.log_softmax(x), tg, il, tl)
    np.testing.assert_allclose(mean, np.mean(per_sample / np.maximum(tl, 1)), rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# precision, transformations


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_half_precision_is_computed_in_float32(dtype):
    x, tg, il, tl = map(jnp.asarray, batch(seed=50))
    log_probs = jax.nn.log_softmax(x).astype(dtype)
    fn = lambda lp: jl.ctc_loss(lp, tg, il, tl, reduction="sum")  # noqa: E731
    value, grad = jax.value_and_grad(fn)(log_probs)
    ref_value, ref_grad = jax.value_and_grad(fn)(log_probs.astype(jnp.float32))
    assert value.dtype == dtype and grad.dtype == dtype
    np.testing.assert_allclose(np.float32(value), ref_value, rtol=1e-2)
    np.testing.assert_allclose(np.float32(grad), ref_grad, atol=2e-2)


def test_vmap_of_unbatched_equals_none():
    x, tg, il, tl = map(jnp.asarray, batch(seed=51))
    log_probs = jax.nn.log_softmax(x)
    per_sample = jax.vmap(lambda *a: jl.ctc_loss(*a, reduction="none"))(log_probs, tg, il, tl)
    np.testing.assert_allclose(per_sample, jl.ctc_loss(log_probs, tg, il, tl, reduction="none"), rtol=1e-6)
    vmapped_grad = jax.vmap(jax.grad(lambda *a: jl.ctc_loss(*a, reduction="none")))(log_probs, tg, il, tl)
    batched_grad = jax.grad(lambda lp: jl.ctc_loss(lp, tg, il, tl, reduction="sum"))(log_probs)
    np.testing.assert_allclose(vmapped_grad, batched_grad, rtol=1e-6, atol=1e-7)


def test_jit_of_a_training_loss_is_consistent():
    x, tg, il, tl = map(jnp.asarray, batch(seed=52))
    train_loss = lambda x, il: jl.ctc_loss(jax.nn.log_softmax(x), tg, il, tl, blank=0)  # noqa: E731
    eager = jax.value_and_grad(train_loss)(x, il)
    jitted = jax.jit(jax.value_and_grad(train_loss))(x, il)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), eager, jitted)


def test_value_and_grad_does_not_keep_autodiff_tape():
    # the custom_vjp keeps O(T * N * S) floats (alphas, betas, occupancy); autodiff through the scan
    # would keep every intermediate of every step. Bound: 16 such arrays, plus the logits' gradient.
    n, t, c, s = 4, 200, 10, 20
    lp, tg = jnp.zeros((n, t, c)), jnp.ones((n, s), jnp.int32)
    lengths = (jnp.full((n,), t), jnp.full((n,), s))
    step = jax.jit(jax.value_and_grad(lambda lp: jl.ctc_loss(lp, tg, *lengths)))
    temp = step.lower(lp).compile().memory_analysis().temp_size_in_bytes
    assert temp < 4 * (16 * t * n * (2 * s + 1) + n * t * c)


# ---------------------------------------------------------------------------------------------
# errors at trace time

BAD_ARGUMENTS = {
    "integer_log_probs": ((jnp.zeros((N, T, C), jnp.int32),), {}, TypeError, "`log_probs` must have a floating dtype"),
    "float_targets": ((None, jnp.zeros((N, S))), {}, TypeError, "`targets` must have an integer dtype"),
    "rank_4_log_probs": ((jnp.zeros((N, T, C, 1)),), {}, ValueError, "`log_probs` has shape (4, 8, 5, 1) (rank 4)"),
    "targets_batch_mismatch": ((None, jnp.zeros((N + 1, S), jnp.int32)), {}, ValueError, "`targets` has shape (5, 3)"),
    "lengths_wrong_shape": ((None, None, jnp.zeros((N, 1), jnp.int32)), {}, ValueError, "`input_lengths` has shape (4, 1)"),
    "unbatched_lengths_vector": (
        (jnp.zeros((T, C)), jnp.zeros((S,), jnp.int32), jnp.zeros((2,), jnp.int32), jnp.zeros((), jnp.int32)),
        {}, ValueError, "`input_lengths` has shape (2,), expected () or (1,)",
    ),
    "blank_out_of_range": ((), {"blank": C}, ValueError, "blank=5 is not a class index in [0, 5)"),
    "bad_reduction": ((), {"reduction": "max"}, ValueError, "reduction='max' is not supported"),
    "bad_where_shape": ((), {"where": jnp.ones((N + 1,), bool)}, ValueError, "`where` has shape (5,)"),
}


@pytest.mark.parametrize("name", list(BAD_ARGUMENTS))
def test_bad_arguments_raise_naming_the_argument(name):
    override, kwargs, error, message = BAD_ARGUMENTS[name]
    args = [jnp.zeros((N, T, C)), jnp.ones((N, S), jnp.int32), jnp.full((N,), T), jnp.full((N,), S)]
    for i, a in enumerate(override):
        if a is not None:
            args[i] = a
    with pytest.raises(error, match="ctc_loss: .*" + __import__("re").escape(message)):
        jl.ctc_loss(*args, **kwargs)


# ---------------------------------------------------------------------------------------------
# run-time bad values: NaN for the sample, checked mode raises

BAD_VALUES = {
    "label_equals_blank": ("targets", lambda tg, il, tl: (tg.at[2, 0].set(0), il, tl)),
    "label_out_of_range": ("targets", lambda tg, il, tl: (tg.at[2, 0].set(C), il, tl)),
    "negative_label": ("targets", lambda tg, il, tl: (tg.at[2, 0].set(-1), il, tl)),
    "input_length_beyond_frames": ("input_lengths", lambda tg, il, tl: (tg, il.at[2].set(T + 1), tl)),
    "negative_input_length": ("input_lengths", lambda tg, il, tl: (tg, il.at[2].set(-1), tl)),
    "target_length_beyond_targets": ("target_lengths", lambda tg, il, tl: (tg, il, tl.at[2].set(S + 1))),
    "negative_target_length": ("target_lengths", lambda tg, il, tl: (tg, il, tl.at[2].set(-1))),
}


@pytest.mark.parametrize("name", list(BAD_VALUES))
def test_bad_values_give_nan_and_checked_mode_raises(name):
    argument, corrupt = BAD_VALUES[name]
    x, tg, il, tl = map(jnp.asarray, batch(seed=60))
    tl = tl.at[2].set(2)
    tg, il, tl = corrupt(tg, il, tl)
    log_probs = jax.nn.log_softmax(x)
    out = jl.ctc_loss(log_probs, tg, il, tl, reduction="none")
    assert np.isnan(out[2]) and np.all(np.isfinite(np.delete(np.asarray(out), 2)))
    assert np.isnan(jl.ctc_loss(log_probs, tg, il, tl, reduction="mean"))
    if name in CHECKED:  # each checked call compiles anew: one case per argument
        with pytest.raises(checkify.JaxRuntimeError, match=f"ctc_loss: `{argument}`"):
            jl.checked(jl.ctc_loss)(log_probs, tg, il, tl)


CHECKED = ("label_equals_blank", "input_length_beyond_frames", "negative_target_length")


def test_padding_values_are_ignored():
    # entries past target_lengths may hold anything (the blank, -1, out of range): no NaN, same loss
    x, tg, il, tl = map(jnp.asarray, batch(seed=61))
    tl = jnp.array([3, 1, 2, 0])
    used = jnp.arange(S) < tl[:, None]
    log_probs = jax.nn.log_softmax(x)
    reference = jl.ctc_loss(log_probs, tg, il, tl, reduction="none")
    for pad in (0, -1, C + 3):
        out = jl.ctc_loss(log_probs, jnp.where(used, tg, pad), il, tl, reduction="none")
        np.testing.assert_array_equal(out, reference)
    jl.checked(jl.ctc_loss)(log_probs, jnp.where(used, tg, -1), il, tl)  # no error reported


def test_nan_log_probs_give_nan_not_inf():
    # regression: a NaN log-probability made the log-likelihood NaN, which the `> _NEG / 2` test
    # for "an alignment exists" read as impossible: inf (and zero_infinity turned it into 0), where
    # torch gives NaN. Now NaN propagates to the value and the gradient of that sample only (a NaN
    # at a class the sample's target does not use changes nothing, in torch as here).
    x, tg, il, tl = batch(seed=62)
    assert il[0] == T and tl[0] == S
    for frame, cls in ((3, 0), (3, int(tg[0, 1]))):  # the blank, a label of the target
        log_probs = np.array(jax.nn.log_softmax(x))
        log_probs[0, frame, cls] = np.nan
        args = (jnp.asarray(log_probs), jnp.asarray(tg), jnp.asarray(il), jnp.asarray(tl))
        theirs = F.ctc_loss(torch.from_numpy(log_probs).transpose(0, 1), torch.from_numpy(tg).long(),
                            torch.from_numpy(il).long(), torch.from_numpy(tl).long(), reduction="none").numpy()
        assert np.isnan(theirs[0])
        for zero_infinity in (False, True):
            out = np.asarray(jl.ctc_loss(*args, reduction="none", zero_infinity=zero_infinity))
            assert np.isnan(out[0])
            np.testing.assert_allclose(out[1:], theirs[1:], rtol=1e-5)
            value, grad = jax.value_and_grad(
                lambda lp: jl.ctc_loss(lp, *args[1:], reduction="sum", zero_infinity=zero_infinity))(args[0])
            assert np.isnan(value)
            assert np.all(np.isnan(grad[0])) and np.all(np.isfinite(grad[1:]))
