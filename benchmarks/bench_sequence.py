"""Sequence losses: CTC (``log_softmax`` of the logits inside the step, summed over the batch),
forward and value + gradient w.r.t. the logits, against optax and torch; the small row (N=4 T=50
C=10 S=10, value + gradient) is timed over many calls per sample."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
import torch.nn.functional as F

import jaxloss as jl
from benchmarks._harness import KINDS, BenchCase, pair


def _jaxloss_ctc(x: jax.Array, targets: jax.Array, input_lengths: jax.Array, target_lengths: jax.Array) -> jax.Array:
    return jl.ctc_loss(jax.nn.log_softmax(x), targets, input_lengths, target_lengths, reduction="sum")


def _optax_ctc(x: jax.Array, targets: jax.Array, input_lengths: jax.Array, target_lengths: jax.Array) -> jax.Array:
    """optax takes paddings (1 past the end) instead of lengths."""
    logit_paddings = (jnp.arange(x.shape[1]) >= input_lengths[:, None]).astype(x.dtype)
    label_paddings = (jnp.arange(targets.shape[1]) >= target_lengths[:, None]).astype(x.dtype)
    return jnp.sum(optax.ctc_loss(x, logit_paddings, targets, label_paddings))


def _torch_ctc(x: torch.Tensor, targets: torch.Tensor, input_lengths: torch.Tensor, target_lengths: torch.Tensor
               ) -> torch.Tensor:
    return F.ctc_loss(x.log_softmax(-1), targets, input_lengths, target_lengths, reduction="sum")


def _ctc_cases(n: int, t: int, c: int, s: int, kinds: tuple[str, ...] = KINDS, calls: int = 1) -> list[BenchCase]:
    rng = np.random.default_rng(0)
    logits_np = rng.standard_normal((n, t, c)).astype(np.float32)
    targets_np = rng.integers(1, c, (n, s)).astype(np.int32)
    args = (jnp.asarray(logits_np), jnp.asarray(targets_np), jnp.full((n,), t, jnp.int32), jnp.full((n,), s, jnp.int32))
    torch_args = (
        torch.from_numpy(np.ascontiguousarray(logits_np.transpose(1, 0, 2))),  # torch's (T, N, C)
        torch.from_numpy(targets_np).long(),
        torch.full((n,), t, dtype=torch.long),
        torch.full((n,), s, dtype=torch.long),
    )
    return pair("ctc_loss", f"N={n} T={t} C={c} S={s}", _jaxloss_ctc, args, _optax_ctc, _torch_ctc, torch_args,
                kinds=kinds, calls=calls)


def cases(quick: bool) -> list[BenchCase]:
    small = _ctc_cases(4, 50, 10, 10, ("value+grad",), calls=50)
    if quick:
        return _ctc_cases(2, 12, 5, 3) + small
    return small + _ctc_cases(16, 200, 64, 40) + _ctc_cases(16, 1000, 64, 200)
