"""Robust regression (Barron's loss and its named members, Keras's MSLE and MAPE) and the
mixture-of-experts router losses (issue 23).

References, all live or computed next to the case:

* Barron's loss: his published formula and its limits in mpmath at 50 digits, values and
  derivatives (``mpmath.diff``) in ``input``, ``alpha`` and ``scale``, at and around each special
  ``alpha``;
* the named members: kornia's ``charbonnier_loss``, ``cauchy_loss``, ``geman_mcclure_loss`` and
  ``welsch_loss`` (``scale`` = kornia's loss of the residual divided by the scale);
* ``mean_squared_logarithmic_error``, ``mean_absolute_percentage_error``: Keras 3 on the JAX backend,
  values and gradients (``jax.grad`` of Keras's functions);
* ``load_balancing_loss``, ``router_z_loss``: transformers' ``load_balancing_loss_func`` and
  ``router_z_loss_func`` on torch tensors, values and gradients (torch autograd);
* ``sequence_balance_loss``: the DeepSeek-V3 formula written in torch (``references/mixture_of_experts.py``)
  and one case by hand;
* data-parallel sharding: the router losses inside ``jax.shard_map`` on 8 simulated devices equal
  one device (``tests/router_distributed_worker.py``, in a child process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")  # before keras is imported

import jax
import jax.numpy as jnp
import keras
import kornia.losses
import mpmath as mp
import numpy as np
import pytest
import torch
from transformers.models.mixtral.modeling_mixtral import load_balancing_loss_func
from transformers.models.switch_transformers.modeling_switch_transformers import router_z_loss_func

import jaxloss as jl
from references.mixture_of_experts import load_balancing, sequence_balance
from tests.parity import assert_parity, rand, randn

ROOT = Path(__file__).resolve().parent.parent
mp.mp.dps = 50

# ----------------------------------------------------------------------------------------------
# Barron's loss against mpmath


def barron_mp(x: mp.mpf, alpha: mp.mpf, c: mp.mpf) -> mp.mpf:
    """Barron (2019), eq. 1, and its limits (eqs. 2-7) at alpha = 2, 0, -inf, +inf."""
    z = (x / c) ** 2
    if alpha == 2:
        return z / 2
    if alpha == 0:
        return mp.log(z / 2 + 1)
    if alpha == mp.ninf:
        return 1 - mp.exp(-z / 2)
    if alpha == mp.inf:
        return mp.exp(z / 2) - 1
    b = abs(alpha - 2)
    return b / alpha * ((z / b + 1) ** (alpha / 2) - 1)


def barron_mp_gradient(x: float, alpha: float, c: float) -> tuple[mp.mpf, mp.mpf, mp.mpf]:
    """d/dx, d/dalpha, d/dscale by mpmath's numerical differentiation at 50 digits; d/dalpha is 0
    at +-inf (the limits do not depend on alpha) and at alpha = 2 (where the true derivative is
    +infinity, see test_alpha_derivative_diverges_at_two: jaxloss's gradient there is 0, as Barron's)."""
    x, a, c = mp.mpf(x), mp.mpf(alpha), mp.mpf(c)
    dx = mp.diff(lambda t: barron_mp(t, a, c), x)
    # a central difference with h = 1e-15 (error ~ (h / |alpha - 2|)^2): mpmath's default step is so
    # small that the general formula's cancellation next to alpha = 0 eats the working precision
    da = mp.mpf(0) if (mp.isinf(a) or a == 2) else mp.diff(lambda t: barron_mp(x, t, c), a, h=mp.mpf("1e-15"))
    dc = mp.diff(lambda t: barron_mp(x, a, t), c)
    return dx, da, dc


SPECIAL = [2.0, 1.0, 0.0, -2.0, -np.inf, np.inf]
OTHERS = [-1e6, 1e6, 4.0, 0.5, -7.0]
XS = [1e-3, 0.3, 1.7, 8.0]
SCALE = 0.8


def _grid(dtype):
    # float32 cannot come closer to 2 than 1.2e-7, and its d/dalpha within 1e-6 of 2 is only good to
    # ~1%: the derivative diverges there (test_alpha_derivative_diverges_at_two)
    step = 1e-6 if dtype == np.float64 else 1e-3
    near = [s + d for s in (2.0, 1.0, 0.0, -2.0) for d in (-step, step)]
    # float32's d/dalpha at |alpha| = 1e6 loses 4 digits to the cancellation in
    # d/dalpha (alpha/2 log(1 + z/|alpha - 2|)) (float64 checks it)
    others = OTHERS if dtype == np.float64 else OTHERS[2:]
    alpha, x = (np.array(v, dtype) for v in zip(*[(a, x) for a in SPECIAL + near + others for x in XS]))
    scale = np.full_like(x, SCALE)
    return x, alpha, scale


def _robust_value_and_grads(x, alpha, scale):
    """Per-entry values and derivatives, with per-entry alpha and scale (Barron's adaptive form)."""
    value = jl.robust_loss(x, 0.0, alpha=alpha, scale=scale, reduction="none")
    total = lambda x, a, c: jl.robust_loss(x, 0.0, alpha=a, scale=c, reduction="sum")  # noqa: E731
    return value, jax.grad(total, argnums=(0, 1, 2))(x, alpha, scale)


def _mp_table(x, alpha, scale):
    value = np.array([float(barron_mp(mp.mpf(float(xi)), mp.mpf(float(a)), mp.mpf(float(c))))
                      for xi, a, c in zip(x, alpha, scale)])
    grads = np.array([[float(g) for g in barron_mp_gradient(float(xi), float(a), float(c))]
                      for xi, a, c in zip(x, alpha, scale)])
    return value, grads.T


def test_robust_loss_matches_mpmath_at_and_around_every_special_alpha_float64():
    with jax.enable_x64(True):
        x, alpha, scale = _grid(np.float64)
        value, grads = _robust_value_and_grads(*map(jnp.asarray, (x, alpha, scale)))
        ref_value, ref_grads = _mp_table(x, alpha, scale)
    np.testing.assert_allclose(value, ref_value, rtol=1e-13, atol=0)
    for name, g, r in zip(("d/dx", "d/dalpha", "d/dscale"), grads, ref_grads):
        # d/dalpha at 2 +- 1e-6 loses ~1e-11: log(z / |alpha - 2|) amplifies the rounding of z. At
        # alpha = -1e6, x = 8 the true d/dx is 2e-21, the difference of two terms of order 1e-2 in
        # the general formula: its error is absolute, at their rounding level (atol)
        np.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-15, err_msg=name)


