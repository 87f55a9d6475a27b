"""Registry entries for the regression losses."""

import torch
import torch.nn.functional as F

from references import Spec, normal, set_value, torch_reduce, uniform


def _pair(rng, batch, scale):
    return (normal(rng, batch, scale), normal(rng, batch, scale)), {}


def barron(x, y, reduction, alpha, scale):
    """Barron's rho(x - y, alpha, scale), his published formula, in float64 (no special case: the
    registry draws alpha away from 0, 2 and infinity; tests/test_robust_and_router.py checks the
    limits against mpmath)."""
    a, c = torch.as_tensor(alpha, dtype=torch.float64), torch.as_tensor(scale, dtype=torch.float64)
    z = ((x.double() - y.double()) / c) ** 2
    b = (a - 2).abs()
    return torch_reduce((b / a * ((z / b + 1) ** (a / 2) - 1)).to(x.dtype), reduction)


def _barron_draw(rng, batch, scale):
    return _pair(rng, batch, scale)[0], {"alpha": float(rng.uniform(-3, 3)), "scale": float(rng.uniform(0.5, 2))}


def _kornia(name):
    """kornia's loss ``name`` (scale 1) of the residual divided by ``scale`` (kornia is imported when
    the reference runs: a missing kornia fails the parity tests, it does not slow every registry user)."""

    def reference(x, y, reduction, scale):
        import kornia.losses

        return getattr(kornia.losses, name)(x / scale, y / scale, reduction=reduction)

    return reference


def _with_scale(rng, batch, scale):
    return _pair(rng, batch, scale)[0], {"scale": float(rng.uniform(0.5, 2))}


KERAS_EPSILON = 1e-7


def keras_msle(y_true, y_pred, reduction):
    """Keras 3's ``mean_squared_logarithmic_error`` written in torch (mean over the last axis)."""
    log_ratio = torch.log(y_pred.clamp_min(KERAS_EPSILON) + 1) - torch.log(y_true.clamp_min(KERAS_EPSILON) + 1)
    return torch_reduce(log_ratio.square().mean(-1), reduction)


def keras_mape(y_true, y_pred, reduction):
    """Keras 3's ``mean_absolute_percentage_error`` written in torch (mean over the last axis)."""
    return torch_reduce(100 * ((y_true - y_pred) / y_true.abs().clamp_min(KERAS_EPSILON)).abs().mean(-1), reduction)


def _rows(low):
    return lambda rng, b, s: ((uniform(rng, (*b, 4), low, 3.0) * s, uniform(rng, (*b, 4), 0.0, 3.0) * s), {})


SPECS = [
    Spec("l1_loss", _pair, lambda x, y, reduction: F.l1_loss(x, y, reduction=reduction), grad_args=(0, 1), max_scale=1e30),
    Spec("mse_loss", _pair, lambda x, y, reduction: F.mse_loss(x, y, reduction=reduction), grad_args=(0, 1), max_scale=1e15),
    Spec(
        "huber_loss",
        lambda rng, b, s: (_pair(rng, b, s)[0], {"delta": 0.5}),
        lambda x, y, reduction, delta: F.huber_loss(x, y, reduction=reduction, delta=delta),
        grad_args=(0, 1), grad_order=1, max_scale=1e30,
    ),
    Spec(
        "smooth_l1_loss",
        lambda rng, b, s: (_pair(rng, b, s)[0], {"beta": 0.5}),
        lambda x, y, reduction, beta: F.smooth_l1_loss(x, y, reduction=reduction, beta=beta),
        grad_args=(0, 1), grad_order=1, max_scale=1e30,
    ),
    Spec(
        "poisson_nll_loss",
        lambda rng, b, s: ((normal(rng, b, min(s, 10.0)), uniform(rng, b, 0.0, 5.0)), {"full": True}),
        lambda x, y, reduction, full: F.poisson_nll_loss(x, y, full=full, reduction=reduction),
        grad_args=(0, 1), max_scale=1e4,
    ),
    Spec(
        "gaussian_nll_loss",
        lambda rng, b, s: ((normal(rng, b, s), normal(rng, b, s), uniform(rng, b, 0.1, 2.0) * s * s), {}),
        lambda x, y, v, reduction: F.gaussian_nll_loss(x, y, v, reduction=reduction),
        grad_args=(0, 1, 2), max_scale=1e15,
    ),
    Spec(
        "log_cosh_loss", _pair, lambda x, y, reduction: torch_reduce(torch.log(torch.cosh(x - y)), reduction),
        grad_args=(0, 1), max_scale=1e30,
    ),
    Spec(
        "quantile_loss",
        lambda rng, b, s: (_pair(rng, b, s)[0], {"quantile": 0.3}),
        lambda x, y, reduction, quantile: torch_reduce(torch.maximum(quantile * (y - x), (quantile - 1) * (y - x)), reduction),
        grad_args=(0, 1), grad_order=1, max_scale=1e30,
    ),
    Spec("robust_loss", _barron_draw, barron, grad_args=(0, 1)),
    *(Spec(name, _with_scale, _kornia(name), grad_args=(0, 1), max_scale=1e15)
      for name in ("charbonnier_loss", "cauchy_loss", "geman_mcclure_loss", "welsch_loss")),
    Spec("mean_squared_logarithmic_error", _rows(0.0), keras_msle, unreduced="batch", grad_args=(0, 1)),
    Spec("mean_absolute_percentage_error", _rows(0.5), keras_mape, unreduced="batch", grad_args=(0, 1)),
]


# One value only a run-time check rejects, per loss (see references/classification.py).
INVALID = {
    "huber_loss": lambda args, kwargs: (args, {**kwargs, "delta": -1.0}),
    "smooth_l1_loss": lambda args, kwargs: (args, {**kwargs, "beta": -1.0}),
    "gaussian_nll_loss": lambda args, kwargs: (set_value(args, 2, -1.0), kwargs),
    "quantile_loss": lambda args, kwargs: (args, {**kwargs, "quantile": 1.5}),
    **{name: lambda args, kwargs: (args, {**kwargs, "scale": -1.0})
       for name in ("robust_loss", "charbonnier_loss", "cauchy_loss", "geman_mcclure_loss", "welsch_loss")},
}
