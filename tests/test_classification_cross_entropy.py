"""Cross-entropy specifics: torch's ignore_index/label_smoothing/weight handling, layouts, probability
targets, extreme and masked logits, long (blocked) rows, half precision, the custom gradient and its
memory; and the losses built on it (focal, poly-1, 0-1)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import jaxloss as jl
from jaxloss._core import softmax
from tests.parity import assert_finite, assert_parity, randint, randn


def _ce(**kw):
    return lambda x, y: jl.cross_entropy(x, y, **kw)


def _tce(**kw):
    return lambda x, y: F.cross_entropy(x, y, **kw)


def test_hand_values_smoothing_weight_and_probability_targets():
    # TORCH_SEMANTICS.md, by hand: zeros(2,2), y=[0,1], w=[3,1], eps=0.5:
    # none_0 = 0.5*3*log2 + 0.25*(3+1)*log2 = 2.5 log 2 = 1.7329; none_1 = 0.5*1*log2 + log2 = 1.5 log 2 = 1.0397;
    # mean = (2.5 + 1.5) log 2 / (3 + 1) = log 2 = 0.6931
    x, y, w = jnp.zeros((2, 2)), jnp.array([0, 1]), jnp.array([3.0, 1.0])
    np.testing.assert_allclose(jl.cross_entropy(x, y, w, label_smoothing=0.5, reduction="none"),
                               [2.5 * np.log(2), 1.5 * np.log(2)], rtol=1e-6)
    np.testing.assert_allclose(jl.cross_entropy(x, y, w, label_smoothing=0.5), np.log(2), rtol=1e-6)
    # uniform logits [[0,0]], w=[3,1]: index target [0] -> 3 log2 / 3 = 0.6931; probability [[1,0]] -> 3 log 2 = 2.0794
    np.testing.assert_allclose(jl.cross_entropy(jnp.zeros((1, 2)), jnp.array([0]), w), np.log(2), rtol=1e-6)
    np.testing.assert_allclose(jl.cross_entropy(jnp.zeros((1, 2)), jnp.array([[1.0, 0.0]]), w), 3 * np.log(2), rtol=1e-6)


@pytest.mark.parametrize("ignore_index", [-100, 2, 9], ids=["default", "valid_class", "beyond_C"])
@pytest.mark.parametrize("eps", [0.0, 0.3])
def test_ignore_index_with_smoothing_and_weight_like_torch(ignore_index, eps):
    x = randn((12, 5), 0, 2.0)
    y = randint((12,), 1, 5)
    y[::3] = ignore_index
    w = np.linspace(0.5, 2.0, 5, dtype=np.float32)
    for reduction in ("mean", "sum", "none"):
        assert_parity(
            lambda a, b: jl.cross_entropy(a, b, jnp.asarray(w), ignore_index=ignore_index, label_smoothing=eps, reduction=reduction),
            lambda a, b: F.cross_entropy(a, b, torch.tensor(w), ignore_index=ignore_index, label_smoothing=eps, reduction=reduction),
            x, y,
        )


def test_negative_smoothing_acts_as_zero():
    x, y = randn((6, 4), 2), randint((6,), 3, 4)
    np.testing.assert_allclose(jl.cross_entropy(x, y, label_smoothing=-0.2), jl.cross_entropy(x, y), rtol=1e-7)
    torch_value = F.cross_entropy(torch.tensor(x), torch.tensor(y), label_smoothing=-0.2)
    np.testing.assert_allclose(jl.cross_entropy(x, y, label_smoothing=-0.2), torch_value.numpy(), rtol=1e-6)


@pytest.mark.parametrize("targets", ["index", "probability"])
def test_k_dimensional_torch_layout_axis1_equals_channels_last(targets):
    x = randn((2, 4, 3, 5), 4, 2.0)  # torch layout (N, C, d1, d2)
    if targets == "index":
        y = randint((2, 3, 5), 5, 4)
        y[0, 0, 0] = -100
    else:
        y = np.asarray(jax.nn.softmax(randn((2, 4, 3, 5), 6), axis=1))
    for reduction in ("mean", "none"):
        assert_parity(_ce(axis=1, reduction=reduction, label_smoothing=0.1), _tce(reduction=reduction, label_smoothing=0.1), x, y,
                      grad=(0,) if targets == "index" else (0, 1))
        last = jl.cross_entropy(np.moveaxis(x, 1, -1), y if targets == "index" else np.moveaxis(y, 1, -1),
                                label_smoothing=0.1, reduction=reduction, axis=-1)
        np.testing.assert_allclose(last, jl.cross_entropy(x, y, axis=1, label_smoothing=0.1, reduction=reduction), rtol=1e-6)


def test_probability_target_zero_at_minus_inf_logit_is_finite():
    """torch gives NaN for 0 * log softmax(-inf); the limit is 0 and jaxloss returns it, with finite gradients."""
    x = jnp.array([[0.0, -jnp.inf, 1.0]])
    t = jnp.array([[0.5, 0.0, 0.5]])
    value, (gx, gt) = jax.value_and_grad(lambda a, b: jl.cross_entropy(a, b), argnums=(0, 1))(x, t)
    expected = -0.5 * (jax.nn.log_softmax(jnp.array([0.0, 1.0]))).sum()  # the -inf class drops out
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    assert_finite(value, gx, gt[:, [0, 2]])


@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_masked_minus_inf_logits_match_torch(eps):
    """Vocabulary masking with -inf logits: finite loss and gradient without smoothing (inf with it, as torch)."""
    x = randn((4, 6), 7, 2.0)
    x[:, 4:] = -np.inf
    y = np.array([0, 1, 2, 3])
    if eps == 0.0:
        j, _ = assert_parity(_ce(reduction="none"), _tce(reduction="none"), x, y)
        assert_finite(j, jax.grad(lambda a: jl.cross_entropy(a, y))(jnp.asarray(x)))
    else:
        ours = jl.cross_entropy(x, y, label_smoothing=eps, reduction="none")
        theirs = F.cross_entropy(torch.tensor(x), torch.tensor(y), label_smoothing=eps, reduction="none")
        np.testing.assert_array_equal(ours, theirs.numpy())  # inf, as in torch


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_extreme_logits_finite_values_and_gradients(eps):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3], [1e4, 1e4, -1e4]], np.float32)
    y = np.array([1, 1, 0])
    w = np.array([0.5, 1.0, 2.0], np.float32)
    for reduction in ("mean", "none"):
        j, _ = assert_parity(lambda a, b: jl.cross_entropy(a, b, jnp.asarray(w), label_smoothing=eps, reduction=reduction),
                             lambda a, b: F.cross_entropy(a, b, torch.tensor(w), label_smoothing=eps, reduction=reduction),
                             x, y, rtol=1e-6, atol=1e-3)
        assert_finite(j)
    for fn in (lambda a: jl.cross_entropy(a, y, label_smoothing=eps), lambda a: jl.softmax_focal_loss(a, y, gamma=0.5),
               lambda a: jl.poly1_cross_entropy(a, y, label_smoothing=eps)):
        assert_finite(jax.value_and_grad(fn)(jnp.asarray(x)))


@pytest.mark.parametrize("num_classes", [65536, 70001], ids=["two_equal_pieces", "three_uneven_pieces"])
def test_long_rows_are_blocked_and_exact(num_classes):
    """Rows longer than 32768 classes are reduced in pieces; the result is torch's, values and gradients."""
    x = randn((3, num_classes), 8, 3.0)
    x[1, -1] = 40.0  # the maximum in the last piece
    y = np.array([5, num_classes - 1, -100])
    assert_parity(_ce(label_smoothing=0.1, reduction="none"), _tce(label_smoothing=0.1, reduction="none"), x, y,
                  rtol=2e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16], ids=["bfloat16", "float16"])