def test_robust_loss_matches_mpmath_in_float32():
    x, alpha, scale = _grid(np.float32)  # mpmath at the float32 values themselves
    value, grads = _robust_value_and_grads(*map(jnp.asarray, (x, alpha, scale)))
    ref_value, ref_grads = _mp_table(x, alpha, scale)
    np.testing.assert_allclose(value, ref_value, rtol=5e-6, atol=0)
    for name, g, r in zip(("d/dx", "d/dalpha", "d/dscale"), grads, ref_grads):
        # rtol: d/dalpha at alpha = 2 +- 1e-3 is conditioned like 1 / |alpha - 2| (9e-5 seen); atol: as in float64
        np.testing.assert_allclose(g, r, rtol=2e-4 if name == "d/dalpha" else 2e-5, atol=1e-7, err_msg=name)


def test_robust_loss_values_at_special_alphas_are_the_closed_forms_exactly():
    # hand: 0.5 z, sqrt(z + 1) - 1, log(z / 2 + 1), 2 z / (z + 4), 1 - exp(-z / 2), exp(z / 2) - 1 at z = 4
    out = jl.robust_loss(jnp.full(6, 2.0), 0.0, alpha=jnp.array(SPECIAL, jnp.float32), scale=1.0, reduction="none")
    np.testing.assert_allclose(out, [2.0, 5**0.5 - 1, np.log(3.0), 1.0, 1 - np.exp(-2.0), np.expm1(2.0)], rtol=2e-7)


def test_alpha_derivative_at_zero_is_the_hand_formula():
    # hand: rho = b L_b / 2 + a b L_b^2 / 8 + O(a^2), b = 2 - a, L_b = log(1 + z / b), so at a = 0
    # d rho / d alpha = L^2 / 4 - (L - z / (2 + z)) / 2 with L = log(1 + z / 2)
    with jax.enable_x64(True):
        x = jnp.array([0.1, 1.0, 3.0, 30.0])
        z = x**2
        log_term = jnp.log1p(z / 2)
        grad = jax.grad(lambda a: jl.robust_loss(x, 0.0, alpha=a, scale=1.0, reduction="sum"))(0.0)
        np.testing.assert_allclose(grad, jnp.sum(log_term**2 / 4 - (log_term - z / (2 + z)) / 2), rtol=1e-13)


