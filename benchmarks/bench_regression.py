"""Regression losses: value and gradient w.r.t. the predictions, jaxloss vs optax vs torch (CPU)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
import torch.nn.functional as F

import jaxloss as jl
from benchmarks._harness import BenchCase, temp_bytes_of


def _jax_step(loss):
    return jax.jit(jax.value_and_grad(loss))


def _torch_step(loss, x, y):
    def run():
        xt = x.detach().requires_grad_(True)
        value = loss(xt, y)
        value.backward()
        return value.item(), xt.grad

    return run


def cases(quick: bool) -> list[BenchCase]:
    n = 64 if quick else 2048
    rng = np.random.default_rng(0)
    xn, yn = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
    x, y = jnp.asarray(xn), jnp.asarray(yn)
    xt, yt = torch.from_numpy(xn), torch.from_numpy(yn)
    contenders = [
        ("mse_loss", lambda a: jl.mse_loss(a, y), lambda a: jnp.mean(optax.squared_error(a, y)), lambda a, b: F.mse_loss(a, b)),
        ("huber_loss", lambda a: jl.huber_loss(a, y, delta=0.5), lambda a: jnp.mean(optax.huber_loss(a, y, delta=0.5)),
         lambda a, b: F.huber_loss(a, b, delta=0.5)),
        ("smooth_l1_loss", lambda a: jl.smooth_l1_loss(a, y, beta=0.5), None, lambda a, b: F.smooth_l1_loss(a, b, beta=0.5)),
        ("l1_loss", lambda a: jl.l1_loss(a, y), None, lambda a, b: F.l1_loss(a, b)),
        ("log_cosh_loss", lambda a: jl.log_cosh_loss(a, y), lambda a: jnp.mean(optax.log_cosh(a, y)),
         lambda a, b: torch.log(torch.cosh(a - b)).mean()),
        ("gaussian_nll_loss", lambda a: jl.gaussian_nll_loss(a, y, jnp.abs(y) + 0.1), None,
         lambda a, b: F.gaussian_nll_loss(a, b, b.abs() + 0.1)),
    ]
    out = []
    for name, ours, theirs, reference in contenders:
        step = _jax_step(ours)
        optax_step = _jax_step(theirs) if theirs is not None else None
        out.append(
            BenchCase(
                name=f"{name} value+grad ({n}, {n})",
                jaxloss=lambda step=step: step(x),
                optax=(lambda s=optax_step: s(x)) if optax_step is not None else None,
                torch=_torch_step(reference, xt, yt),
                temp_bytes=lambda step=step: temp_bytes_of(step, x),
            )
        )
    return out
