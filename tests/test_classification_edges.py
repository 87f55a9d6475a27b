"""Edge cases of the binary, KL and margin losses, each named after what it protects."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import torch
import torch.nn.functional as F

import jaxloss as jl
from tests.parity import assert_finite, assert_parity, rand, randn


def test_bce_clamps_log_and_has_torchs_gradient_at_zero_and_one():
    # by hand: x=0,y=1 -> -max(log 0, -100) = 100; x=1,y=0 -> 100; x=0,y=0 and x=1,y=1 -> 0 (0 * -100 = 0)
    x = np.array([0.0, 1.0, 0.3, 0.0, 1.0], np.float32)
    y = np.array([1.0, 0.0, 0.6, 0.0, 1.0], np.float32)
    j, _ = assert_parity(lambda a, b: jl.binary_cross_entropy(a, b, reduction="none"),
                         lambda a, b: F.binary_cross_entropy(a, b, reduction="none"), x, y, grad=(0,))
    # the target's gradient differs from torch's (infinite) at x = 0 or 1:
    # test_bce_target_gradient_finite_where_input_is_zero_or_one
    np.testing.assert_allclose(j, [100.0, 100.0, -(0.6 * np.log(0.3) + 0.4 * np.log(0.7)), 0.0, 0.0], rtol=1e-6)
    g = jax.grad(lambda a: jl.binary_cross_entropy(a, jnp.asarray(y), reduction="sum"))(jnp.asarray(x))
    np.testing.assert_allclose(g[:2], [-1e12, 1e12], rtol=1e-6)  # (x - y) / max(x (1 - x), 1e-12)


def test_bce_with_logits_stable_for_huge_logits():
    x = np.array([1e4, -1e4, 100.0, -100.0, 0.0], np.float32)
    y = np.array([0.0, 1.0, 0.0, 0.3, 1.0], np.float32)
    pw = np.array([2.0], np.float32)
    for kw in ({}, {"pos_weight": pw}):
        j, _ = assert_parity(
            lambda a, b: jl.binary_cross_entropy_with_logits(a, b, reduction="none", **{k: jnp.asarray(v) for k, v in kw.items()}),
            lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction="none", **{k: torch.tensor(v) for k, v in kw.items()}),
            x, y, grad=(0, 1), rtol=1e-6,
        )
        assert_finite(j)
    # by hand: x=100, y=0 -> 100; x=1e4, y=0 -> 1e4
    np.testing.assert_allclose(jl.binary_cross_entropy_with_logits(x[:3], y[:3], reduction="none"), [1e4, 1e4, 100.0], rtol=1e-6)


def test_bce_with_logits_pos_weight_broadcasts_on_trailing_axes():
    """torch layout (N, C, H, W) takes pos_weight (C, 1, 1); channels-last (N, H, W, C) takes (C,)."""
    x, y = randn((2, 3, 4, 5), 0, 2.0), rand((2, 3, 4, 5), 1, 0.0, 1.0)
    pw = rand((3, 1, 1), 2, 0.5, 3.0)
    assert_parity(lambda a, b: jl.binary_cross_entropy_with_logits(a, b, pos_weight=jnp.asarray(pw)),
                  lambda a, b: F.binary_cross_entropy_with_logits(a, b, pos_weight=torch.tensor(pw)), x, y, grad=(0, 1))
    last = jl.binary_cross_entropy_with_logits(np.moveaxis(x, 1, -1), np.moveaxis(y, 1, -1), pos_weight=pw[:, 0, 0])
    np.testing.assert_allclose(last, jl.binary_cross_entropy_with_logits(x, y, pos_weight=pw), rtol=1e-6)


def test_bce_with_logits_pos_weight_gradient():
    """torch cannot differentiate pos_weight; jaxloss' custom VJP is checked against autodiff of the formula."""
    x, y = jnp.asarray(randn((6, 4), 3, 2.0)), jnp.asarray(rand((6, 4), 4, 0.0, 1.0))
    pw = jnp.asarray(rand((4,), 5, 0.5, 3.0))

    def formula(a, b, p):
        return jnp.mean(-(p * b * jax.nn.log_sigmoid(a) + (1 - b) * jax.nn.log_sigmoid(-a)))

    ours = jax.grad(lambda a, b, p: jl.binary_cross_entropy_with_logits(a, b, pos_weight=p), argnums=(0, 1, 2))(x, y, pw)
    ref = jax.grad(formula, argnums=(0, 1, 2))(x, y, pw)
    for o, r in zip(ours, ref):
        np.testing.assert_allclose(o, r, rtol=1e-5, atol=1e-7)


def test_kl_div_zero_targets_give_zero_with_finite_gradients():
    """torch: y=0 contributes 0 but its target gradient is NaN (and x=-inf gives NaN); jaxloss is finite."""
    x = np.array([-1.0, -2.0, -0.5], np.float32)
    t = np.array([0.0, 0.5, 0.5], np.float32)
    assert_parity(lambda a, b: jl.kl_div(a, b, reduction="sum"), lambda a, b: F.kl_div(a, b, reduction="sum"), x, t)
    value, grads = jax.value_and_grad(lambda a, b: jl.kl_div(a, b, reduction="sum"), argnums=(0, 1))(
        jnp.array([-jnp.inf, -2.0, -0.5]), jnp.asarray(t))
    # by hand: 0.5 (log 0.5 + 2) + 0.5 (log 0.5 + 0.5)
    np.testing.assert_allclose(value, 0.5 * (np.log(0.5) + 2) + 0.5 * (np.log(0.5) + 0.5), rtol=1e-6)
    np.testing.assert_array_equal(grads[0], [0.0, -0.5, -0.5])
    assert_finite(grads[1][1:])


