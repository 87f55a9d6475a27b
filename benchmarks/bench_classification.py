"""Classification losses: cross-entropy with integer targets, BCE-with-logits, poly-1 and KL
divergence, forward and value + gradient w.r.t. the logits, jaxloss vs optax (mean of its
per-example loss) vs torch on CPU.

The small rows (batch 64, 10 classes: a digits classifier) are timed over ``SMALL_CALLS`` calls per
sample; there a call costs microseconds, so what they measure is the per-call overhead.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
import torch.nn.functional as F

import jaxloss as jl
from benchmarks._harness import KINDS, BenchCase, pair

SMALL = (64, 10)
SMALL_CALLS = 200


def _logits_labels(n: int, c: int) -> tuple[tuple[jax.Array, jax.Array], tuple[torch.Tensor, torch.Tensor]]:
    rng = np.random.default_rng(0)
    xn = rng.standard_normal((n, c), np.float32)
    yn = rng.integers(0, c, size=(n,)).astype(np.int32)
    return (jnp.asarray(xn), jnp.asarray(yn)), (torch.from_numpy(xn), torch.from_numpy(yn.astype(np.int64)))


def _ce_cases(n: int, c: int, kinds: tuple[str, ...] = KINDS, calls: int = 1) -> list[BenchCase]:
    args, torch_args = _logits_labels(n, c)
    return pair(
        "cross_entropy",
        f"({n}, {c})",
        jl.cross_entropy,
        args,
        lambda x, y: jnp.mean(optax.softmax_cross_entropy_with_integer_labels(x, y)),
        F.cross_entropy,
        torch_args,
        kinds=kinds,
        calls=calls,
    )


def _bce_cases(n: int, c: int, kinds: tuple[str, ...] = KINDS, calls: int = 1) -> list[BenchCase]:
    rng = np.random.default_rng(1)
    xn = (3 * rng.standard_normal((n, c))).astype(np.float32)
    yn = rng.uniform(0, 1, (n, c)).astype(np.float32)
    return pair(
        "binary_cross_entropy_with_logits",
        f"({n}, {c})",
        jl.binary_cross_entropy_with_logits,
        (jnp.asarray(xn), jnp.asarray(yn)),
        lambda x, y: jnp.mean(optax.sigmoid_binary_cross_entropy(x, y)),
        F.binary_cross_entropy_with_logits,
        (torch.from_numpy(xn), torch.from_numpy(yn)),
        kinds=kinds,
        calls=calls,
    )


def _torch_poly1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """PolyLoss reference formula (Leng et al.): cross-entropy + epsilon (1 - p_target), epsilon=1."""
    ce = F.cross_entropy(x, y, reduction="none")
    return (ce + 1 - torch.exp(-ce)).mean()


def _small_cases() -> list[BenchCase]:
    """Value+grad at (64, 10) of every classification loss optax has."""
    n, c = SMALL
    kinds, calls = ("value+grad",), SMALL_CALLS
    args, torch_args = _logits_labels(n, c)
    log_p, q = jax.nn.log_softmax(args[0]), jax.nn.softmax(args[0][::-1])
    torch_kl_args = (torch.from_numpy(np.array(log_p)), torch.from_numpy(np.array(q)))
    return (
        _ce_cases(n, c, kinds, calls)
        + _bce_cases(n, c, kinds, calls)
        + pair("poly1_cross_entropy", f"({n}, {c})", jl.poly1_cross_entropy, args,
               lambda x, y: jnp.mean(optax.losses.poly_loss_cross_entropy(x, jax.nn.one_hot(y, c), epsilon=1.0)),
               _torch_poly1, torch_args, kinds=kinds, calls=calls)
        + pair("kl_div batchmean", f"({n}, {c})", lambda a, b: jl.kl_div(a, b, reduction="batchmean"), (log_p, q),
               lambda a, b: jnp.mean(optax.kl_divergence(a, b)),
               lambda a, b: F.kl_div(a, b, reduction="batchmean"), torch_kl_args, kinds=kinds, calls=calls)
    )


def cases(quick: bool) -> list[BenchCase]:
    if quick:
        return _ce_cases(8, 40000) + _ce_cases(16, 256) + _bce_cases(32, 32) + _small_cases()
    return _small_cases() + _ce_cases(4096, 32000) + _ce_cases(1024, 131072) + _bce_cases(4096, 4096)
