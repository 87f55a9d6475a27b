"""Classification losses: cross-entropy (forward, and value+grad) and BCE-with-logits (value+grad),
jaxloss vs optax (+ mean) vs torch on CPU, with jaxloss's compiled temporary memory."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
import torch.nn.functional as F

import jaxloss as jl
from benchmarks._harness import BenchCase, temp_bytes_of


def _torch_value(loss, *args):
    def run():
        with torch.no_grad():
            return loss(*args).item()

    return run


def _torch_value_and_grad(loss, x, *rest):
    def run():
        xt = x.detach().requires_grad_(True)
        value = loss(xt, *rest)
        value.backward()
        return value.item(), xt.grad

    return run


def _ce_cases(n: int, c: int, forward_only: bool) -> BenchCase:
    rng = np.random.default_rng(0)
    xn = rng.standard_normal((n, c), np.float32)
    yn = rng.integers(0, c, size=(n,)).astype(np.int32)
    x, y = jnp.asarray(xn), jnp.asarray(yn)
    xt, yt = torch.from_numpy(xn), torch.from_numpy(yn.astype(np.int64))

    def ours(a):
        return jl.cross_entropy(a, y)

    def theirs(a):
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(a, y))

    if forward_only:
        step, optax_step = jax.jit(ours), jax.jit(theirs)
        torch_fn = _torch_value(F.cross_entropy, xt, yt)
        what = "forward"
    else:
        step, optax_step = jax.jit(jax.value_and_grad(ours)), jax.jit(jax.value_and_grad(theirs))
        torch_fn = _torch_value_and_grad(F.cross_entropy, xt, yt)
        what = "value+grad"
    return BenchCase(
        name=f"cross_entropy {what} ({n}, {c})",
        jaxloss=lambda: step(x),
        optax=lambda: optax_step(x),
        torch=torch_fn,
        temp_bytes=lambda: temp_bytes_of(step, x),
    )


def _bce_case(n: int, c: int) -> BenchCase:
    rng = np.random.default_rng(1)
    xn = (3 * rng.standard_normal((n, c))).astype(np.float32)
    yn = rng.uniform(0, 1, (n, c)).astype(np.float32)
    x, y = jnp.asarray(xn), jnp.asarray(yn)
    step = jax.jit(jax.value_and_grad(lambda a: jl.binary_cross_entropy_with_logits(a, y)))
    optax_step = jax.jit(jax.value_and_grad(lambda a: jnp.mean(optax.sigmoid_binary_cross_entropy(a, y))))
    return BenchCase(
        name=f"binary_cross_entropy_with_logits value+grad ({n}, {c})",
        jaxloss=lambda: step(x),
        optax=lambda: optax_step(x),
        torch=_torch_value_and_grad(F.binary_cross_entropy_with_logits, torch.from_numpy(xn), torch.from_numpy(yn)),
        temp_bytes=lambda: temp_bytes_of(step, x),
    )


def cases(quick: bool) -> list[BenchCase]:
    if quick:
        return [_ce_cases(8, 40000, True), _ce_cases(16, 256, False), _bce_case(32, 32)]
    return [
        _ce_cases(1024, 131072, True),
        _ce_cases(4096, 32000, False),
        _ce_cases(1024, 131072, False),
        _bce_case(4096, 4096),
    ]
