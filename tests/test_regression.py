"""Regression losses against live torch: values and gradients, every reduction, edge cases."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import mpmath  # installed with torch (sympy)
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from jax.experimental import checkify

import jaxloss as jl
from references import torch_reduce
from tests.parity import assert_finite, assert_parity, rand


@dataclasses.dataclass(frozen=True)
class Config:
    """A loss with fixed options: how to call it in both frameworks and how to draw its inputs."""

    id: str
    jl: Callable[..., Any]  # (*arrays, reduction) -> loss
    torch: Callable[..., Any]  # (*tensors, reduction) -> loss
    make: Callable[[tuple[int, ...], int], tuple[np.ndarray, ...]]
    grad: tuple[int, ...] = (0, 1)


def _pair(shape, seed):
    return rand(shape, seed), rand(shape, seed + 1)


def _weighted(shape, seed):
    return rand(shape, seed), rand(shape, seed + 1), rand(shape, seed + 2, 0.1, 2.0)


def _poisson_log(shape, seed):
    return rand(shape, seed), rand(shape, seed + 1, 0.0, 4.0)


def _poisson_rate(shape, seed):
    return rand(shape, seed, 0.05, 3.0), rand(shape, seed + 1, 0.0, 4.0)


def _gaussian(shape, seed):
    return rand(shape, seed), rand(shape, seed + 1), rand(shape, seed + 2, 0.0, 2.0)


def _tw(w):
    return torch.as_tensor(w)


CONFIGS = [
    Config("l1", lambda x, y, r, **kw: jl.l1_loss(x, y, reduction=r, **kw), lambda x, y, r: F.l1_loss(x, y, reduction=r), _pair),
    Config(
        "l1_weight",
        lambda x, y, w, r, **kw: jl.l1_loss(x, y, reduction=r, **kw, weight=w),
        lambda x, y, w, r: F.l1_loss(x, y, reduction=r, weight=w),
        _weighted,
        grad=(0, 1, 2),
    ),
    Config("mse", lambda x, y, r, **kw: jl.mse_loss(x, y, reduction=r, **kw), lambda x, y, r: F.mse_loss(x, y, reduction=r), _pair),
    Config(
        "mse_weight",
        lambda x, y, w, r, **kw: jl.mse_loss(x, y, reduction=r, **kw, weight=w),
        lambda x, y, w, r: F.mse_loss(x, y, reduction=r, weight=w),
        _weighted,
        grad=(0, 1, 2),
    ),
    *[
        Config(
            f"huber_delta{d}",
            lambda x, y, r, d=d, **kw: jl.huber_loss(x, y, reduction=r, **kw, delta=d),
            lambda x, y, r, d=d: F.huber_loss(x, y, reduction=r, delta=d),
            _pair,
        )
        for d in (1.0, 0.3, 2.5)
    ],
    Config(
        "huber_weight",
        lambda x, y, w, r, **kw: jl.huber_loss(x, y, reduction=r, **kw, delta=0.7, weight=w),
        lambda x, y, w, r: F.huber_loss(x, y, reduction=r, delta=0.7, weight=w),
        _weighted,
        grad=(0, 1, 2),
    ),
    *[
        Config(
            f"smooth_l1_beta{b}",
            lambda x, y, r, b=b, **kw: jl.smooth_l1_loss(x, y, reduction=r, **kw, beta=b),
            lambda x, y, r, b=b: F.smooth_l1_loss(x, y, reduction=r, beta=b),
            _pair,
        )
        for b in (1.0, 0.0, 0.5, 3.0)
    ],
    *[
        Config(
            f"poisson_log{li}_full{fu}",
            lambda x, y, r, li=li, fu=fu, **kw: jl.poisson_nll_loss(x, y, log_input=li, full=fu, reduction=r, **kw),
            lambda x, y, r, li=li, fu=fu: F.poisson_nll_loss(x, y, log_input=li, full=fu, reduction=r),
            _poisson_log if li else _poisson_rate,
        )
        for li in (True, False)
        for fu in (False, True)
    ],
    *[
        Config(
            f"gaussian_full{fu}_eps{eps}",
            lambda x, y, v, r, fu=fu, eps=eps, **kw: jl.gaussian_nll_loss(x, y, v, full=fu, eps=eps, reduction=r, **kw),
            lambda x, y, v, r, fu=fu, eps=eps: F.gaussian_nll_loss(x, y, v, full=fu, eps=eps, reduction=r),
            _gaussian,
            grad=(0, 1, 2),
        )
        for fu, eps in ((False, 1e-6), (True, 0.3))
    ],
    Config(
        "log_cosh",
        lambda x, y, r, **kw: jl.log_cosh_loss(x, y, reduction=r, **kw),
        lambda x, y, r: torch_reduce(torch.log(torch.cosh(x - y)), r),
        _pair,
    ),
    *[
        Config(
            f"quantile{q}",
            lambda x, y, r, q=q, **kw: jl.quantile_loss(x, y, quantile=q, reduction=r, **kw),
            lambda x, y, r, q=q: torch_reduce(torch.maximum(q * (y - x), (q - 1) * (y - x)), r),
            _pair,
        )
        for q in (0.1, 0.5, 0.9)
    ],
]
BY_ID = {c.id: c for c in CONFIGS}


def _tolerance(config: Config) -> dict[str, float]:
    return {"rtol": 2e-5, "atol": 2e-5} if config.id.startswith(("gaussian", "poisson")) else {"rtol": 1e-5, "atol": 1e-6}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(), (7,), (3, 4), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.id)
def test_matches_torch(config, shape, reduction):
    arrays = config.make(shape, seed=len(shape))
    assert_parity(
        lambda *a: config.jl(*a, reduction),
        lambda *a: config.torch(*a, reduction),
        *arrays,
        grad=config.grad,
        **_tolerance(config),
    )


# --- edge cases -----------------------------------------------------------------------------------


@pytest.mark.parametrize("config", [BY_ID[i] for i in ("l1", "l1_weight", "smooth_l1_beta0.0", "huber_delta1.0")], ids=lambda c: c.id)
def test_gradient_at_zero_residual_is_torchs(config):
    """jax.grad(jnp.abs)(0.) is 1; torch's (and jaxloss's) is 0 at the kink."""
    arrays = config.make((6,), seed=3)
    arrays = (arrays[0], arrays[0].copy(), *arrays[2:])  # zero residual everywhere
    j, _ = assert_parity(lambda *a: config.jl(*a, "sum"), lambda *a: config.torch(*a, "sum"), *arrays, grad=config.grad)


def test_huber_at_threshold_and_beta_zero_is_l1():
    x = np.array([0.0, 0.0, 0.0, 1.0], np.float32)
    y = np.array([1.0, -1.0, 0.5, 1.0], np.float32)  # |d| == delta for the first two
    assert_parity(lambda a, b: jl.huber_loss(a, b, reduction="none"), lambda a, b: F.huber_loss(a, b, reduction="none"), x, y, grad=(0, 1))
    for reduction in ("none", "mean"):
        np.testing.assert_array_equal(jl.smooth_l1_loss(x, y, beta=0.0, reduction=reduction), jl.l1_loss(x, y, reduction=reduction))
        np.testing.assert_array_equal(
            jax.grad(lambda a: jl.smooth_l1_loss(a, y, beta=0.0))(x), jax.grad(lambda a: jl.l1_loss(a, y))(x)
        )


def test_huber_is_delta_times_smooth_l1():
    x, y = rand((50,), 1, -5, 5), rand((50,), 2, -5, 5)
    for delta in (0.2, 1.0, 4.0):
        np.testing.assert_allclose(
            jl.huber_loss(x, y, delta=delta, reduction="none"),
            delta * jl.smooth_l1_loss(x, y, beta=delta, reduction="none"),
            rtol=1e-6,
        )


def test_poisson_full_stirling_only_above_one():
    # Hand values (TORCH_SEMANTICS.md): input 0, y=1 -> exp(0) - 0 = 1 (no Stirling term since y is not > 1);
    # y=1.5 -> 1 + 1.5 log 1.5 - 1.5 + 0.5 log(3 pi) = 1.2299; y=2 -> 1 + 2 log 2 - 2 + 0.5 log(4 pi) = 1.6518.
    y = np.array([0.0, 1.0, 1.5, 2.0], np.float32)
    expected = [1.0, 1.0, 1 + 1.5 * np.log(1.5) - 1.5 + 0.5 * np.log(3 * np.pi), 1 + 2 * np.log(2) - 2 + 0.5 * np.log(4 * np.pi)]
    out = jl.poisson_nll_loss(np.zeros(4, np.float32), y, full=True, reduction="none")
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert_finite(jax.grad(lambda t: jl.poisson_nll_loss(jnp.zeros(4), t, full=True, reduction="sum"))(jnp.asarray(y)))


def test_gaussian_zero_variance_is_clamped_and_gradient_flows_unclamped():
    # 0.5 * (log 1e-6 + 1 / 1e-6) = 499993.0922 (by hand)
    assert float(jl.gaussian_nll_loss(jnp.ones(1), jnp.zeros(1), jnp.zeros(1))) == pytest.approx(0.5 * (np.log(1e-6) + 1e6), rel=1e-6)
    x, y = rand((5,), 0), rand((5,), 1)
    var = np.array([0.0, 1e-8, 0.05, 0.5, 2.0], np.float32)  # the first three below eps=0.1
    assert_parity(
        lambda a, b, v: jl.gaussian_nll_loss(a, b, v, eps=0.1, reduction="sum"),
        lambda a, b, v: F.gaussian_nll_loss(a, b, v, eps=0.1, reduction="sum"),
        x, y, var, grad=(0, 1, 2), rtol=2e-5,
    )


@pytest.mark.parametrize(
    "input_shape,var_shape",
    [((4, 3), (4, 3)), ((4, 3), (4,)), ((4, 3, 5), (4, 1, 5)), ((4, 3, 5), (4, 3, 1)), ((4, 3), (4, 1))],
    ids=str,
)
def test_gaussian_var_shapes_torch_accepts(input_shape, var_shape):
    x, y, v = rand(input_shape, 0), rand(input_shape, 1), rand(var_shape, 2, 0.1, 2.0)
    for reduction in ("none", "mean"):
        assert_parity(
            lambda a, b, c: jl.gaussian_nll_loss(a, b, c, reduction=reduction),
            lambda a, b, c: F.gaussian_nll_loss(a, b, c, reduction=reduction),
            x, y, v, grad=(0, 1, 2), rtol=2e-5,
        )


def test_gaussian_scalar_variance_like_torch_float():
    x, y = rand((3, 4), 0), rand((3, 4), 1)
    ours = jl.gaussian_nll_loss(x, y, 0.7, reduction="none")
    theirs = F.gaussian_nll_loss(torch.tensor(x), torch.tensor(y), 0.7, reduction="none")
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-6)


@pytest.mark.parametrize("var_shape", [(3,), (4, 2), (1, 1), (4, 3, 1)], ids=str)
def test_gaussian_var_shapes_torch_rejects(var_shape):
    x = rand((4, 3), 0)
    v = rand(var_shape, 2, 0.1, 2.0)
    with pytest.raises(ValueError, match="var is of incorrect size"):
        F.gaussian_nll_loss(torch.tensor(x), torch.tensor(x), torch.tensor(v))
    with pytest.raises(ValueError, match=r"gaussian_nll_loss: `var` has shape " + str(var_shape).replace("(", r"\(").replace(")", r"\)")):
        jl.gaussian_nll_loss(x, x, v)


def test_gaussian_integer_var_is_a_type_error():
    with pytest.raises(TypeError, match="`var` must have a floating dtype"):
        jl.gaussian_nll_loss(jnp.zeros(3), jnp.zeros(3), jnp.ones(3, jnp.int32))


@pytest.mark.parametrize("target_shape", [(4,), (3, 1), (1, 4), ()], ids=str)
def test_broadcast_target_like_torch(target_shape):
    x, y = rand((3, 4), 0), rand(target_shape, 1)
    for name in ("l1", "mse", "huber_delta0.3", "smooth_l1_beta0.5", "log_cosh"):
        config = BY_ID[name]
        for reduction in ("none", "mean"):
            assert_parity(lambda *a: config.jl(*a, reduction), lambda *a: config.torch(*a, reduction), x, y)


def test_quantile_vector_matches_per_quantile_losses():
    x, y = rand((5, 3), 0), rand((5,), 1)
    qs = np.array([0.1, 0.5, 0.9], np.float32)
    qt = torch.tensor(qs)
    assert_parity(
        lambda a, b: jl.quantile_loss(a, b, quantile=qs, reduction="none"),
        lambda a, b: torch.maximum(qt * (b[:, None] - a), (qt - 1) * (b[:, None] - a)),
        x, y, grad=(0, 1),
    )
    # 0.5 quantile is half the absolute error, at the tie too (gradient 0.5 - q = 0 at e = 0)
    np.testing.assert_allclose(jl.quantile_loss(x, x[:, 0:1], reduction="none"), 0.5 * np.abs(x - x[:, 0:1]), rtol=1e-6)
    np.testing.assert_allclose(jax.grad(lambda a: jl.quantile_loss(a, a, quantile=0.2, reduction="sum"))(jnp.ones(3)), 0.0)


@pytest.mark.parametrize("config", [BY_ID[i] for i in ("l1", "huber_delta1.0", "smooth_l1_beta1.0", "log_cosh", "quantile0.9")], ids=lambda c: c.id)
def test_extreme_magnitudes_stay_finite_and_exact(config):
    """Residuals from 1e-30 to 1e30: values and gradients finite and equal to torch's."""
    mags = np.logspace(-30, 30, 13).astype(np.float32)
    x = np.concatenate([mags, -mags, mags]).astype(np.float32)
    y = np.concatenate([np.zeros_like(mags), mags / 3, -mags]).astype(np.float32)
    if config.id == "log_cosh":  # torch's naive log(cosh(d)) overflows: compare with 50-digit mpmath
        d = x.astype(np.float64) - y
        with mpmath.workdps(50):
            expected = np.array([float(mpmath.log(mpmath.cosh(mpmath.mpf(float(v))))) for v in d])
        out = config.jl(x, y, "none")
        np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-30)
        g = jax.grad(lambda a: config.jl(a, y, "sum"))(x)
        np.testing.assert_allclose(g, np.tanh(x.astype(np.float64) - y), rtol=1e-6, atol=1e-30)
        assert_finite(out, g)
        return
    # atol: XLA flushes float32 subnormals (0.5 d^2 at d = 1e-20) to zero, torch keeps them
    j, _ = assert_parity(lambda *a: config.jl(*a, "none"), lambda *a: config.torch(*a, "none"), x, y, rtol=1e-6, atol=1e-37)
    assert_finite(j)


