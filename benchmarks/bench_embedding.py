"""Embedding and metric-learning losses: value and gradient of the whole step.

The target of issue 4: ``ntxent_loss`` value + gradient at B=1024, D=128 within 0.05 of
``optax.ntxent``'s time (optax forms a (B, B, D) array for its cosine similarities). The batch
losses also run at B=4096, D=256 (their temporary memory is in the last column: O(B^2)).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
import torch.nn.functional as F

import jaxloss as jl
from benchmarks._harness import BenchCase, temp_bytes_of


def _torch_ntxent(e: torch.Tensor, labels: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """NT-Xent in torch with one (B, B) similarity matrix (a fair O(B^2) implementation)."""
    logits = (lambda u: u @ u.T)(F.normalize(e, dim=1)) / temperature
    same = labels[:, None] == labels[None, :]
    off = ~torch.eye(len(labels), dtype=torch.bool)
    pos, neg = same & off, ~same & off
    neg_lse = torch.logsumexp(logits.masked_fill(~neg, -math.inf), dim=1, keepdim=True)
    return F.softplus(neg_lse - logits)[pos].mean()


def _torch_supcon(e: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    logits = (lambda u: u @ u.T)(F.normalize(e, dim=1)) / temperature
    same = labels[:, None] == labels[None, :]
    off = ~torch.eye(len(labels), dtype=torch.bool)
    pos = same & off
    lse = torch.logsumexp(logits.masked_fill(~off, -math.inf), dim=1)
    per_anchor = lse - (logits * pos).sum(1) / pos.sum(1).clamp_min(1)
    return per_anchor[pos.any(1)].mean()


def _torch_step(fn, *tensors):
    def step():
        x = tensors[0].detach().requires_grad_(True)
        value = fn(x, *tensors[1:])
        (grad,) = torch.autograd.grad(value, [x])
        return value, grad

    return step


def _jax_step(fn, *arrays, **kwargs):
    step = jax.jit(jax.value_and_grad(lambda x, *rest: fn(x, *rest, **kwargs)))
    return (lambda: step(*arrays)), (lambda: temp_bytes_of(step, *arrays))


def _batch(b: int, d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    e = rng.standard_normal((b, d)).astype(np.float32)
    labels = np.repeat(np.arange(b // 2), 2).astype(np.int32)  # SimCLR: two views per image
    return e, labels


def cases(quick: bool) -> list[BenchCase]:
    b, d = (16, 8) if quick else (1024, 128)
    big_b, big_d = (32, 8) if quick else (4096, 256)
    e, labels = _batch(b, d)
    je, jlab = jnp.asarray(e), jnp.asarray(labels)
    te, tlab = torch.from_numpy(e), torch.from_numpy(labels).long()
    out = []

    run, temp = _jax_step(jl.ntxent_loss, je, jlab)
    optax_step = jax.jit(jax.value_and_grad(optax.ntxent))
    out.append(BenchCase(f"ntxent_loss value+grad B={b} D={d}", run, optax=lambda: optax_step(je, jlab),
                         torch=_torch_step(_torch_ntxent, te, tlab), temp_bytes=temp))
    run, temp = _jax_step(jl.supervised_contrastive_loss, je, jlab)
    out.append(BenchCase(f"supervised_contrastive_loss value+grad B={b} D={d}", run,
                         torch=_torch_step(_torch_supcon, te, tlab), temp_bytes=temp))

    be, blab = (jnp.asarray(a) for a in _batch(big_b, big_d, seed=1))
    for loss in (jl.ntxent_loss, jl.supervised_contrastive_loss, jl.contrastive_loss):
        run, temp = _jax_step(loss, be, blab)
        out.append(BenchCase(f"{loss.__name__} value+grad B={big_b} D={big_d}", run, temp_bytes=temp))

    n = 64 if quick else 4096
    rng = np.random.default_rng(2)
    a, p, ng = (rng.standard_normal((n, d)).astype(np.float32) for _ in range(3))
    ja, jp, jn = (jnp.asarray(x) for x in (a, p, ng))
    ta, tp, tn = (torch.from_numpy(x) for x in (a, p, ng))
    run, temp = _jax_step(jl.triplet_margin_loss, ja, jp, jn, swap=True)
    out.append(BenchCase(f"triplet_margin_loss swap value+grad N={n} D={d}", run,
                         torch=_torch_step(lambda x, y, z: F.triplet_margin_loss(x, y, z, swap=True), ta, tp, tn), temp_bytes=temp))
    y = np.where(rng.standard_normal(n) > 0, 1.0, -1.0).astype(np.float32)
    run, temp = _jax_step(jl.cosine_embedding_loss, ja, jp, jnp.asarray(y), margin=0.2)
    out.append(BenchCase(f"cosine_embedding_loss value+grad N={n} D={d}", run,
                         torch=_torch_step(lambda x, z, t: F.cosine_embedding_loss(x, z, t, margin=0.2), ta, tp, torch.from_numpy(y)),
                         temp_bytes=temp))
    return out