def test_half_precision_logits_accumulate_in_float32(dtype):
    """Half logits are reduced in float32: the result equals the float32 loss of the same (rounded) values."""
    x = jnp.asarray(randn((4, 40000), 9, 4.0), dtype)
    y = jnp.array([0, 39999, 123, -100])
    exact = x.astype(jnp.float32)
    for reduction in ("mean", "none"):
        out = jl.cross_entropy(x, y, label_smoothing=0.1, reduction=reduction)
        assert out.dtype == dtype
        ref = jl.cross_entropy(exact, y, label_smoothing=0.1, reduction=reduction)
        np.testing.assert_allclose(np.asarray(out, np.float32), ref, rtol=1e-2 if dtype == jnp.bfloat16 else 1e-3)
    g = jax.grad(lambda a: jl.cross_entropy(a, y, label_smoothing=0.1))(x)
    assert g.dtype == dtype
    ref_g = jax.grad(lambda a: jl.cross_entropy(a, y, label_smoothing=0.1))(exact)
    np.testing.assert_allclose(np.asarray(g, np.float32), ref_g, rtol=2e-2, atol=1e-7)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_half_precision_forward_converts_at_most_once(eps):
    """XLA:CPU's reductions take float32 operands, so the float32 conversion of half logits is one buffer
    (8 MiB here) shared by the max and exp-sum reductions; the smoothing sum must not add a second one."""
    x = jnp.zeros((64, 32768), jnp.bfloat16)
    y = jnp.zeros((64,), jnp.int32)
    temp = jl.cross_entropy.lower(x, y, label_smoothing=eps).compile().memory_analysis().temp_size_in_bytes
    assert temp < x.size * 4 * 1.25, temp


