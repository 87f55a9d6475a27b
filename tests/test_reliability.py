"""Regression tests for classes of silent wrong numbers (one test per class; the property suite in
tests/test_properties.py holds the general properties over every loss of the registry).

* a NaN in an input that counts gives NaN (kl_div and Dice used to drop NaN targets);
* a NaN probability is reported by jl.checked (`< 0 or > 1` is False for NaN);
* a bad value that does not count (masked by `where` or ignored) is not an error in checked mode;
* confident predictions keep their relative precision (sigmoid_focal_loss cancelled to 0 at logit 15).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from jax.experimental import checkify

import jaxloss as jl


def test_nan_target_gives_nan_in_kl_div_and_dice():
    log_p = jnp.log(jnp.array([[0.25, 0.75], [0.5, 0.5]]))
    target = jnp.array([[0.5, jnp.nan], [0.5, 0.5]])
    value, grad = jax.value_and_grad(lambda a: jl.kl_div(a, target, reduction="sum"))(log_p)
    assert np.isnan(value) and np.isnan(grad[0, 1])
    pixels = jnp.array([[0.0, 1.0, jnp.nan], [1.0, 0.0, 1.0]])  # one NaN pixel in class 0's targets
    assert np.isnan(jl.dice_loss(jnp.zeros((2, 3)), pixels, mode="multilabel", axis=0))
    assert np.isnan(jl.jaccard_loss(jnp.zeros((2, 3)), pixels, mode="multilabel", axis=0))


def test_nan_probability_is_reported_by_checked():
    x, y = jnp.array([0.5, jnp.nan]), jnp.array([1.0, 0.0])
    assert np.isnan(jl.binary_cross_entropy(x, y))
    with pytest.raises(checkify.JaxRuntimeError, match="binary_cross_entropy: `input` must hold probabilities"):
        jl.checked(jl.binary_cross_entropy)(x, y)


@pytest.mark.parametrize("case", ["cross_entropy_where", "cross_entropy_ignore_index", "nll_loss_where",
                                  "linear_cross_entropy_where", "ctc_loss_where", "multi_margin_loss_where"])
def test_bad_values_that_do_not_count_are_not_errors_in_checked_mode(case):
    """The unchecked loss ignores them (a masked or ignored sample); so must jl.checked."""
    logits = jnp.zeros((3, 4))
    bad = jnp.array([1, 9, 2])  # 9 is out of range, in the sample that does not count
    keep = jnp.array([True, False, True])
    calls = {
        "cross_entropy_where": lambda: jl.cross_entropy(logits, bad, where=keep),
        "cross_entropy_ignore_index": lambda: jl.cross_entropy(logits, bad.at[1].set(-100)),
        "nll_loss_where": lambda: jl.nll_loss(logits, bad, where=keep),
        "linear_cross_entropy_where": lambda: jl.linear_cross_entropy(jnp.ones((3, 2)), jnp.ones((2, 4)), bad, where=keep),
        "ctc_loss_where": lambda: jl.ctc_loss(jax.nn.log_softmax(jnp.zeros((3, 5, 4))), jnp.ones((3, 2), jnp.int32),
                                              jnp.array([5, 99, 5]), jnp.array([2, 2, 2]), where=keep),
        "multi_margin_loss_where": lambda: jl.multi_margin_loss(logits, bad, where=keep),
    }
    value = jl.checked(calls[case])()
    assert np.isfinite(value) and np.isfinite(calls[case]())


@pytest.mark.parametrize("logit", [10.0, 15.0, 30.0, -15.0])
@pytest.mark.parametrize("label", [0.0, 1.0])
def test_sigmoid_focal_loss_keeps_relative_precision_for_confident_predictions(logit, label):
    """softplus(-x) is computed as relu(-x) + log1p(exp(-|x|)), not softplus(x) - x (which cancels
    to 0 at x = 15 in float32, and was 0.8% high at x = 10); reference: 50-digit mpmath."""
    with mpmath.workdps(50):
        x = mpmath.mpf(logit)
        p = 1 / (1 + mpmath.exp(-x))
        ce = -(label * mpmath.log(p) + (1 - label) * mpmath.log(1 - p))
        p_t = p * label + (1 - p) * (1 - label)
        expected = float((0.25 * label + 0.75 * (1 - label)) * ce * (1 - p_t) ** 2)
    value = float(jl.sigmoid_focal_loss(jnp.array([logit]), jnp.array([label]), reduction="sum"))
    if expected < np.finfo(np.float32).tiny:  # below float32's normal range (2e-40 at logit 30)
        assert value == 0.0 or abs(value - expected) < 1e-44
    else:
        np.testing.assert_allclose(value, expected, rtol=2e-6)


def test_second_derivative_of_gradients_computed_in_forward_raises_naming_the_loss():
    """grad_in_forward=True's gradients come from the forward pass: jax.hessian used to return zeros;
    now it raises. The default mode's Hessian is that of the materialised cross-entropy."""
    x = jax.random.normal(jax.random.key(0), (4, 3))
    w = jax.random.normal(jax.random.key(1), (3, 5))
    labels = jnp.array([0, 4, -100, 2])
    fused = lambda a, gif: jl.linear_cross_entropy(a, w, labels, grad_in_forward=gif, chunk_size=2)  # noqa: E731
    for second in (jax.hessian, lambda f: jax.jacrev(jax.jacrev(f))):
        with pytest.raises(TypeError, match="^linear_cross_entropy: grad_in_forward=True .* use grad_in_forward=False"):
            second(lambda a: fused(a, True))(x)
    np.testing.assert_allclose(jax.grad(fused)(x, True), jax.grad(fused)(x, False), rtol=1e-5, atol=1e-7)
    materialised = jax.hessian(lambda a: jl.cross_entropy(a @ w, labels))(x)
    np.testing.assert_allclose(jax.hessian(fused)(x, False), materialised, rtol=1e-4, atol=1e-6)


