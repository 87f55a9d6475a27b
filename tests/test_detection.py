"""Detection losses against torch references written from torchvision's published formulas, in
references/detection.py (torchvision itself cannot be installed beside the CPU torch of this
environment)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from jax.experimental import checkify

import jaxloss as jl
from references.detection import (
    ref_complete_box_iou_loss,
    ref_distance_box_iou_loss,
    ref_generalized_box_iou_loss,
    ref_sigmoid_focal_loss,
)
from tests.parity import assert_finite, assert_parity, rand, randn

BOX_LOSSES = {
    "generalized_box_iou_loss": ref_generalized_box_iou_loss,
    "distance_box_iou_loss": ref_distance_box_iou_loss,
    "complete_box_iou_loss": ref_complete_box_iou_loss,
}


def random_boxes(n: int, seed: int, dtype=np.float32) -> np.ndarray:
    """Valid boxes (x1 < x2, y1 < y2) in a 4x4 window, so that pairs overlap or not."""
    r = np.random.default_rng(seed)
    xy = r.uniform(0, 3, size=(n, 2))
    wh = r.uniform(0.2, 2.0, size=(n, 2))
    return np.concatenate([xy, xy + wh], axis=-1).astype(dtype)


# --------------------------------------------------------------------------------------------------
# sigmoid_focal_loss


def _hard(shape, seed):
    return (rand(shape, seed, 0, 1) > 0.6).astype(np.float32)


@pytest.mark.parametrize(
    "alpha,gamma,soft,reduction",
    [
        (0.25, 2.0, False, "none"),
        (-1.0, 2.0, False, "mean"),
        (0.6, 0.0, False, "sum"),
        (0.25, 0.5, False, "none"),
        (0.25, 1.7, True, "mean"),
        (-1.0, 3.0, True, "none"),
    ],
)
def test_focal_matches_torchvision(alpha, gamma, soft, reduction):
    x = randn((6, 7), 1, scale=2.0)
    y = rand((6, 7), 2, 0, 1) if soft else _hard((6, 7), 2)
    assert_parity(
        lambda a, b: jl.sigmoid_focal_loss(a, b, alpha=alpha, gamma=gamma, reduction=reduction),
        lambda a, b: ref_sigmoid_focal_loss(a, b, alpha, gamma, reduction),
        x, y, grad=(0, 1), rtol=2e-5, atol=1e-6,
    )


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_focal_pos_weight_matches_bce_pos_weight(reduction):
    x, y, pw = randn((5, 3), 3, scale=2.0), rand((5, 3), 4, 0, 1), rand((3,), 5, 0.5, 3.0)
    assert_parity(
        lambda a, b, w: jl.sigmoid_focal_loss(a, b, pos_weight=w, reduction=reduction),
        lambda a, b, w: ref_sigmoid_focal_loss(a, b, pos_weight=w, reduction=reduction),
        x, y, pw, grad=(0, 1, 2), rtol=2e-5, atol=1e-6,
    )


def test_focal_gradients_wrt_alpha_and_gamma_match_torch():
    x, y = randn((4, 5), 6, scale=2.0), rand((4, 5), 7, 0, 1)
    assert_parity(
        lambda a, b, al, g: jl.sigmoid_focal_loss(a, b, alpha=al, gamma=g, reduction="sum"),
        lambda a, b, al, g: ref_sigmoid_focal_loss(a, b, al, g, "sum"),
        x, y, np.float32(0.3), np.float32(1.5), grad=(2, 3), rtol=2e-5,
    )


GAMMAS = [0.0, 0.3, 0.5, 1.0, 2.0]


@pytest.mark.parametrize("gamma", GAMMAS)
def test_focal_finite_at_extreme_logits_for_every_gamma(gamma):
    x = jnp.array([-1e4, -100.0, -30.0, 30.0, 100.0, 1e4] * 3)
    y = jnp.repeat(jnp.array([0.0, 1.0, 0.5]), 6)
    fn = lambda a, b: jl.sigmoid_focal_loss(a, b, gamma=gamma, reduction="sum")  # noqa: E731
    value, grads = jax.jit(jax.value_and_grad(fn, argnums=(0,)))(x, y)
    assert_finite(value, grads)
    per = np.asarray(jl.sigmoid_focal_loss(x, y, gamma=gamma))
    # hand limits for hard labels: a confident right answer costs 0; a confident wrong one costs
    # alpha_t * |x| (p_t = 0, so the focal factor is 1): (1 - 0.25) * 1e4 for y = 0, x = 1e4.
    np.testing.assert_allclose(per[[0, 11]], [0.0, 0.0], atol=1e-30)
    np.testing.assert_allclose(per[[5, 6]], [0.75e4, 0.25e4], rtol=1e-6)
    # torch is finite for the values here and agrees
    ref = ref_sigmoid_focal_loss(torch.tensor(np.array(x)), torch.tensor(np.array(y)), gamma=gamma)
    np.testing.assert_allclose(per, ref.numpy(), rtol=1e-5, atol=1e-12)  # torch rounds e^-39 terms to 0


def test_focal_fractional_gamma_finite_where_torch_gradient_is_nan():
    # p_t rounds to 1 at x = 30, y = 1; torch: d/dp (1 - p_t)**0.5 = inf * 0 -> NaN
    x, y = np.array([30.0, -30.0], np.float32), np.array([1.0, 0.0], np.float32)
    tx = torch.tensor(x, requires_grad=True)
    ref_sigmoid_focal_loss(tx, torch.tensor(y), gamma=0.5).sum().backward()
    assert torch.isnan(tx.grad).all()
    g = jax.grad(lambda a: jl.sigmoid_focal_loss(a, jnp.asarray(y), gamma=0.5, reduction="sum"))(jnp.asarray(x))
    assert_finite(g)
    np.testing.assert_allclose(g, [0.0, 0.0], atol=1e-12)


# --------------------------------------------------------------------------------------------------
# Box losses


@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("name", list(BOX_LOSSES))
def test_box_losses_match_torchvision(name, reduction):
    b1, b2 = random_boxes(16, 10), random_boxes(16, 11)
    assert_parity(
        lambda a, b: getattr(jl, name)(a, b, reduction=reduction),
        lambda a, b: BOX_LOSSES[name](a, b, reduction=reduction),
        b1, b2, grad=(0, 1), rtol=1e-5, atol=1e-6,
    )


@pytest.mark.parametrize("name", list(BOX_LOSSES))
def test_box_losses_batched_boxes_eps_and_sum(name):
    b1, b2 = random_boxes(12, 12).reshape(3, 4, 4), random_boxes(12, 13).reshape(3, 4, 4)
    assert_parity(
        lambda a, b: getattr(jl, name)(a, b, eps=1e-3, reduction="sum"),
        lambda a, b: BOX_LOSSES[name](a, b, eps=1e-3, reduction="sum"),
        b1, b2, grad=(0, 1), rtol=1e-5, atol=1e-6,
    )


def test_generalized_iou_hand_values():
    # identical unit boxes: I = U = C = 1 -> 1 - 1/(1 + 1e-7) = 1e-7 (1.19e-7 in float32, as torch)
    # disjoint [0,1]x[0,1] and [2,3]x[0,1]: I = 0, U = 2, C = 3 -> 1 + 1/3 > 1
    b1 = jnp.array([[0.0, 0, 1, 1], [0, 0, 1, 1]])
    b2 = jnp.array([[0.0, 0, 1, 1], [2, 0, 3, 1]])
    out = jl.generalized_box_iou_loss(b1, b2)
    np.testing.assert_allclose(out, [1.1920929e-07, 4 / 3], rtol=1e-6)
    assert out[1] > 1


def test_distance_and_complete_iou_hand_values():
    # disjoint unit boxes 2 apart: rho^2 = 4, enclosing diagonal^2 = 3^2 + 1 = 10 -> 1 + 0.4
    d = jl.distance_box_iou_loss(jnp.array([0.0, 0, 1, 1]), jnp.array([2.0, 0, 3, 1]))
    np.testing.assert_allclose(d, 1.4, rtol=1e-6)
    # same corner, 2x1 vs 1x2: I = 1, U = 3, centres (1, .5), (.5, 1): rho^2 = .5, c^2 = 8;
    # v = 4/pi^2 (atan(1/2) - atan(2))^2, alpha = v / (1 - 1/3 + v)
    v = 4 / math.pi**2 * (math.atan(0.5) - math.atan(2.0)) ** 2
    expected = 1 - 1 / 3 + 0.5 / 8 + v * v / (2 / 3 + v)
    c = jl.complete_box_iou_loss(jnp.array([0.0, 0, 2, 1]), jnp.array([0.0, 0, 1, 2]))
    np.testing.assert_allclose(c, expected, rtol=1e-5)


DEGENERATE = np.array(
    [
        [[0.0, 0, 1, 1], [0, 0, 1, 1]],  # identical boxes
        [[1.0, 1, 1, 1], [1, 1, 1, 1]],  # identical points
        [[0.0, 0, 0, 2], [0, 0, 0, 2]],  # identical zero-width boxes
        [[0.0, 1, 2, 1], [0, 0, 1, 1]],  # zero-height box
        [[0.0, 0, 0, 0], [1, 1, 2, 2]],  # point against a box
        [[0.0, 0, 1, 1], [1, 0, 2, 1]],  # boxes touching along an edge
    ],
    np.float32,
)


@pytest.mark.parametrize("name", list(BOX_LOSSES))
def test_box_losses_degenerate_boxes_finite_values_and_gradients(name):
    b1, b2 = jnp.asarray(DEGENERATE[:, 0]), jnp.asarray(DEGENERATE[:, 1])
    fn = getattr(jl, name)
    value, grads = jax.jit(jax.value_and_grad(lambda a, b: fn(a, b, reduction="sum"), argnums=(0, 1)))(b1, b2)
    assert_finite(value, grads)
    # where torch's values are finite they agree (torch's CIoU is NaN for a 0/0 aspect ratio)
    ref = BOX_LOSSES[name](torch.from_numpy(DEGENERATE[:, 0]), torch.from_numpy(DEGENERATE[:, 1])).numpy()
    ours = np.asarray(fn(b1, b2))
    finite = np.isfinite(ref)
    np.testing.assert_allclose(ours[finite], ref[finite], rtol=1e-6, atol=1e-6)
    if name == "complete_box_iou_loss":
        assert not finite.all()  # the case that protects the 0/0 aspect ratio


@pytest.mark.parametrize("name", list(BOX_LOSSES))
def test_box_losses_mean_of_no_boxes_is_zero(name):
    empty = jnp.zeros((0, 4))
    value, g = jax.value_and_grad(lambda a: getattr(jl, name)(a, empty, reduction="mean"))(empty)
    assert float(value) == 0.0 and g.shape == (0, 4)


# --------------------------------------------------------------------------------------------------
# Conventions shared by the family: where, half precision, vmap, jit, errors

CASES = {
    "sigmoid_focal_loss": lambda: (randn((8, 5), 20, scale=2.0), _hard((8, 5), 21)),
    **{name: (lambda: (random_boxes(8, 22), random_boxes(8, 23))) for name in BOX_LOSSES},
}


@pytest.mark.parametrize("name", list(CASES))
def test_where_mask_equals_boolean_selection(name):
    a, b = CASES[name]()
    keep = np.arange(8) % 3 != 0
    mask = keep[:, None] if name == "sigmoid_focal_loss" else keep
    fn = getattr(jl, name)
    masked = fn(a, b, reduction="mean", where=jnp.asarray(mask))
    selected = fn(a[keep], b[keep], reduction="mean")
    np.testing.assert_allclose(masked, selected, rtol=1e-6)
    none = np.asarray(fn(a, b, reduction="none", where=jnp.asarray(mask)))
    assert np.all(none[~keep] == 0)
    g = jax.jit(jax.grad(lambda x: fn(x, b, reduction="sum", where=jnp.asarray(mask))))(jnp.asarray(a))
    assert np.all(np.asarray(g)[~keep] == 0)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
@pytest.mark.parametrize("name", list(CASES))
def test_half_precision_within_tolerance_and_dtype_preserved(name, dtype):
    a, b = CASES[name]()
    fn = getattr(jl, name)
    vg = jax.jit(jax.value_and_grad(lambda x, y: fn(x, y, reduction="mean")))
    full, _ = vg(jnp.asarray(a), jnp.asarray(b))
    ah, bh = jnp.asarray(a, dtype), jnp.asarray(b, dtype)
    half, half_grad = vg(ah, bh)
    assert half.dtype == dtype and half_grad.dtype == dtype
    # the inputs themselves are rounded to half precision: compare with float32 on rounded inputs
    ref, ref_grad = vg(jnp.asarray(ah, jnp.float32), jnp.asarray(bh, jnp.float32))
    tol = 1e-2 if dtype == jnp.bfloat16 else 2e-3
    np.testing.assert_allclose(np.float32(half), np.float32(ref), rtol=tol, atol=tol)
    np.testing.assert_allclose(np.asarray(half_grad, np.float32), np.asarray(ref_grad), rtol=5 * tol, atol=tol)
    np.testing.assert_allclose(np.float32(ref), np.float32(full), rtol=5e-2)


@pytest.mark.parametrize("name", list(CASES))
def test_vmap_per_sample_equals_reduction_none(name):
    a, b = CASES[name]()
    fn = getattr(jl, name)
    per_sample = jax.vmap(lambda x, y: fn(x, y, reduction="sum"))(jnp.asarray(a), jnp.asarray(b))
    none = fn(a, b, reduction="none")
    expected = none.sum(-1) if name == "sigmoid_focal_loss" else none
    np.testing.assert_allclose(per_sample, expected, rtol=1e-6)
    jitted = jax.jit(lambda x, y: fn(x, y, reduction="mean"))(a, b)
    np.testing.assert_allclose(jitted, fn(a, b, reduction="mean"), rtol=1e-6)


def test_focal_traced_hyperparameters_do_not_recompile():
    x, y = randn((3,), 30), _hard((3,), 31)
    f = jax.jit(lambda g: jl.sigmoid_focal_loss(x, y, gamma=g, reduction="sum"))
    for g in (0.5, 1.0, 2.0):
        np.testing.assert_allclose(f(g), ref_sigmoid_focal_loss(torch.tensor(x), torch.tensor(y), gamma=g, reduction="sum"), rtol=1e-5)
    assert f._cache_size() == 1


ERRORS = [
    (lambda: jl.sigmoid_focal_loss(jnp.zeros((2, 3)), jnp.zeros((3, 2))), ValueError,
     r"sigmoid_focal_loss: `inputs` and `targets` must have the same shape, got `inputs` \(2, 3\), `targets` \(3, 2\)"),
    (lambda: jl.sigmoid_focal_loss(jnp.zeros(3, jnp.int32), jnp.zeros(3)), TypeError,
     "sigmoid_focal_loss: `inputs` must have a floating dtype, got int32"),
    (lambda: jl.sigmoid_focal_loss(jnp.zeros(3), jnp.zeros(3), reduction="batchmean"), ValueError,
     "reduction='batchmean' is not supported; expected one of 'mean', 'sum', 'none'"),
    (lambda: jl.sigmoid_focal_loss(jnp.zeros((2, 3)), jnp.zeros((2, 3)), pos_weight=jnp.ones(2)), ValueError,
     r"`pos_weight` has shape \(2,\), which does not broadcast to `inputs` of shape \(2, 3\)"),
    (lambda: jl.generalized_box_iou_loss(jnp.zeros((2, 5)), jnp.zeros((2, 5))), ValueError,
     r"generalized_box_iou_loss: `boxes1` has shape \(2, 5\), expected \(2, 4\)"),
    (lambda: jl.complete_box_iou_loss(jnp.zeros((2, 4)), jnp.zeros((3, 4))), ValueError,
     r"complete_box_iou_loss: `boxes1` and `boxes2` must have the same shape"),
    (lambda: jl.distance_box_iou_loss(jnp.zeros(()), jnp.zeros(())), ValueError,
     r"distance_box_iou_loss: `boxes1` has shape \(\) \(rank 0\), expected rank 1"),
    (lambda: jl.generalized_box_iou_loss(jnp.zeros((2, 4), jnp.int32), jnp.zeros((2, 4))), TypeError,
     "generalized_box_iou_loss: `boxes1` must have a floating dtype, got int32"),  # torchvision upcasts
    (lambda: jl.distance_box_iou_loss(jnp.zeros((2, 4)), jnp.zeros((2, 4)), where=jnp.ones(2)), TypeError,
     "`where` must be a boolean array"),
]


@pytest.mark.parametrize("call,kind,message", ERRORS)
def test_bad_arguments_raise_with_readable_message(call, kind, message):
    with pytest.raises(kind, match=message):
        call()


def test_no_runtime_checks_fire_on_valid_inputs():
    err, _ = checkify.checkify(jl.complete_box_iou_loss, errors=checkify.user_checks)(
        jnp.asarray(DEGENERATE[:, 0]), jnp.asarray(DEGENERATE[:, 1])
    )
    assert err.get() is None
