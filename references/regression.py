"""Registry entries for the regression losses."""

import torch
import torch.nn.functional as F

from references import Spec, normal, set_value, torch_reduce, uniform


def _pair(rng, batch, scale):
    return (normal(rng, batch, scale), normal(rng, batch, scale)), {}


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
]


# One value only a run-time check rejects, per loss (see references/classification.py).
INVALID = {
    "huber_loss": lambda args, kwargs: (args, {**kwargs, "delta": -1.0}),
    "smooth_l1_loss": lambda args, kwargs: (args, {**kwargs, "beta": -1.0}),
    "gaussian_nll_loss": lambda args, kwargs: (set_value(args, 2, -1.0), kwargs),
    "quantile_loss": lambda args, kwargs: (args, {**kwargs, "quantile": 1.5}),
}