def _naive_sigmoid_focal(a: jax.Array, y: jax.Array) -> jax.Array:
    p = jax.nn.sigmoid(a)
    ce = -(y * jax.nn.log_sigmoid(a) + (1 - y) * jax.nn.log_sigmoid(-a))
    p_t = p * y + (1 - p) * (1 - y)
    return jnp.mean((0.25 * y + 0.75 * (1 - y)) * ce * (1 - p_t) ** 2)


@pytest.mark.parametrize("case", ["bce", "bce_with_logits", "bce_with_logits_pos_weight", "sigmoid_focal"])
def test_forward_mode_rules_cost_no_memory_in_value_and_grad(case):
    """BCE, BCE-with-logits and the sigmoid focal loss have custom_jvp rules (forward mode works;
    reverse mode is their transpose): the compiled value+grad needs no more temporary memory than
    plain autodiff of the naive formula (read from memory_analysis, deterministic)."""
    x = jax.random.normal(jax.random.key(0), (256, 512))
    y = (x > 0.3).astype(jnp.float32)
    pos_weight = jnp.linspace(0.5, 2.0, 512)
    log_sigmoid = jax.nn.log_sigmoid
    calls = {
        "bce": (lambda a: jl.binary_cross_entropy(a, y),
                lambda a: -jnp.mean(y * jnp.maximum(jnp.log(a), -100) + (1 - y) * jnp.maximum(jnp.log1p(-a), -100))),
        "bce_with_logits": (lambda a: jl.binary_cross_entropy_with_logits(a, y),
                            lambda a: -jnp.mean(y * log_sigmoid(a) + (1 - y) * log_sigmoid(-a))),
        "bce_with_logits_pos_weight": (
            lambda a: jl.binary_cross_entropy_with_logits(a, y, pos_weight=pos_weight),
            lambda a: -jnp.mean(pos_weight * y * log_sigmoid(a) + (1 - y) * log_sigmoid(-a))),
        "sigmoid_focal": (lambda a: jl.sigmoid_focal_loss(a, y, reduction="mean"), lambda a: _naive_sigmoid_focal(a, y)),
    }
    ours, naive = calls[case]
    inputs = jax.nn.sigmoid(x) if case == "bce" else x
    temp = lambda f: jax.jit(jax.value_and_grad(f)).lower(inputs).compile().memory_analysis().temp_size_in_bytes  # noqa: E731
    assert temp(ours) <= temp(naive)
    tangent = jnp.ones_like(inputs)
    np.testing.assert_allclose(jax.jvp(ours, (inputs,), (tangent,))[1], jnp.vdot(jax.grad(ours)(inputs), tangent), rtol=1e-5)


@pytest.mark.parametrize("case", ["ntxent_loss", "supervised_contrastive_loss", "lovasz_hinge_loss_per_image",
                                  "lovasz_softmax_loss_per_image", "linear_cross_entropy_grad_in_forward", "cross_entropy"])