def test_kl_div_batchmean_divides_by_batch_size():
    x, t = randn((3, 4), 6), rand((3, 4), 7, 0.0, 1.0)
    x1, t1 = x[0], t[0]  # a 1-D input: divided by its length (torch's input.size(0))
    for a, b in ((x, t), (x1, t1)):
        assert_parity(lambda p, q: jl.kl_div(p, q, reduction="batchmean"), lambda p, q: F.kl_div(p, q, reduction="batchmean"),
                      a, b, grad=(0, 1))


def test_soft_margin_does_not_overflow():
    """torch computes log(1 + exp(-y x)) naively: inf at x=-89, y=1; jaxloss gives 89 and gradient -1."""
    x = jnp.array([-89.0, -1e4, 1e4])
    y = jnp.array([1.0, 1.0, -1.0])
    np.testing.assert_allclose(jl.soft_margin_loss(x, y, reduction="none"), [89.0, 1e4, 1e4], rtol=1e-6)
    np.testing.assert_allclose(jax.grad(lambda a: jl.soft_margin_loss(a, y, reduction="sum"))(x), [-1.0, -1.0, 1.0])
    assert np.isinf(F.soft_margin_loss(torch.tensor([-89.0]), torch.tensor([1.0])).item())


def test_multilabel_soft_margin_unbatched_and_huge_logits():
    x = np.array([1e4, -1e4, 3.0, -2.0], np.float32)
    y = np.array([1.0, 0.0, 0.0, 1.0], np.float32)
    j, _ = assert_parity(lambda a, b: jl.multilabel_soft_margin_loss(a, b), lambda a, b: F.multilabel_soft_margin_loss(a, b),
                         x, y, grad=(0, 1), rtol=1e-6)
    assert_finite(j)


def test_margin_losses_zero_gradient_at_the_hinge_like_torch():
    """jnp.maximum splits the gradient 0.5/0.5 at a tie; torch (and jaxloss) give 0 at margin - x_y + x_i = 0."""
    x = np.array([[0.0, 1.0, 0.5, -1.0]], np.float32)  # target 1: margin 1 - 1 + 0 = 0 for class 0
    y = np.array([1])
    for p in (1, 2):
        assert_parity(lambda a, b: jl.multi_margin_loss(a, b, p=p), lambda a, b: F.multi_margin_loss(a, b, p=p), x, y)
    ym = np.array([[1, -1, 0, 0]])  # labels {1}: 1 - (x_1 - x_0) = 0 at the hinge
    assert_parity(lambda a, b: jl.multilabel_margin_loss(a, b), lambda a, b: F.multilabel_margin_loss(a, b), x, ym)


def test_multilabel_margin_repeated_labels_and_empty_rows_like_torch():
    x = randn((4, 5), 8)
    y = np.array([[2, 2, -1, 0, 0], [-1, 1, 2, 3, 4], [0, 1, 2, 3, 4], [4, 0, -1, -1, 3]])  # repeat, empty, full, junk after -1
    for reduction in ("none", "sum"):
        assert_parity(lambda a, b: jl.multilabel_margin_loss(a, b, reduction=reduction),
                      lambda a, b: F.multilabel_margin_loss(a, b, reduction=reduction), x, y)


def test_bce_target_gradient_finite_where_input_is_zero_or_one():
    """Defect found by the property tests: the target's gradient was torch's ``log(1-x) - log(x)``,
    infinite at x = 0 or 1, although the value (logs clamped at -100) is linear in the target there."""
    x = jnp.array([0.0, 1.0, 0.25])
    y = jnp.array([0.3, 0.3, 0.3])
    grad = jax.grad(lambda t: jl.binary_cross_entropy(x, t, reduction="sum"))(y)
    # hand: d/dy of -(y max(log x, -100) + (1 - y) max(log(1 - x), -100))
    np.testing.assert_allclose(grad, [100.0, -100.0, np.log(0.75) - np.log(0.25)], rtol=1e-6)
    # where torch's is finite, it is torch's
    tx, ty = torch.tensor(np.asarray(x)), torch.tensor(np.asarray(y), requires_grad=True)
    F.binary_cross_entropy(tx, ty, reduction="sum").backward()
    np.testing.assert_allclose(grad[2], ty.grad[2].item(), rtol=1e-6)


def test_margin_losses_propagate_nan_scores():
    """Defect found by the property tests: the hinge ``where(z > 0, z, 0)`` turned a NaN score of a
    non-target class into 0 (torch drops it too); it must propagate."""
    x = jnp.array([[jnp.nan, 0.2, 0.4, 0.8]])
    assert np.isnan(float(jl.multi_margin_loss(x, jnp.array([3]))))
    assert np.isnan(float(jl.multilabel_margin_loss(x, jnp.array([[3, -1, 0, 0]]))))
    # finite scores are unchanged, with torch's zero gradient at the hinge
    np.testing.assert_allclose(jl.multi_margin_loss(jnp.array([[0.1, 0.2, 0.4, 0.8]]), jnp.array([3])), 0.325, rtol=1e-6)


def test_zero_one_loss_propagates_nan_scores():
    """Defect found by the property tests: ``argmax`` picks a NaN score's index, so a NaN row gave a
    0/1 error instead of NaN."""
    x = jnp.array([[jnp.nan, 1.0], [2.0, 1.0]])
    out = jl.zero_one_loss(x, jnp.array([0, 0]), reduction="none")
    assert np.isnan(float(out[0])) and float(out[1]) == 0.0