def test_gradient_saves_no_softmax():
    """value_and_grad keeps per-row statistics only: temp memory far below one logits-sized buffer."""
    x = jnp.zeros((256, 8192), jnp.float32)
    y = jnp.zeros((256,), jnp.int32)
    step = jax.jit(jax.value_and_grad(lambda a: jl.cross_entropy(a, y, label_smoothing=0.1)))
    temp = step.lower(x).compile().memory_analysis().temp_size_in_bytes
    assert temp < x.size * 4 / 8, temp  # softmax or one-hot saved for the backward pass would be 8 MiB


def _reference_ce(x, y, w, eps):
    """Plain-jax torch cross-entropy (mean) from log_softmax, differentiable in the class weights."""
    lsm = jax.nn.log_softmax(x, axis=-1)
    keep = y != -100
    ys = jnp.where(keep, y, 0)
    c = x.shape[-1]
    per = (1 - eps) * w[ys] * -jnp.take_along_axis(lsm, ys[:, None], -1)[:, 0] + eps / c * -(lsm * w).sum(-1)
    return jnp.sum(jnp.where(keep, per, 0)) / jnp.sum(jnp.where(keep, w[ys], 0))


@pytest.mark.parametrize("eps", [0.0, 0.25])
def test_class_weight_gradients(eps):
    """torch cannot differentiate its class weights; jaxloss can (custom VJP), checked against autodiff."""
    x, y = jnp.asarray(randn((10, 6), 10, 2.0)), jnp.asarray(randint((10,), 11, 6)).at[3].set(-100)
    w = jnp.linspace(0.5, 2.0, 6)
    ours = jax.grad(lambda a, b: jl.cross_entropy(a, y, b, label_smoothing=eps), argnums=(0, 1))(x, w)
    ref = jax.grad(lambda a, b: _reference_ce(a, y, b, eps), argnums=(0, 1))(x, w)
    for o, r in zip(ours, ref):
        np.testing.assert_allclose(o, r, rtol=1e-5, atol=1e-6)
    gw_poly = jax.grad(lambda b: jl.poly1_cross_entropy(x, y, b, epsilon=0.0, label_smoothing=eps))(w)
    np.testing.assert_allclose(gw_poly, ref[1], rtol=1e-5, atol=1e-6)


def test_shared_terms_contract():
    """softmax.class_index_terms (torch's rules, used by every class-index softmax loss) on
    hand-computed rows: ``nll = lse - x_y`` and ``smooth = sum_c w_c (lse - x_c) = W lse - sum_c w_c x_c``
    with lse = [2, 3, 1, 4], x_y = [1.5, 0, 7, 2], sum_c w_c x_c = [6, 3, 0, 10] and W = 3.5."""
    finished = softmax.Finished(
        lse=jnp.array([2.0, 3.0, 1.0, 4.0]), nll=jnp.array([0.5, 3.0, -6.0, 2.0]), smooth=jnp.array([1.0, 7.5, 3.5, 4.0])
    )
    y = jnp.array([1, 0, -100, 5])  # the last is out of range for C = 3
    w = jnp.array([1.0, 2.0, 0.5])
    loss, denominator, keep = softmax.class_index_terms(
        finished, y, class_weight=w, num_classes=3, ignore_index=-100, label_smoothing=0.3, loss="test")
    # by hand: row 0: 0.7 * 2 * (2 - 1.5) + 0.1 * (3.5 * 2 - 6) = 0.7 + 0.1 = 0.8
    #          row 1: 0.7 * 1 * (3 - 0) + 0.1 * (3.5 * 3 - 3) = 2.1 + 0.75 = 2.85
    np.testing.assert_allclose(loss[:3], [0.8, 2.85, 0.0], rtol=1e-6)
    assert np.isnan(loss[3])
    np.testing.assert_array_equal(denominator[:3], [2.0, 1.0, 0.0])
    np.testing.assert_array_equal(keep, [True, True, False, True])


