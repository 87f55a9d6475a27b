"""Large-vocabulary cross-entropy: value and gradients (w.r.t. ``x`` and ``w``) of the chunked
``linear_cross_entropy`` against the materialised ``cross_entropy(x @ w)`` (jaxloss), optax's
``softmax_cross_entropy_with_integer_labels(x @ w)`` and torch's ``F.cross_entropy(x @ w)``.

Three rows per size, whose jaxloss column is: ``chunked`` (``linear_cross_entropy``, gradients
recomputed chunk by chunk in the backward pass), ``grad_in_forward`` (``linear_cross_entropy(...,
grad_in_forward=True)``, Liger's scheme) and ``materialised`` (``cross_entropy(x @ w)``). optax and
torch are the same materialised steps in every row, so the ratio of two rows' jaxloss times is the
ratio of their ``jaxloss/optax`` columns; the temp column is the compiled scratch memory of that
row's jaxloss step.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch

import jaxloss as jl
from benchmarks._harness import BenchCase, temp_bytes_of


def _steps(n: int, d: int, v: int) -> tuple[dict[str, Any], tuple[jax.Array, ...], Any]:
    rng = np.random.default_rng(0)
    x_np = (rng.standard_normal((n, d)) / np.sqrt(d)).astype(np.float32)
    w_np = rng.standard_normal((d, v)).astype(np.float32)
    t_np = rng.integers(0, v, n)
    args = (jnp.asarray(x_np), jnp.asarray(w_np), jnp.asarray(t_np, jnp.int32))

    def value_and_grads(fn: Any) -> Any:
        return jax.jit(jax.value_and_grad(fn, argnums=(0, 1)))

    steps = {
        "chunked": value_and_grads(lambda x, w, t: jl.linear_cross_entropy(x, w, t)),
        "grad_in_forward": value_and_grads(lambda x, w, t: jl.linear_cross_entropy(x, w, t, grad_in_forward=True)),
        "materialised": value_and_grads(lambda x, w, t: jl.cross_entropy(x @ w, t)),
        "optax": value_and_grads(lambda x, w, t: jnp.mean(optax.softmax_cross_entropy_with_integer_labels(x @ w, t))),
    }
    tx, tw = (torch.from_numpy(a).requires_grad_(True) for a in (x_np, w_np))
    tt = torch.from_numpy(t_np)

    def torch_step() -> Any:
        return torch.autograd.grad(torch.nn.functional.cross_entropy(tx @ tw, tt), [tx, tw])

    return steps, args, torch_step


def _cases(n: int, d: int, v: int) -> list[BenchCase]:
    steps, args, torch_step = _steps(n, d, v)
    size = f"N={n} D={d} V={v} value+grad(x, w)"
    names = {
        "chunked": "linear_cross_entropy chunked",
        "grad_in_forward": "linear_cross_entropy grad_in_forward",
        "materialised": "cross_entropy(x @ w) materialised",
    }
    return [
        BenchCase(
            name=f"{title} {size}",
            jaxloss=lambda key=key: steps[key](*args),
            optax=lambda: steps["optax"](*args),
            torch=torch_step,
            temp_bytes=lambda key=key: temp_bytes_of(steps[key], *args),
        )
        for key, title in names.items()
    ]


def cases(quick: bool) -> list[BenchCase]:
    if quick:
        return _cases(64, 16, 512)
    return [case for v in (8192, 32768) for case in _cases(4096, 512, v)]