def test_an_empty_batch_gives_zero_and_a_zero_sized_gradient(case):
    """N = 0 is a mean over nothing: 0, with a finite, empty gradient (these raised inside numpy,
    with a ZeroDivisionError or a TypeError)."""
    no_labels = jnp.zeros((0,), jnp.int32)
    calls = {
        "ntxent_loss": (lambda e: jl.ntxent_loss(e, no_labels), (0, 4)),
        "supervised_contrastive_loss": (lambda e: jl.supervised_contrastive_loss(e, no_labels), (0, 4)),
        "lovasz_hinge_loss_per_image": (lambda x: jl.lovasz_hinge_loss(x, jnp.zeros((0, 4)), per_image=True), (0, 4)),
        "lovasz_softmax_loss_per_image": (
            lambda x: jl.lovasz_softmax_loss(x, jnp.zeros((0, 4), jnp.int32), per_image=True), (0, 4, 3)),
        "linear_cross_entropy_grad_in_forward": (
            lambda x: jl.linear_cross_entropy(x, jnp.ones((2, 5)), no_labels, grad_in_forward=True), (0, 2)),
        "cross_entropy": (lambda x: jl.cross_entropy(x, no_labels), (0, 3)),
    }
    fn, shape = calls[case]
    value, grad = jax.value_and_grad(fn)(jnp.zeros(shape))
    assert float(value) == 0.0 and grad.shape == shape


@pytest.mark.parametrize("case", ["cross_entropy", "nll_loss", "multi_margin_loss", "softmax_focal_loss",
                                  "linear_cross_entropy"])
def test_an_empty_class_or_feature_axis_is_a_trace_time_error(case):
    no_classes, labels = jnp.zeros((3, 0)), jnp.zeros((3,), jnp.int32)
    calls = {
        "cross_entropy": lambda: jl.cross_entropy(no_classes, labels),
        "nll_loss": lambda: jl.nll_loss(no_classes, labels),
        "multi_margin_loss": lambda: jl.multi_margin_loss(no_classes, labels),
        "softmax_focal_loss": lambda: jl.softmax_focal_loss(no_classes, labels),
        "linear_cross_entropy": lambda: jl.linear_cross_entropy(no_classes, jnp.zeros((0, 5)), labels),
    }
    expected = r"with D >= 1 and V >= 1, got \(3, 0\)" if case == "linear_cross_entropy" else r"\(3, 0\) with an empty class axis"
    with pytest.raises(ValueError, match=rf"^{case}: .*{expected}"):
        calls[case]()


def test_error_messages_name_the_loss_and_the_argument():
    x = jnp.zeros((3, 4))
    flags = jnp.array([True, False, True])
    for fn, call in [(jl.margin_ranking_loss, lambda: jl.margin_ranking_loss(x[0], x[0], jnp.ones(4, bool))),
                     (jl.hinge_embedding_loss, lambda: jl.hinge_embedding_loss(x, jnp.ones((3, 4), bool))),
                     (jl.cosine_embedding_loss, lambda: jl.cosine_embedding_loss(x, x, flags))]:
        with pytest.raises(TypeError, match=rf"^{fn.__name__}: `target` must have an integer or floating dtype .* got bool"):
            call()
    with pytest.raises(ValueError, match=r"^cross_entropy: `ignore_index` is static configuration .* not an array"):
        jl.cross_entropy(x, jnp.array([0, 1, 2]), ignore_index=jnp.array(3))
    with pytest.raises(ValueError, match=r"^triplet_margin_loss: `p` is static configuration"):
        jl.triplet_margin_loss(x, x, x, p=jnp.array(2.0))
    with pytest.raises(ValueError, match=r"^linear_cross_entropy: `w` has shape \(5, 4\), expected \(D, V\) with D = 4.*looks transposed"):
        jl.linear_cross_entropy(x, jnp.zeros((5, 4)), jnp.array([0, 1, 2]))


def test_numpy_int64_class_indices_beyond_int32_are_rejected_when_x64_is_off():
    """With x64 off, jax converts a numpy int64 array to int32: 2**32 + 1 would become class 1."""
    logits = jnp.zeros((2, 3))
    np.testing.assert_allclose(jl.cross_entropy(logits, np.array([0, 2], np.int64)), np.log(3.0), rtol=1e-6)
    with pytest.raises(ValueError, match=r"^cross_entropy: `target` \(int64\) holds 4294967297, beyond the int32 range"):
        jl.cross_entropy(logits, np.array([0, 2**32 + 1], np.int64))
    with pytest.raises(ValueError, match=r"^nll_loss: `target` \(int64\) holds -4294967296"):
        jl.nll_loss(logits, target=np.array([-(2**32), 1], np.int64))