# --- reduction, where, half precision, transforms -------------------------------------------------


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.id)
def test_where_equals_boolean_selection(config):
    arrays = config.make((4, 5), seed=7)
    mask = rand((4, 5), 8) > 0
    for reduction in ("mean", "sum"):
        got = _with_where(config, arrays, mask, reduction)
        want = config.jl(*(a[mask] for a in arrays), reduction)
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6)
    none = np.asarray(_with_where(config, arrays, mask, "none"))
    np.testing.assert_array_equal(none[~mask], 0)
    np.testing.assert_allclose(none[mask], config.jl(*arrays, "none")[mask], rtol=1e-6)


def _with_where(config: Config, arrays, mask, reduction):
    return config.jl(*arrays, reduction, where=mask)


@pytest.mark.parametrize("loss", [jl.l1_loss, jl.mse_loss, jl.huber_loss, jl.smooth_l1_loss, jl.poisson_nll_loss, jl.log_cosh_loss, jl.quantile_loss])
def test_mean_over_nothing_is_zero_with_zero_gradient(loss):
    x, y = jnp.asarray(rand((3, 4), 0)), jnp.asarray(rand((3, 4), 1))
    nothing = jnp.zeros((3, 4), bool)
    value, grads = jax.value_and_grad(lambda a, b: loss(a, b, where=nothing), argnums=(0, 1))(x, y)
    assert float(value) == 0.0
    for g in grads:
        np.testing.assert_array_equal(g, 0.0)
    empty = jnp.zeros((0, 4))
    assert float(loss(empty, empty)) == 0.0 and float(loss(empty, empty, reduction="sum")) == 0.0


