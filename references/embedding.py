"""Registry entries for the embedding losses (references from tests/test_embedding.py).

The pair and triplet losses are elementwise or per-sample; the three batch losses
(``contrastive_loss``, ``ntxent_loss``, ``supervised_contrastive_loss``) take one batch ``(N, D)`` of
embeddings and ``(N,)`` labels and couple its samples. Their batch is ``N = 2 * prod(batch_shape)``
samples drawn as two "views" of ``prod(batch_shape)`` items with random classes, so every anchor has a
positive (and, for more than one item, usually negatives).
"""

import math

import jax.numpy as jnp
import numpy as np
import torch
import torch.nn.functional as F

from tests.registry import Spec, normal, uniform
from tests.test_embedding import torch_contrastive, torch_ntxent, torch_supcon

D = 4  # embedding size


def _signs(rng, batch):
    return np.where(rng.uniform(size=batch) < 0.5, 1.0, -1.0)


def _ranking(rng, batch, scale):
    args = (normal(rng, batch, scale), normal(rng, batch, scale), _signs(rng, batch))
    return args, {"margin": float(rng.choice([0.0, 0.5]))}


def _hinge(rng, batch, scale):
    return (uniform(rng, batch, -0.5, 2.0) * scale, _signs(rng, batch)), {"margin": float(rng.choice([1.0, 0.4]))}


def _cosine(rng, batch, scale):
    args = (normal(rng, (*batch, D), scale), normal(rng, (*batch, D), scale), _signs(rng, batch))
    return args, {"margin": float(rng.choice([0.0, 0.3]))}


def _three(rng, batch, scale):
    return tuple(normal(rng, (*batch, D), scale) for _ in range(3))


def _triplet(rng, batch, scale):
    # p and swap are static (each pair compiles anew): four combinations keep the run short
    p, swap = [(2, False), (1, True), (3, True), (math.inf, False)][rng.integers(4)]
    return _three(rng, batch, scale), {"margin": float(rng.choice([1.0, 0.5])), "p": p, "swap": swap}


def _jl_l1(x, y):  # module level: one function object, so the static argument does not recompile
    return jnp.sum(jnp.abs(x - y), axis=-1)


def _torch_l1(x, y):
    return torch.sum(torch.abs(x - y), dim=-1)


_TORCH_DISTANCE = {None: None, _jl_l1: _torch_l1}


def _triplet_distance(rng, batch, scale):
    distance_function, swap = [(None, False), (_jl_l1, True)][rng.integers(2)]  # static: two compilations
    kwargs = {"distance_function": distance_function, "margin": float(rng.choice([1.0, 0.7])), "swap": swap}
    return _three(rng, batch, scale), kwargs


def _views(rng, batch, scale):
    """Two views of ``prod(batch)`` items: ``(2B, D)`` embeddings and int64 labels with positive pairs."""
    items = int(np.prod(batch))
    classes = rng.integers(0, max(2, items), size=items)
    labels = rng.permutation(np.concatenate([classes, classes])).astype(np.int64)
    return normal(rng, (2 * items, D), scale), labels


def _contrastive(rng, batch, scale):
    distance = ["euclidean", "cosine"][rng.integers(2)]
    margins = {"pos_margin": 0.0, "neg_margin": 1.0} if distance == "euclidean" else {"pos_margin": 0.9, "neg_margin": 0.1}
    return _views(rng, batch, scale), {"distance": distance, **margins}


def _softmax_batch(temperatures):
    def make(rng, batch, scale):
        kwargs = {"distance": ["cosine", "euclidean"][rng.integers(2)], "temperature": float(rng.choice(temperatures))}
        return _views(rng, batch, scale), kwargs

    return make


def _torch_batch(ref):
    return lambda e, labels, reduction, **kw: ref(e, labels, reduction=reduction, **kw)


SPECS = [
    Spec(
        "margin_ranking_loss", _ranking,
        lambda x1, x2, y, reduction, margin: F.margin_ranking_loss(x1, x2, y, margin=margin, reduction=reduction),
        grad_args=(0, 1), grad_order=1, max_scale=1e30,  # a hinge
    ),
    Spec(
        "hinge_embedding_loss", _hinge,
        lambda x, y, reduction, margin: F.hinge_embedding_loss(x, y, margin=margin, reduction=reduction),
        grad_order=1, max_scale=1e30,  # a hinge
    ),
    Spec(
        "cosine_embedding_loss", _cosine,
        lambda x1, x2, y, reduction, margin: F.cosine_embedding_loss(x1.reshape(-1, D), x2.reshape(-1, D), y.reshape(-1),
                                                                     margin=margin, reduction=reduction).reshape(
            y.shape if reduction == "none" else ()),  # torch takes (N, D) only
        unreduced="batch", grad_args=(0, 1), grad_order=1,  # max(0, cos - margin)
        max_scale=1e15,  # the squared norms overflow float32 beyond ~1e19
    ),
    Spec(
        "triplet_margin_loss", _triplet,
        lambda a, pos, neg, reduction, **kw: F.triplet_margin_loss(a, pos, neg, reduction=reduction, **kw),
        unreduced="batch", grad_args=(0, 1, 2), grad_order=1,  # a hinge; p = 1 and inf norms have kinks
        max_scale=1e12,  # sum |x|^p overflows float32 beyond ~1e12 for p = 3 (as in torch)
    ),
    Spec(
        "triplet_margin_with_distance_loss", _triplet_distance,
        lambda a, pos, neg, reduction, distance_function, **kw: F.triplet_margin_with_distance_loss(
            a, pos, neg, distance_function=_TORCH_DISTANCE[distance_function], reduction=reduction, **kw),
        unreduced="batch", grad_args=(0, 1, 2), grad_order=1, max_scale=1e15,  # a hinge; the L1 distance has kinks
    ),
    # The batch losses couple the samples (vmap=False) and return (N, N) or (N,) losses ("other").
    Spec(
        "contrastive_loss", _contrastive, _torch_batch(torch_contrastive),
        unreduced="other", vmap=False, grad_order=1,  # hinges on the pair distances
        mean_is_average=False,  # "mean" is AvgNonZeroReducer: positive and negative non-zero averages, added
        max_scale=1e15, torch_rtol=2e-4,
    ),
    Spec(
        "ntxent_loss", _softmax_batch([0.07, 0.5]), _torch_batch(torch_ntxent),
        unreduced="other", vmap=False,
        where=False,  # a (N, N) `where` also removes masked negatives from the other pairs' denominators
        mean_is_average=False,  # "mean" averages over the positive pairs, not the N * N entries
        max_scale=1e15, torch_rtol=2e-4,
    ),
    Spec(
        "supervised_contrastive_loss", _softmax_batch([0.1, 1.0]), _torch_batch(torch_supcon),
        unreduced="other", vmap=False,
        where=False,  # a (N,) `where` removes samples from the batch, changing the other anchors' losses
        mean_is_average=False,  # "mean" averages over the anchors that have a positive
        max_scale=1e15, torch_rtol=2e-4,
    ),
]
