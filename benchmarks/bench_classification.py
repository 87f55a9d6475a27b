"""Classification losses: cross-entropy with integer targets and BCE-with-logits, forward and value +
gradient w.r.t. the logits, jaxloss vs optax (mean of its per-example loss) vs torch on CPU."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax
import torch
import torch.nn.functional as F

import jaxloss as jl
from benchmarks._harness import BenchCase, pair


def _ce_cases(n: int, c: int) -> list[BenchCase]:
    rng = np.random.default_rng(0)
    xn = rng.standard_normal((n, c), np.float32)
    yn = rng.integers(0, c, size=(n,)).astype(np.int32)
    return pair(
        "cross_entropy",
        f"({n}, {c})",
        jl.cross_entropy,
        (jnp.asarray(xn), jnp.asarray(yn)),
        lambda x, y: jnp.mean(optax.softmax_cross_entropy_with_integer_labels(x, y)),
        F.cross_entropy,
        (torch.from_numpy(xn), torch.from_numpy(yn.astype(np.int64))),
    )


def _bce_cases(n: int, c: int) -> list[BenchCase]:
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
    )


def cases(quick: bool) -> list[BenchCase]:
    if quick:
        return _ce_cases(8, 40000) + _ce_cases(16, 256) + _bce_cases(32, 32)
    return _ce_cases(4096, 32000) + _ce_cases(1024, 131072) + _bce_cases(4096, 4096)