def test_weighted_means_follow_torch_rules():
    # by hand: l1 weighted mean = sum(w |d|) / sum(w); huber weighted mean = sum(w l) / numel
    x = jnp.array([0.0, 0.0, 0.0])
    y = jnp.array([1.0, 2.0, 4.0])
    w = jnp.array([1.0, 2.0, 0.5])
    assert float(jl.l1_loss(x, y, weight=w)) == pytest.approx((1 + 4 + 2) / 3.5)
    assert float(jl.mse_loss(x, y, weight=w)) == pytest.approx((1 + 8 + 8) / 3.5)
    assert float(jl.huber_loss(x, y, weight=w)) == pytest.approx((0.5 + 2 * 1.5 + 0.5 * 3.5) / 3)
    # masked entries leave both the numerator and the weight sum
    assert float(jl.l1_loss(x, y, weight=w, where=jnp.array([True, False, True]))) == pytest.approx((1 + 2) / 1.5)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16], ids=lambda d: jnp.dtype(d).name)
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.id)
def test_half_precision_computed_in_float32(config, dtype):
    arrays = config.make((4, 5), seed=11)
    half = [jnp.asarray(a, dtype) for a in arrays]
    exact = [jnp.asarray(h, jnp.float32) for h in half]  # same values, float32
    for reduction in ("mean", "none"):
        out = config.jl(*half, reduction)
        assert out.dtype == dtype
        ref = config.jl(*exact, reduction)
        # result rounded once to the half dtype: within one half-precision ulp of the float32 result
        np.testing.assert_allclose(np.asarray(out, np.float32), np.asarray(ref), rtol=1e-2 if dtype == jnp.bfloat16 else 1e-3, atol=1e-3)
    grads = jax.grad(lambda *a: config.jl(*a, "sum"), argnums=config.grad)(*half)
    for g in grads:
        assert g.dtype == dtype
        assert_finite(g.astype(jnp.float32))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.id)
