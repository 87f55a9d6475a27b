"""Registry entries for the embedding losses, and the torch references of the batch losses
(pytorch-metric-learning semantics; also used by tests/test_embedding.py).

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

from references import Spec, normal, torch_reduce, uniform

D = 4  # embedding size


# --- pytorch-metric-learning losses: references in torch ----------------------------------------------


def _t_pairs(labels: torch.Tensor, valid: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor]:
    n = labels.shape[0]
    off = ~torch.eye(n, dtype=torch.bool)
    if valid is not None:
        off = off & torch.as_tensor(valid)
    same = labels[:, None] == labels[None, :]
    return same & off, ~same & off


def _t_matrix(e: torch.Tensor, distance: str, normalize: bool) -> torch.Tensor:
    """pytorch-metric-learning's LpDistance(p=2, power=1) / CosineSimilarity, by explicit differences."""
    if normalize:
        e = F.normalize(e, p=2, dim=1)
    if distance == "cosine":
        return e @ e.T
    return torch.linalg.vector_norm(e[:, None, :] - e[None, :, :], dim=-1)


def torch_contrastive(e, labels, *, pos_margin=0.0, neg_margin=1.0, distance="euclidean", normalize=True,
                      reduction="mean", valid=None):
    """ContrastiveLoss with its default AvgNonZeroReducer: each of the positive and negative pair
    losses averaged over its non-zero entries, then added."""
    mat = _t_matrix(e, distance, normalize)
    pos, neg = _t_pairs(labels, valid)
    if distance == "euclidean":
        pos_loss, neg_loss = F.relu(mat - pos_margin), F.relu(neg_margin - mat)
    else:
        pos_loss, neg_loss = F.relu(pos_margin - mat), F.relu(mat - neg_margin)
    pos_loss, neg_loss = pos_loss * pos, neg_loss * neg
    if reduction != "mean":
        return torch_reduce(pos_loss + neg_loss, reduction)

    def avg_non_zero(losses):
        nonzero = losses > 0
        return losses[nonzero].mean() if nonzero.any() else losses.sum() * 0

    return avg_non_zero(pos_loss[pos]) + avg_non_zero(neg_loss[neg])


def torch_ntxent(e, labels, *, temperature=0.07, distance="cosine", normalize=True, reduction="mean", valid=None):
    """NTXentLoss as pytorch-metric-learning computes it: one loss per positive pair (a, p),
    -log(e^{s_ap/t} / (e^{s_ap/t} + sum_n e^{s_an/t}) + tiny), mean over the positive pairs."""
    mat = _t_matrix(e, distance, normalize)
    sim = mat if distance == "cosine" else -mat
    pos, neg = _t_pairs(labels, valid)
    a1, p = pos.nonzero(as_tuple=True)
    pos_pairs = sim[a1, p].unsqueeze(1) / temperature
    neg_pairs = (sim[a1] / temperature).masked_fill(~neg[a1], -math.inf)
    max_val = torch.max(pos_pairs, neg_pairs.max(dim=1, keepdim=True)[0]).detach()
    numerator = torch.exp(pos_pairs - max_val).squeeze(1)
    denominator = torch.exp(neg_pairs - max_val).sum(dim=1) + numerator
    per_pair = -torch.log(numerator / denominator + torch.finfo(e.dtype).tiny)
    n = e.shape[0]
    if reduction == "none":
        return torch.zeros(n, n, dtype=e.dtype).index_put((a1, p), per_pair)
    if reduction == "sum":
        return per_pair.sum()
    return per_pair.mean() if len(per_pair) else per_pair.sum() * 0


def torch_supcon(e, labels, *, temperature=0.1, distance="cosine", normalize=True, reduction="mean", valid=None):
    """SupConLoss as pytorch-metric-learning computes it (max-shift, masked log-sum-exp, mean of the
    positives' log-probabilities); 'mean' over the anchors that have a positive."""
    mat = _t_matrix(e, distance, normalize)
    mat = (mat if distance == "cosine" else -mat) / temperature
    mat = mat - mat.max(dim=1, keepdim=True)[0].detach()
    pos, neg = _t_pairs(labels, valid)
    keep = pos | neg
    rows = keep.any(dim=1, keepdim=True)
    masked = torch.where(rows, mat.masked_fill(~keep, -math.inf), torch.zeros_like(mat))  # no all -inf row
    denominator = torch.logsumexp(masked, dim=1, keepdim=True).masked_fill(~rows, 0)
    log_prob = mat - denominator
    per_anchor = -(pos * log_prob).sum(dim=1) / (pos.sum(dim=1) + torch.finfo(e.dtype).tiny)
    has_pos = pos.any(dim=1)
    if reduction == "none":
        return per_anchor * has_pos
    if reduction == "sum":
        return (per_anchor * has_pos).sum()
    return per_anchor[has_pos].mean() if has_pos.any() else per_anchor.sum() * 0


# --- registry entries ------------------------------------------------------------------------------


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
        mask_arg=1,  # `where` masks the (N, N) pairs or, shaped (N,), the samples
        mean_is_average=False,  # "mean" is AvgNonZeroReducer: positive and negative non-zero averages, added
        max_scale=1e15, torch_rtol=2e-4,
    ),
    Spec(
        "ntxent_loss", _softmax_batch([0.07, 0.5]), _torch_batch(torch_ntxent),
        unreduced="other", vmap=False,
        where=False,  # a (N, N) `where` also removes masked negatives from the other pairs' denominators
        mask_arg=1,  # a (N,) `where` removes samples
        mean_is_average=False,  # "mean" averages over the positive pairs, not the N * N entries
        max_scale=1e15, torch_rtol=2e-4,
    ),
    Spec(
        "supervised_contrastive_loss", _softmax_batch([0.1, 1.0]), _torch_batch(torch_supcon),
        unreduced="other", vmap=False,
        where=False,  # a (N,) `where` removes samples from the batch, changing the other anchors' losses
        mask_arg=1,  # a (N,) `where` removes samples
        mean_is_average=False,  # "mean" averages over the anchors that have a positive
        max_scale=1e15, torch_rtol=2e-4,
    ),
]


# One value only a run-time check rejects, per loss (see references/classification.py).
INVALID = {
    "triplet_margin_loss": lambda args, kwargs: (args, {**kwargs, "margin": -1.0}),
    "triplet_margin_with_distance_loss": lambda args, kwargs: (args, {**kwargs, "margin": -1.0}),
    "ntxent_loss": lambda args, kwargs: (args, {**kwargs, "temperature": -0.1}),
    "supervised_contrastive_loss": lambda args, kwargs: (args, {**kwargs, "temperature": -0.1}),
}