def test_alpha_derivative_diverges_at_two():
    """Why the gradient in alpha at alpha = 2 is a convention: mpmath's one-sided derivatives grow
    like log(1 / |alpha - 2|) on both sides (a vertical tangent), and jaxloss follows them there."""
    x, c = mp.mpf(1.7), mp.mpf(SCALE)
    for h in (1e-3, 1e-6, 1e-9):
        below, above = (mp.diff(lambda t: barron_mp(x, t, c), 2 + s * mp.mpf(h)) for s in (-1, 1))
        assert abs(below / above - 1) < 1e-2 and below > np.log(1 / h) > 0
    with jax.enable_x64(True):
        grad = jax.grad(lambda a: jl.robust_loss(1.7, 0.0, alpha=a, scale=SCALE))
        assert float(grad(2.0)) == 0.0
        np.testing.assert_allclose(grad(2.0 - 1e-9), float(mp.diff(lambda t: barron_mp(x, t, c), 2 - mp.mpf(1e-9))),
                                   rtol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64], ids=["float32", "float64"])
def test_robust_loss_gradients_finite_at_the_limits_and_at_zero_residual(dtype):
    with jax.enable_x64(dtype == jnp.float64):
        alpha = jnp.array([a for a in SPECIAL for _ in range(3)], dtype)
        x = jnp.tile(jnp.array([0.0, 1e-20, 3.0], dtype), len(SPECIAL))
        value, grads = _robust_value_and_grads(x, alpha, jnp.full_like(x, SCALE))
    assert np.all(np.isfinite(value))
    for g in grads:
        assert np.all(np.isfinite(g)), g
    np.testing.assert_array_equal(np.asarray(grads[0])[::3], 0)  # zero residual: zero slope


def test_robust_loss_invalid_scale_is_nan_but_a_masked_one_is_inert():
    x = jnp.array([1.0, 2.0, 3.0])
    scale = jnp.array([1.0, 0.0, -1.0])

    def total(x, s, where=None):
        return jl.robust_loss(x, 0.0, alpha=0.5, scale=s, where=where)

    value, grads = jax.value_and_grad(total, argnums=(0, 1))(x, scale)
    assert np.isnan(value) and np.all(np.isnan(grads[0][1:]))
    keep = jnp.array([True, False, False])
    value, grads = jax.value_and_grad(total, argnums=(0, 1))(x.at[1].set(jnp.nan), scale, keep)
    np.testing.assert_allclose(value, float(barron_mp(mp.mpf(1), mp.mpf(0.5), mp.mpf(1))), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(grads[0])[1:], 0)
    np.testing.assert_array_equal(np.asarray(grads[1])[1:], 0)


def test_robust_loss_broadcasts_alpha_and_scale_against_the_residual():
    # one residual, three shapes: the loss takes the broadcast shape, and so does `where`
    alpha = jnp.array([[2.0], [0.0]])  # (2, 1)
    out = jl.robust_loss(jnp.array([1.0, 2.0, 3.0]), 0.0, alpha=alpha, scale=jnp.array([1.0, 1.0, -1.0]),
                         reduction="none", where=jnp.array([True, True, False]))
    # hand: z / 2 and log(z / 2 + 1) for z = 1, 4; the masked third column is 0 despite its scale
    np.testing.assert_allclose(out, [[0.5, 2.0, 0.0], [np.log(1.5), np.log(3.0), 0.0]], rtol=1e-6)


# ----------------------------------------------------------------------------------------------
# The named members against kornia, and against robust_loss at their alpha

