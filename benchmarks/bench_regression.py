"""Regression losses on (n, n) predictions and targets: forward and value + gradient w.r.t. the
predictions, jaxloss vs optax (mean of its elementwise loss) vs torch (CPU); plus value + gradient
at the small shape (64, 10) of the losses optax has, timed over many calls per sample."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
import torch.nn.functional as F

import jaxloss as jl
from benchmarks._harness import KINDS, BenchCase, pair

SMALL_CALLS = 200


def _inputs(shape: tuple[int, int]) -> tuple[tuple[jax.Array, jax.Array], tuple[torch.Tensor, torch.Tensor]]:
    rng = np.random.default_rng(0)
    xn, yn = rng.standard_normal(shape, np.float32), rng.standard_normal(shape, np.float32)
    return (jnp.asarray(xn), jnp.asarray(yn)), (torch.from_numpy(xn), torch.from_numpy(yn))


def _optax_cases(shape: tuple[int, int], kinds: tuple[str, ...] = KINDS, calls: int = 1) -> list[BenchCase]:
    """The regression losses optax has."""
    args, torch_args = _inputs(shape)
    size = str(shape)
    return (
        pair("mse_loss", size, jl.mse_loss, args, lambda a, b: jnp.mean(optax.squared_error(a, b)),
             F.mse_loss, torch_args, kinds=kinds, calls=calls)
        + pair("huber_loss", size, lambda a, b: jl.huber_loss(a, b, delta=0.5), args,
               lambda a, b: jnp.mean(optax.huber_loss(a, b, delta=0.5)),
               lambda a, b: F.huber_loss(a, b, delta=0.5), torch_args, kinds=kinds, calls=calls)
        + pair("log_cosh_loss", size, jl.log_cosh_loss, args, lambda a, b: jnp.mean(optax.log_cosh(a, b)),
               lambda a, b: torch.log(torch.cosh(a - b)).mean(), torch_args, kinds=kinds, calls=calls)
    )


def cases(quick: bool) -> list[BenchCase]:
    n = 64 if quick else 2048
    args, torch_args = _inputs((n, n))
    size = f"({n}, {n})"
    out = _optax_cases((64, 10), ("value+grad",), SMALL_CALLS) + _optax_cases((n, n))
    out += pair("smooth_l1_loss", size, lambda a, b: jl.smooth_l1_loss(a, b, beta=0.5), args, None,
                lambda a, b: F.smooth_l1_loss(a, b, beta=0.5), torch_args)
    out += pair("l1_loss", size, jl.l1_loss, args, None, F.l1_loss, torch_args)
    out += pair("gaussian_nll_loss", size, lambda a, b: jl.gaussian_nll_loss(a, b, jnp.abs(b) + 0.1), args, None,
                lambda a, b: F.gaussian_nll_loss(a, b, b.abs() + 0.1), torch_args)
    return out