@pytest.mark.parametrize("logit", [-50.0, -20.0, 20.0, 50.0])
@pytest.mark.parametrize("label", [0.0, 1.0])
def test_sigmoid_focal_loss_second_derivative_is_finite_and_exact_for_confident_predictions(logit, label):
    """Its float32 Hessian was NaN at logits of +-50 (a quotient whose derivative squared an
    underflowing term); reference: mpmath's second derivative of the formula at 50 digits."""
    with mpmath.workdps(50):
        def focal(x):
            p = 1 / (1 + mpmath.exp(-x))
            ce = -(label * mpmath.log(p) + (1 - label) * mpmath.log(1 - p))
            p_t = p * label + (1 - p) * (1 - label)
            return (0.25 * label + 0.75 * (1 - label)) * ce * (1 - p_t) ** 2
        expected = float(mpmath.diff(focal, mpmath.mpf(logit), 2))
    second = jax.hessian(lambda x: jl.sigmoid_focal_loss(x, jnp.asarray(label), reduction="sum"))
    value = float(second(jnp.asarray(logit)))
    assert np.isfinite(value)
    if abs(expected) < np.finfo(np.float32).tiny * 1e3:  # at the edge of float32's range
        assert abs(value - expected) < 1e-35
    else:
        np.testing.assert_allclose(value, expected, rtol=1e-4)


def _torch_value_and_grad(fn, *arrays):
    import torch

    tensors = [torch.tensor(np.asarray(a), requires_grad=np.issubdtype(np.asarray(a).dtype, np.floating))
               for a in arrays]
    value = fn(*tensors)
    value.sum().backward()
    return value.detach().numpy(), tensors[0].grad.numpy()


@pytest.mark.parametrize("case", ["0d_score_0d_target", "0d_score_1_target", "unbatched_1_target", "unbatched_0d_target",
                                  "multilabel_0d"])
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_margin_losses_accept_every_shape_torch_accepts(case, reduction):
    import torch.nn.functional as F

    scores = np.array([0.1, 0.7, 0.3], np.float32)
    inputs = {
        "0d_score_0d_target": (np.float32(0.3), np.int64(0)),
        "0d_score_1_target": (np.float32(0.3), np.array([0])),
        "unbatched_1_target": (scores, np.array([1])),
        "unbatched_0d_target": (scores, np.int64(2)),
        "multilabel_0d": (np.float32(0.3), np.int64(0)),
    }
    x, y = inputs[case]
    ours_fn, torch_fn = ((jl.multilabel_margin_loss, F.multilabel_margin_loss) if case == "multilabel_0d"
                         else (jl.multi_margin_loss, F.multi_margin_loss))
    expected, expected_grad = _torch_value_and_grad(lambda a, b: torch_fn(a, b, reduction=reduction), x, y)
    value, grad = jax.value_and_grad(lambda a: jnp.sum(ours_fn(a, jnp.asarray(y), reduction=reduction)))(jnp.asarray(x))
    assert ours_fn(jnp.asarray(x), jnp.asarray(y), reduction=reduction).shape == expected.shape
    np.testing.assert_allclose(value, expected.sum(), rtol=1e-6)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-6)


@pytest.mark.parametrize("case", ["margin_ranking_loss", "hinge_embedding_loss", "multi_margin_loss"])
def test_clamp_based_losses_give_a_nan_score_torchs_zero_gradient(case):
    """torch's clamp_min / ``z > 0`` masks are False at NaN: the gradient is 0 there, as torch's."""
    import torch
    import torch.nn.functional as F

    x = np.array([np.nan, 0.5, 2.0], np.float32)
    calls = {
        "margin_ranking_loss": (lambda a: jl.margin_ranking_loss(a, jnp.zeros(3), -jnp.ones(3), reduction="sum"),
                                lambda a: F.margin_ranking_loss(a, torch.zeros(3), -torch.ones(3), reduction="sum")),
        "hinge_embedding_loss": (lambda a: jl.hinge_embedding_loss(a, -jnp.ones(3), reduction="sum"),
                                 lambda a: F.hinge_embedding_loss(a, -torch.ones(3), reduction="sum")),
        "multi_margin_loss": (lambda a: jl.multi_margin_loss(a, jnp.array(2), reduction="sum"),
                              lambda a: F.multi_margin_loss(a, torch.tensor(2), reduction="sum")),
    }
    ours, theirs = calls[case]
    expected, expected_grad = _torch_value_and_grad(theirs, x)
    value, grad = jax.value_and_grad(ours)(jnp.asarray(x))
    # the value is NaN (torch's too, except multi_margin_loss's kernel, whose `z > 0` test drops a
    # NaN term from the value as well: jaxloss keeps NaN inputs visible, DESIGN.md's NaN rule)
    assert np.isnan(value) and (np.isnan(expected) or case == "multi_margin_loss")
    np.testing.assert_array_equal(np.asarray(grad), expected_grad)