def test_focal_gamma_zero_and_poly1_epsilon_zero_equal_cross_entropy():
    x, y = jnp.asarray(randn((3, 4, 7), 12, 2.0)), jnp.asarray(randint((3, 4), 13, 7)).at[0, 0].set(-100)
    w = jnp.linspace(0.3, 1.5, 7)
    for reduction in ("mean", "none"):
        ce = lambda a: jl.cross_entropy(a, y, w, label_smoothing=0.2, reduction=reduction)  # noqa: E731
        focal = lambda a: jl.softmax_focal_loss(a, y, w, gamma=0.0, label_smoothing=0.2, reduction=reduction)  # noqa: E731
        poly = lambda a: jl.poly1_cross_entropy(a, y, w, epsilon=0.0, label_smoothing=0.2, reduction=reduction)  # noqa: E731
        for other in (focal, poly):
            np.testing.assert_allclose(other(x), ce(x), rtol=2e-6, atol=1e-7)
            np.testing.assert_allclose(jax.grad(lambda a: other(a).sum())(x), jax.grad(lambda a: ce(a).sum())(x),
                                       rtol=1e-5, atol=1e-7)


def test_focal_gradient_finite_when_certain_for_fractional_gamma():
    """(1 - p)^gamma has an infinite derivative at p = 1 for gamma < 1; the focal loss' gradient stays finite."""
    x = jnp.array([[200.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    y = jnp.array([0, 1])
    for gamma in (0.0, 0.3, 2.0):
        assert_finite(jax.value_and_grad(lambda a, g: jl.softmax_focal_loss(a, y, gamma=g), argnums=(0, 1))(x, gamma))


def test_zero_one_loss_counts_errors_and_has_zero_gradient():
    x = jnp.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 1.0, 0.0], [0.0, 0.0, 5.0]])
    y = jnp.array([0, 0, 1, -100])  # correct, wrong, tie goes to class 0 (wrong), ignored
    np.testing.assert_array_equal(jl.zero_one_loss(x, y, reduction="none"), [0.0, 1.0, 1.0, 0.0])
    assert float(jl.zero_one_loss(x, y)) == pytest.approx(2 / 3)
    np.testing.assert_array_equal(jax.grad(lambda a: jl.zero_one_loss(a, y))(x), 0.0)


def test_float64_logits_are_reduced_in_float64():
    """Defect found by the property tests: the row statistics were always float32, so float64 logits
    (under ``jax_enable_x64``) gave a float32 loss and gradient that failed ``check_grads``."""
    with jax.enable_x64(True):
        x = randn((4, 7), 0, scale=3.0).astype(np.float64)
        y = randint((4,), 1, 7)
        for fn, tfn in ((lambda a, b: jl.cross_entropy(a, b, label_smoothing=0.25, reduction="sum"),
                         lambda a, b: F.cross_entropy(a, b, label_smoothing=0.25, reduction="sum")),
                        (lambda a, b: jl.poly1_cross_entropy(a, b, epsilon=0.0, reduction="sum"),
                         lambda a, b: F.cross_entropy(a, b, reduction="sum"))):
            value, grad = jax.value_and_grad(fn)(jnp.asarray(x), jnp.asarray(y))
            assert value.dtype == grad.dtype == jnp.float64
            tx = torch.tensor(x, requires_grad=True)
            out = tfn(tx, torch.tensor(y).long())
            out.backward()
            np.testing.assert_allclose(value, out.item(), rtol=1e-12)
            np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
