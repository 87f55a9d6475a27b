"""Embedding and metric-learning losses: forward and value + gradient w.r.t. the embeddings.

The target of issue 4: ``ntxent_loss`` value + gradient at B=1024, D=128 within 0.05 of
``optax.ntxent``'s time (optax forms a (B, B, D) array for its cosine similarities). The batch
losses also run, jaxloss only, at B=4096, D=256 (their temporary memory is in the last column: O(B^2)).
The small rows (batch 64, D=32: value + gradient of every embedding loss optax has) are timed over
``SMALL_CALLS`` calls per sample.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import optax
import torch
import torch.nn.functional as F

import jaxloss as jl
from benchmarks._harness import BenchCase, pair

SMALL_CALLS = 200


def _torch_ntxent(e: torch.Tensor, labels: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """NT-Xent in torch with one (B, B) similarity matrix (a fair O(B^2) implementation)."""
    u = F.normalize(e, dim=1)
    logits = u @ u.T / temperature
    same = labels[:, None] == labels[None, :]
    off = ~torch.eye(len(labels), dtype=torch.bool)
    pos, neg = same & off, ~same & off
    neg_lse = torch.logsumexp(logits.masked_fill(~neg, -math.inf), dim=1, keepdim=True)
    return F.softplus(neg_lse - logits)[pos].mean()


def _torch_supcon(e: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    u = F.normalize(e, dim=1)
    logits = u @ u.T / temperature
    same = labels[:, None] == labels[None, :]
    off = ~torch.eye(len(labels), dtype=torch.bool)
    pos = same & off
    lse = torch.logsumexp(logits.masked_fill(~off, -math.inf), dim=1)
    per_anchor = lse - (logits * pos).sum(1) / pos.sum(1).clamp_min(1)
    return per_anchor[pos.any(1)].mean()


def _batch(b: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    e = rng.standard_normal((b, d)).astype(np.float32)
    labels = np.repeat(np.arange(b // 2), 2).astype(np.int32)  # SimCLR: two views per image
    return e, labels


def _small_cases() -> list[BenchCase]:
    n, d = 64, 32
    kinds, calls, size = ("value+grad",), SMALL_CALLS, f"N={n} D={d}"
    rng = np.random.default_rng(3)
    a, p, ng = (rng.standard_normal((n, d)).astype(np.float32) for _ in range(3))
    score = rng.standard_normal(n).astype(np.float32)
    y = np.where(rng.standard_normal(n) > 0, 1.0, -1.0).astype(np.float32)
    e, labels = _batch(n, d, seed=3)
    jx = tuple(jnp.asarray(v) for v in (a, p, ng, score, y))
    tx = tuple(torch.from_numpy(v) for v in (a, p, ng, score, y))
    return (
        pair("margin_ranking_loss (optax hinge_loss)", f"N={n}",
             lambda s_, t: jl.margin_ranking_loss(s_, jnp.zeros_like(s_), t, margin=1.0), jx[3:],
             lambda s_, t: jnp.mean(optax.losses.hinge_loss(s_, t)),
             lambda s_, t: F.margin_ranking_loss(s_, torch.zeros_like(s_), t, margin=1.0), tx[3:],
             kinds=kinds, calls=calls)
        + pair("cosine_embedding_loss", size, lambda u, v: jl.cosine_embedding_loss(u, v, jnp.ones(n)), jx[:2],
               lambda u, v: jnp.mean(optax.losses.cosine_distance(u, v)),
               lambda u, v: F.cosine_embedding_loss(u, v, torch.ones(n)), tx[:2], kinds=kinds, calls=calls)
        + pair("triplet_margin_loss", size, jl.triplet_margin_loss, jx[:3],
               lambda u, v, w: jnp.mean(optax.losses.triplet_margin_loss(u, v, w)),
               F.triplet_margin_loss, tx[:3], kinds=kinds, calls=calls)
        + pair("ntxent_loss", size, jl.ntxent_loss, (jnp.asarray(e), jnp.asarray(labels)), optax.ntxent,
               _torch_ntxent, (torch.from_numpy(e), torch.from_numpy(labels).long()), kinds=kinds, calls=calls)
    )


def cases(quick: bool) -> list[BenchCase]:
    b, d = (16, 8) if quick else (1024, 128)
    big_b, big_d = (32, 8) if quick else (4096, 256)
    e, labels = _batch(b, d)
    args = (jnp.asarray(e), jnp.asarray(labels))
    torch_args = (torch.from_numpy(e), torch.from_numpy(labels).long())
    size = f"B={b} D={d}"
    out = _small_cases()
    out += pair("ntxent_loss", size, jl.ntxent_loss, args, optax.ntxent, _torch_ntxent, torch_args)
    out += pair("supervised_contrastive_loss", size, jl.supervised_contrastive_loss, args, None, _torch_supcon,
                torch_args)

    big_args = tuple(jnp.asarray(a) for a in _batch(big_b, big_d, seed=1))
    for loss in (jl.ntxent_loss, jl.supervised_contrastive_loss, jl.contrastive_loss):
        out += pair(loss.__name__, f"B={big_b} D={big_d}", loss, big_args)

    n = 64 if quick else 4096
    rng = np.random.default_rng(2)
    a, p, ng = (rng.standard_normal((n, d)).astype(np.float32) for _ in range(3))
    y = np.where(rng.standard_normal(n) > 0, 1.0, -1.0).astype(np.float32)
    size = f"N={n} D={d}"
    out += pair("triplet_margin_loss swap", size, lambda x, z, w: jl.triplet_margin_loss(x, z, w, swap=True),
                tuple(jnp.asarray(v) for v in (a, p, ng)), None,
                lambda x, z, w: F.triplet_margin_loss(x, z, w, swap=True), tuple(torch.from_numpy(v) for v in (a, p, ng)))
    out += pair("cosine_embedding_loss", size, lambda x, z, t: jl.cosine_embedding_loss(x, z, t, margin=0.2),
                tuple(jnp.asarray(v) for v in (a, p, y)), None,
                lambda x, z, t: F.cosine_embedding_loss(x, z, t, margin=0.2), tuple(torch.from_numpy(v) for v in (a, p, y)))
    return out