def test_vmap_of_per_sample_loss_equals_none(config):
    arrays = config.make((6, 5), seed=4)
    unreduced = config.jl(*arrays, "none")
    np.testing.assert_allclose(jax.vmap(lambda *row: config.jl(*row, "none"))(*arrays), unreduced, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(jax.vmap(lambda *row: config.jl(*row, "sum"))(*arrays), np.sum(unreduced, axis=1), rtol=2e-6, atol=1e-6)


def test_jit_eager_lower_and_traced_hyperparameters():
    x, y = jnp.asarray(rand((8,), 0)), jnp.asarray(rand((8,), 1))
    # a public loss is a jax.jit function: it can be lowered with its static configuration
    text = jl.huber_loss.lower(x, y, reduction="sum", delta=0.5).as_text()
    assert "stablehlo" in text or "mhlo" in text
    # float hyperparameters are traced: a new delta does not recompile, a new reduction does
    jl.huber_loss(x, y, delta=0.25)
    before = jl.huber_loss._cache_size()
    jl.huber_loss(x, y, delta=0.75)
    jl.huber_loss(x, y, delta=1.5)
    assert jl.huber_loss._cache_size() == before
    jl.huber_loss(x, y, delta=0.75, reduction="sum")
    assert jl.huber_loss._cache_size() == before + 1
    # a learned delta gets a gradient
    assert_finite(jax.grad(lambda d: jl.huber_loss(x, y, delta=d))(1.0))
    # grad of a jitted call inside another jit equals eager differentiation
    g1 = jax.jit(jax.grad(lambda a: jl.smooth_l1_loss(a, y, beta=0.3)))(x)
    g2 = jax.grad(lambda a: jl.smooth_l1_loss(a, y, beta=0.3))(x)
    np.testing.assert_allclose(g1, g2, rtol=1e-7)


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", [jl.l1_loss, jl.mse_loss, jl.huber_loss, jl.smooth_l1_loss, jl.poisson_nll_loss, jl.log_cosh_loss, jl.quantile_loss])
def test_trace_time_errors_name_the_argument(loss):
    name = loss.__name__
    x = jnp.zeros((3, 4))
    with pytest.raises(ValueError, match=rf"{name}: reduction='avg' is not supported; expected one of 'mean', 'sum', 'none'"):
        loss(x, x, reduction="avg")
    with pytest.raises(TypeError, match=rf"{name}: `input` must have a floating dtype, got int32"):
        loss(jnp.zeros((3, 4), jnp.int32), x)
    with pytest.raises(ValueError, match=rf"{name}: shapes do not broadcast: `input` \(3, 4\), `target` \(5,\)"):
        loss(x, jnp.zeros(5))
    with pytest.raises(TypeError, match=rf"{name}: `where` must be a boolean array, got dtype float32"):
        loss(x, x, where=jnp.ones((3, 4)))
    with pytest.raises(ValueError, match=rf"{name}: `where` has shape \(2,\), which does not broadcast to the unreduced loss of shape \(3, 4\)"):
        loss(x, x, where=jnp.ones(2, bool))


def test_weight_shape_error():
    x = jnp.zeros((3, 4))
    with pytest.raises(ValueError, match=r"l1_loss: `weight` has shape \(3,\), which does not broadcast to the unreduced loss of shape \(3, 4\)"):
        jl.l1_loss(x, x, weight=jnp.ones(3))


def test_quantile_vector_shape_error():
    with pytest.raises(ValueError, match=r"quantile_loss: `input` has shape \(5, 2\), expected \(5, 3\)"):
        jl.quantile_loss(jnp.zeros((5, 2)), jnp.zeros(5), quantile=jnp.array([0.1, 0.5, 0.9]))


@pytest.mark.parametrize(
    "call,argument",
    [
        (lambda: jl.gaussian_nll_loss(jnp.zeros(3), jnp.ones(3), jnp.array([1.0, -0.5, 1.0])), "var"),
        (lambda: jl.huber_loss(jnp.zeros(3), jnp.ones(3), delta=0.0), "delta"),
        (lambda: jl.smooth_l1_loss(jnp.zeros(3), jnp.ones(3), beta=-1.0), "beta"),
        (lambda: jl.quantile_loss(jnp.zeros(3), jnp.ones(3), quantile=1.5), "quantile"),
    ],
    ids=["negative_var", "zero_delta", "negative_beta", "quantile_above_one"],
)
def test_run_time_bad_values_give_nan_and_checked_mode_raises(call, argument):
    assert np.isnan(float(call()))
    with pytest.raises(checkify.JaxRuntimeError, match=rf"`{argument}` must"):
        jl.checked(lambda: call())()


def test_checked_mode_on_a_composite_training_loss_and_passes_good_values():
    def training_loss(pred, target, var):
        return jl.mse_loss(pred, target) + jl.gaussian_nll_loss(pred, target, var, reduction="sum")

    x = jnp.zeros(3)
    good = jl.checked(training_loss)(x, x + 1, jnp.ones(3))
    assert float(good) == pytest.approx(1.0 + 1.5)
    with pytest.raises(checkify.JaxRuntimeError, match="gaussian_nll_loss: `var` must be non-negative"):
        jl.checked(training_loss)(x, x + 1, -jnp.ones(3))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log_cosh_within_two_ulps_of_mpmath(dtype):
    """The series below |d| = 1/2 and the log1p form above it: about one ulp everywhere (60-digit
    mpmath reference), on both sides of the switch and from 1e-18 to 1e30."""
    d = np.concatenate([np.logspace(-18, 2.5, 1500), [0.4999999, 0.5, 0.5000001, 88.0, 89.0, 1e4, 1e30]])
    d = np.concatenate([d, -d]).astype(dtype)
    with jax.enable_x64(dtype == "float64"), mpmath.workdps(60):
        out = np.asarray(jl.log_cosh_loss(jnp.asarray(d), jnp.zeros_like(jnp.asarray(d)), reduction="none"))
        assert out.dtype == dtype
        expected = np.array([float(mpmath.log(mpmath.cosh(mpmath.mpf(float(v))))) for v in d])
    np.testing.assert_allclose(out, expected, rtol=2 * np.finfo(dtype).eps, atol=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log_cosh_gradient_and_curvature_are_tanh_and_sech2(dtype):
    """Plain autodiff of the two-branch form: tanh(d) to 4 ulps and 1 - tanh(d)^2 (forward over
    reverse mode) to 32 ulps (mpmath), including d = 0 and the switch at |d| = 1/2, where the
    truncated series' second derivative is the least accurate (16 ulps measured)."""
    d = np.concatenate([[0.0], np.logspace(-12, 1.5, 300), [0.4999999, 0.5, 0.5000001]])
    d = np.concatenate([d, -d[1:]]).astype(dtype)
    with jax.enable_x64(dtype == "float64"), mpmath.workdps(60):
        per_elem = lambda v: jl.log_cosh_loss(v, jnp.zeros_like(v), reduction="sum")  # noqa: E731
        x = jnp.asarray(d)
        grad = np.asarray(jax.grad(per_elem)(x))
        forward = np.asarray(jax.jvp(jax.grad(per_elem), (x,), (jnp.ones_like(x),))[1])  # diagonal Hessian
        tanh = np.array([float(mpmath.tanh(mpmath.mpf(float(v)))) for v in d])
        sech2 = np.array([float(mpmath.sech(mpmath.mpf(float(v))) ** 2) for v in d])
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(grad, tanh, rtol=4 * eps, atol=0)
    np.testing.assert_allclose(forward, sech2, rtol=32 * eps, atol=0)
