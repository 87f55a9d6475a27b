"""Benchmarks of the sequence losses: CTC value and gradient, against optax and torch."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
import torch.nn.functional as F

import jaxloss as jl
from benchmarks._harness import BenchCase, temp_bytes_of


def _ctc_case(n: int, t: int, c: int, s: int) -> BenchCase:
    """Value and gradient with respect to the logits (``log_softmax`` inside the step), summed."""
    rng = np.random.default_rng(0)
    logits_np = rng.standard_normal((n, t, c)).astype(np.float32)
    targets_np = rng.integers(1, c, (n, s)).astype(np.int32)
    logits, targets = jnp.asarray(logits_np), jnp.asarray(targets_np)
    input_lengths, target_lengths = jnp.full((n,), t, jnp.int32), jnp.full((n,), s, jnp.int32)
    logit_paddings, label_paddings = jnp.zeros((n, t)), jnp.zeros((n, s))

    def jaxloss_total(x: jax.Array) -> jax.Array:
        return jl.ctc_loss(jax.nn.log_softmax(x), targets, input_lengths, target_lengths, reduction="sum")

    def optax_total(x: jax.Array) -> jax.Array:
        return jnp.sum(optax.ctc_loss(x, logit_paddings, targets, label_paddings))

    jaxloss_step = jax.jit(jax.value_and_grad(jaxloss_total))
    optax_step = jax.jit(jax.value_and_grad(optax_total))

    x_torch = torch.from_numpy(np.ascontiguousarray(logits_np.transpose(1, 0, 2))).requires_grad_()
    targets_torch = torch.from_numpy(targets_np).long()
    lengths_torch = (torch.full((n,), t, dtype=torch.long), torch.full((n,), s, dtype=torch.long))

    def torch_step() -> tuple[torch.Tensor, torch.Tensor]:
        value = F.ctc_loss(x_torch.log_softmax(-1), targets_torch, *lengths_torch, reduction="sum")
        (grad,) = torch.autograd.grad(value, x_torch)
        return value, grad

    return BenchCase(
        name=f"ctc_loss value+grad N={n} T={t} C={c} S={s}",
        jaxloss=functools.partial(jaxloss_step, logits),
        optax=functools.partial(optax_step, logits),
        torch=torch_step,
        temp_bytes=lambda: temp_bytes_of(jaxloss_step, logits),
    )


def cases(quick: bool) -> list[BenchCase]:
    if quick:
        return [_ctc_case(2, 12, 5, 3)]
    return [_ctc_case(16, 200, 64, 40), _ctc_case(16, 1000, 64, 200)]