MEMBERS = {"charbonnier_loss": 1.0, "cauchy_loss": 0.0, "geman_mcclure_loss": -2.0, "welsch_loss": -np.inf}


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("name", list(MEMBERS))
def test_named_robust_losses_match_kornia(name, reduction):
    x, y = randn((3, 5), 1, scale=2.0), randn((3, 5), 2, scale=2.0)
    ours, theirs = getattr(jl, name), getattr(kornia.losses, name)
    assert_parity(lambda a, b: ours(a, b, reduction=reduction), lambda a, b: theirs(a, b, reduction=reduction), x, y,
                  grad=(0, 1), rtol=1e-5, atol=1e-6)
    # scale c: kornia's loss of the residual divided by c
    assert_parity(lambda a, b: ours(a, b, scale=0.7, reduction=reduction),
                  lambda a, b: theirs(a / 0.7, b / 0.7, reduction=reduction), x, y, grad=(0, 1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(MEMBERS))
def test_named_robust_losses_are_robust_loss_at_their_alpha(name):
    with jax.enable_x64(True):
        x, y, c = randn((20,), 3, 3.0).astype(np.float64), randn((20,), 4).astype(np.float64), 1.3
        member = lambda x, c: getattr(jl, name)(x, y, scale=c, reduction="sum")  # noqa: E731
        general = lambda x, c: jl.robust_loss(x, y, alpha=MEMBERS[name], scale=c, reduction="sum")  # noqa: E731
        for a, b in zip(jax.value_and_grad(member, argnums=(0, 1))(x, c), jax.value_and_grad(general, argnums=(0, 1))(x, c)):
            for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
                np.testing.assert_allclose(u, v, rtol=1e-13, atol=1e-15)


def test_charbonnier_keeps_tiny_residuals():
    # hand: sqrt(1 + z) - 1 = z / 2 for tiny z (the naive form gives 0 in float32)
    np.testing.assert_allclose(jl.charbonnier_loss(jnp.array([1e-4]), jnp.zeros(1)), [5e-9], rtol=1e-6)


# ----------------------------------------------------------------------------------------------
# Keras's row-wise losses against Keras 3 (JAX backend), values and gradients

KERAS = {
    "mean_squared_logarithmic_error": (keras.losses.mean_squared_logarithmic_error,
                                       keras.losses.MeanSquaredLogarithmicError()),
    "mean_absolute_percentage_error": (keras.losses.mean_absolute_percentage_error,
                                       keras.losses.MeanAbsolutePercentageError()),
}


@pytest.mark.parametrize("shape", [(4,), (3, 5), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("name", list(KERAS))
def test_keras_losses_match_keras(name, shape):
    assert keras.backend.backend() == "jax"
    function, loss_object = KERAS[name]
    y_true, y_pred = rand(shape, 5, -0.5, 3.0), rand(shape, 6, -0.5, 3.0)  # negatives: Keras's clamps
    ours = getattr(jl, name)
    np.testing.assert_allclose(ours(y_true, y_pred, reduction="none"), function(y_true, y_pred), rtol=1e-6)
    np.testing.assert_allclose(ours(y_true, y_pred), loss_object(y_true, y_pred), rtol=1e-6)
    for argnum in (0, 1):
        g_ours = jax.grad(lambda *a: jnp.sum(ours(*a, reduction="none")), argnums=argnum)(y_true, y_pred)
        g_keras = jax.grad(lambda *a: jnp.sum(function(*a)), argnums=argnum)(y_true, y_pred)
        np.testing.assert_allclose(g_ours, g_keras, rtol=1e-5, atol=1e-6, err_msg=f"gradient {argnum}")


def test_keras_losses_take_targets_first():
    # hand: |1 - 3| / 1 = 200%, |3 - 1| / 3 = 66.7%: the order matters, as in Keras
    np.testing.assert_allclose(jl.mean_absolute_percentage_error(jnp.array([1.0]), jnp.array([3.0])), 200.0)
    np.testing.assert_allclose(jl.mean_absolute_percentage_error(jnp.array([3.0]), jnp.array([1.0])), 200 / 3, rtol=1e-6)


def test_keras_losses_need_a_last_axis():
    with pytest.raises(ValueError, match=r"mean_squared_logarithmic_error: `y_true` and `y_pred` have shape \(\)"):
        jl.mean_squared_logarithmic_error(1.0, 2.0)


# ----------------------------------------------------------------------------------------------
# Router losses against transformers


def _layers(logits: np.ndarray) -> tuple[torch.Tensor, ...]:
    """transformers' input: a tuple of per-layer (batch * seq, E) gate logits."""
    return tuple(torch.from_numpy(layer.reshape(-1, layer.shape[-1])) for layer in logits)


@pytest.mark.parametrize(("layers", "top_k", "masked"), [(1, 2, False), (3, 2, True), (2, 1, True), (1, 3, False)])
def test_load_balancing_matches_transformers(layers, top_k, masked):
    batch, seq, experts = 3, 4, 6
    logits = randn((layers, batch, seq, experts), 10 + top_k, scale=2.0)
    mask = np.random.default_rng(7).random((batch, seq)) < 0.6 if masked else None

    def theirs(x):
        attention = None if mask is None else torch.from_numpy(mask.astype(np.int64))
        return load_balancing_loss_func(tuple(x.reshape(-1, experts).split(batch * seq)), experts, top_k, attention)

    assert_parity(lambda x: jl.load_balancing_loss(x, top_k=top_k, where=mask), theirs, logits, rtol=1e-5, atol=1e-7)
    # the registry's torch reference (the property tests' oracle) is transformers' loss too
    torch_value = load_balancing(torch.from_numpy(logits), "mean", top_k)
    if mask is None:
        np.testing.assert_allclose(torch_value, load_balancing_loss_func(_layers(logits), experts, top_k), rtol=1e-6)


def test_load_balancing_uniform_routing_gives_top_k():
    # hand: equal logits -> P = 1/E for every expert, and f sums to k whichever experts the ties pick:
    # E * sum_e f_e / E = k
    for k in (1, 2, 3):
        np.testing.assert_allclose(jl.load_balancing_loss(jnp.zeros((4, 6)), top_k=k), k, rtol=1e-6)


def test_router_z_loss_matches_transformers():
    logits = randn((3, 5, 4), 20, scale=3.0)
    assert_parity(lambda x: jl.router_z_loss(x), router_z_loss_func, logits, rtol=1e-5, atol=1e-6)
    shifted = logits + 200.0  # shift-stable: (log-sum-exp)^2 of big logits, finite in both
    assert_parity(lambda x: jl.router_z_loss(x), router_z_loss_func, shifted, rtol=1e-5, atol=1e-4)


# ----------------------------------------------------------------------------------------------
# DeepSeek-V3's sequence-wise balance loss


def test_sequence_balance_by_hand():
    # One sequence, T = 2 tokens, N_r = 3 experts, K_r = 1, sigmoid affinities.
    # logits t1 = (2, 0, 0), t2 = (0, 2, 0): top-1 picks expert 0 then 1, so
    # f = N_r / (K_r T) * counts = 3/2 * (1, 1, 0) = (1.5, 1.5, 0).
    # s(2) = 0.88079708, s(0) = 0.5: s' of t1 = (0.88079708, 0.5, 0.5) / 1.88079708
    # = (0.46831053, 0.26584474, 0.26584474), t2 = (0.26584474, 0.46831053, 0.26584474);
    # P = (0.36707763, 0.36707763, 0.26584474). L = 1.5 * 0.36707763 * 2 = 1.1012329.
    logits = jnp.array([[[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]]])
    np.testing.assert_allclose(jl.sequence_balance_loss(logits, top_k=1), 1.1012329, rtol=1e-6)
    # a third, padding token holding garbage changes nothing
    padded = jnp.concatenate([logits, jnp.full((1, 1, 3), jnp.nan)], axis=1)
    np.testing.assert_allclose(jl.sequence_balance_loss(padded, top_k=1, token_mask=jnp.array([[True, True, False]])),
                               1.1012329, rtol=1e-6)


@pytest.mark.parametrize("affinity", ["sigmoid", "softmax"])
def test_sequence_balance_matches_the_paper_formula(affinity):
    logits = randn((4, 6, 5), 30, scale=2.0)
    token_mask = np.random.default_rng(31).random((4, 6)) < 0.7
    token_mask[:, 0] = True  # every sequence has a token (the mean is over all four)
    assert_parity(lambda x: jl.sequence_balance_loss(x, top_k=2, affinity=affinity, token_mask=token_mask,
                                                     reduction="none"),
                  lambda x: sequence_balance(x, "none", 2, affinity, torch.from_numpy(token_mask)), logits,
                  rtol=1e-5, atol=1e-7)


def test_sequence_balance_mean_skips_sequences_without_tokens():
    logits = randn((3, 4, 5), 32)
    token_mask = np.array([[True] * 4, [False] * 4, [True, True, False, False]])
    per_sequence = jl.sequence_balance_loss(logits, top_k=2, token_mask=token_mask, reduction="none")
    assert per_sequence[1] == 0
    np.testing.assert_allclose(jl.sequence_balance_loss(logits, top_k=2, token_mask=token_mask),
                               (per_sequence[0] + per_sequence[2]) / 2, rtol=1e-6)


# ----------------------------------------------------------------------------------------------
# Router losses: padding, errors, sharding

ROUTER = {
    "load_balancing_loss": lambda x, m: jl.load_balancing_loss(x, top_k=2, where=m),
    "router_z_loss": lambda x, m: jl.router_z_loss(x, where=m),
    "sequence_balance_loss": lambda x, m: jl.sequence_balance_loss(x, top_k=2, token_mask=m),
}


@pytest.mark.parametrize("name", list(ROUTER))
def test_all_padding_gives_zero_with_zero_gradient(name):
    logits = jnp.full((2, 3, 4), jnp.nan)
    value, grad = jax.value_and_grad(ROUTER[name])(logits, jnp.zeros((2, 3), bool))
    assert float(value) == 0.0
    np.testing.assert_array_equal(grad, 0)


ERRORS = {
    "top_k_too_large": (lambda: jl.load_balancing_loss(jnp.zeros((3, 4)), top_k=5), ValueError,
                        r"load_balancing_loss: top_k=5 must be an integer between 1 and the number of experts, 4 "
                        r"\(the last axis of `router_logits` \(3, 4\)\)"),
    "top_k_zero": (lambda: jl.sequence_balance_loss(jnp.zeros((2, 3, 4)), top_k=0), ValueError,
                   "sequence_balance_loss: top_k=0"),
    "where_shape": (lambda: jl.load_balancing_loss(jnp.zeros((3, 4)), where=jnp.ones(4, bool)), ValueError,
                    r"load_balancing_loss: `where` has shape \(4,\), which does not broadcast to the tokens of shape \(3,\)"),
    "where_dtype": (lambda: jl.router_z_loss(jnp.zeros((3, 4)), where=jnp.ones(3)), TypeError,
                    "router_z_loss: `where` must be a boolean array, got dtype float32"),
    "token_mask_shape": (lambda: jl.sequence_balance_loss(jnp.zeros((2, 3, 4)), top_k=1, token_mask=jnp.ones((2, 4), bool)),
                         ValueError, r"sequence_balance_loss: `token_mask` has shape \(2, 4\)"),
    "sequence_rank": (lambda: jl.sequence_balance_loss(jnp.zeros(4), top_k=1), ValueError,
                      r"sequence_balance_loss: `router_logits` has shape \(4,\), expected \(\.\.\., T, E\)"),
    "affinity": (lambda: jl.sequence_balance_loss(jnp.zeros((2, 3, 4)), top_k=1, affinity="relu"), ValueError,
                 "sequence_balance_loss: affinity='relu' is not supported; expected one of 'sigmoid', 'softmax'"),
}


@pytest.mark.parametrize(("call", "error", "message"), list(ERRORS.values()), ids=list(ERRORS))
def test_errors_name_the_loss_the_argument_and_the_shapes(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.fixture(scope="module")
def eight_devices() -> dict[str, dict[str, object]]:
    out = ROOT / "build" / f"router_distributed_{os.getpid()}.json"
    out.parent.mkdir(exist_ok=True)
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "router_distributed_worker.py"), str(out)],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"the 8-device child failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    results = json.loads(out.read_text())
    out.unlink()
    return results


@pytest.mark.parametrize("case", ["load_balancing_loss", "load_balancing_loss/sum", "router_z_loss", "sequence_balance_loss",
                                  "load_balancing_loss/no_mask"])
def test_sharded_over_eight_devices_with_axis_name_equals_one_device(eight_devices, case):
    result = eight_devices[case]
    sharded, one_device = result["value"]
    np.testing.assert_allclose(sharded, one_device, rtol=1e-6)
    assert result["grad_finite"] and result["grad_norm"] > 0
    assert result["grad_error"] <= 1e-6 * result["grad_norm"]
    assert result["local_differs"], "per-device statistics gave the global value: the check cannot fail"
