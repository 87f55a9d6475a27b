"""Embedding, ranking and metric-learning losses: torch's losses against live torch; the
pytorch-metric-learning losses against references written in torch below from the published
formulas (pytorch-metric-learning cannot be installed here) and against hand computations."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from jax.experimental import checkify

import jaxloss as jl
from references.embedding import torch_contrastive, torch_ntxent, torch_supcon
from tests.parity import assert_finite, assert_parity, rand, randint, randn

D = 4  # embedding size of the vector losses


def _signs(shape, seed):
    return np.where(rand(shape, seed) > 0, 1.0, -1.0).astype(np.float32)


# --- torch's losses -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Config:
    """A torch loss with fixed options: how to call it in both frameworks and how to draw its inputs
    for a batch shape."""

    id: str
    jl: Callable[..., Any]  # (*arrays, reduction, **extra_keywords) -> loss
    torch: Callable[..., Any]  # (*tensors, reduction) -> loss
    make: Callable[[tuple[int, ...], int], tuple[np.ndarray, ...]]
    grad: tuple[int, ...]
    vector: bool  # inputs carry a trailing embedding axis of size D


def _ranking(shape, seed):
    return rand(shape, seed), rand(shape, seed + 1), _signs(shape, seed + 2)


def _hinge(shape, seed):
    return rand(shape, seed, -0.5, 2.0), _signs(shape, seed + 1)


def _cosine(shape, seed):
    return randn((*shape, D), seed), randn((*shape, D), seed + 1), _signs(shape, seed + 2)


def _triplet(shape, seed):
    return randn((*shape, D), seed), randn((*shape, D), seed + 1), randn((*shape, D), seed + 2)


def _jl_cosine_distance(x, y):
    return 1.0 - jnp.sum(x * y, -1) / jnp.sqrt(jnp.sum(x * x, -1) * jnp.sum(y * y, -1))


def _torch_cosine_distance(x, y):
    return 1.0 - F.cosine_similarity(x, y, dim=-1, eps=0.0)


CONFIGS = [
    *[
        Config(
            f"margin_ranking_m{m}",
            lambda a, b, y, r, m=m, **kw: jl.margin_ranking_loss(a, b, y, margin=m, reduction=r, **kw),
            lambda a, b, y, r, m=m: F.margin_ranking_loss(a, b, y, margin=m, reduction=r),
            _ranking, (0, 1, 2), False,
        )
        for m in (0.0, 0.5)
    ],
    *[
        Config(
            f"hinge_embedding_m{m}",
            lambda x, y, r, m=m, **kw: jl.hinge_embedding_loss(x, y, margin=m, reduction=r, **kw),
            lambda x, y, r, m=m: F.hinge_embedding_loss(x, y, margin=m, reduction=r),
            _hinge, (0,), False,
        )
        for m in (1.0, 0.4)
    ],
    *[
        Config(
            f"cosine_embedding_m{m}",
            lambda a, b, y, r, m=m, **kw: jl.cosine_embedding_loss(a, b, y, margin=m, reduction=r, **kw),
            lambda a, b, y, r, m=m: F.cosine_embedding_loss(a, b, y, margin=m, reduction=r),
            _cosine, (0, 1), True,
        )
        for m in (0.0, 0.3)
    ],
    *[
        Config(
            f"triplet_p{p}_swap{s}_eps{e}_m{m}",
            lambda a, b, c, r, p=p, s=s, e=e, m=m, **kw: jl.triplet_margin_loss(a, b, c, margin=m, p=p, eps=e, swap=s, reduction=r, **kw),
            lambda a, b, c, r, p=p, s=s, e=e, m=m: F.triplet_margin_loss(a, b, c, margin=m, p=p, eps=e, swap=s, reduction=r),
            _triplet, (0, 1, 2), True,
        )
        for p, s, e, m in ((2, False, 1e-6, 1.0), (2, True, 1e-6, 1.0), (1, False, 1e-6, 2.0), (3, True, 0.1, 1.5),
                           (math.inf, False, 1e-6, 1.0), (0.5, False, 0.0, 4.0))
    ],
    *[
        Config(
            f"triplet_distance_{name}_swap{s}",
            lambda a, b, c, r, s=s, jd=jd, **kw: jl.triplet_margin_with_distance_loss(a, b, c, distance_function=jd, margin=0.7, swap=s, reduction=r, **kw),
            lambda a, b, c, r, s=s, td=td: F.triplet_margin_with_distance_loss(a, b, c, distance_function=td, margin=0.7, swap=s, reduction=r),
            _triplet, (0, 1, 2), True,
        )
        for name, jd, td in (("default", None, None), ("cosine", _jl_cosine_distance, _torch_cosine_distance))
        for s in (False, True)
    ],
]
BY_ID = {c.id: c for c in CONFIGS}
ONE_PER_LOSS = [BY_ID[i] for i in ("margin_ranking_m0.5", "hinge_embedding_m1.0", "cosine_embedding_m0.3",
                                    "triplet_p2_swapTrue_eps1e-06_m1.0", "triplet_distance_cosine_swapTrue")]


def _parity(config: Config, arrays, reduction: str) -> None:
    assert_parity(lambda *a: config.jl(*a, reduction), lambda *a: config.torch(*a, reduction), *arrays,
                  grad=config.grad, rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize(
    "config,reduction",
    [*((c, "none") for c in CONFIGS), *((c, r) for c in ONE_PER_LOSS for r in ("mean", "sum"))],
    ids=lambda x: x if isinstance(x, str) else x.id,
)
def test_matches_torch(config, reduction):
    # torch's cosine_embedding_loss takes (N, D) or (D,) only; jaxloss's extra batch dims are tested below
    _parity(config, config.make((6,) if config.id.startswith("cosine") else (2, 3), seed=1), reduction)


@pytest.mark.parametrize("config", ONE_PER_LOSS, ids=lambda c: c.id)
def test_unbatched_matches_torch(config):
    _parity(config, config.make((), seed=0), "sum")


def test_cosine_embedding_extra_batch_dims_equal_flattened():
    x1, x2, y = _cosine((2, 3), seed=5)
    cfg = BY_ID["cosine_embedding_m0.3"]
    np.testing.assert_allclose(
        cfg.jl(x1, x2, y, "none"), cfg.jl(x1.reshape(6, D), x2.reshape(6, D), y.reshape(6), "none").reshape(2, 3), rtol=1e-6
    )


@pytest.mark.parametrize(
    "config,shapes",
    [
        ("margin_ranking_m0.5", ((3, 1), (1, 4), (3, 4))),
        ("hinge_embedding_m1.0", ((3, 4), (4,))),
        ("hinge_embedding_m1.0", ((3, 4), ())),
        ("cosine_embedding_m0.0", ((1, D), (5, D), (5,))),
        ("cosine_embedding_m0.0", ((5, D), (5, D), (1,))),
        ("triplet_p2_swapTrue_eps1e-06_m1.0", ((5, D), (1, D), (5, D))),
        ("triplet_distance_default_swapTrue", ((1, D), (5, D), (5, D))),
    ],
    ids=str,
)
def test_broadcasting_torch_accepts(config, shapes):
    cfg = BY_ID[config]
    arrays = [(_signs(s, i) if i == len(shapes) - 1 and "triplet" not in config else randn(s, i)) for i, s in enumerate(shapes)]
    for reduction in ("none", "mean"):
        assert_parity(lambda *a: cfg.jl(*a, reduction), lambda *a: cfg.torch(*a, reduction), *arrays, grad=(0,), atol=2e-6)


# --- kinks, zero vectors, zero distances -------------------------------------------------------------


def test_hinge_kinks_take_torchs_gradient():
    """torch's clamp_min passes the gradient at exactly 0 (jnp.maximum would halve it)."""
    x1 = np.array([1.0, 2.0, 0.5, 3.0], np.float32)
    x2 = np.array([1.0, 1.0, 1.0, 2.5], np.float32)
    y = np.array([1.0, 1.0, -1.0, 1.0], np.float32)  # -y (x1 - x2) + 0.5: 0.5, -0.5, 0, 0
    assert_parity(lambda a, b, t: jl.margin_ranking_loss(a, b, t, margin=0.5, reduction="none"),
                  lambda a, b, t: F.margin_ranking_loss(a, b, t, margin=0.5, reduction="none"), x1, x2, y, grad=(0, 1, 2))
    x = np.array([1.0, 0.5, 0.3, 0.3], np.float32)  # margin - x == 0 at the first entry
    t = np.array([-1.0, -1.0, 0.0, 1.0], np.float32)  # y = 0 gets both terms: 0.7 + 0.3 (TORCH_SEMANTICS.md)
    j, _ = assert_parity(lambda a, b: jl.hinge_embedding_loss(a, b, reduction="none"),
                         lambda a, b: F.hinge_embedding_loss(a, b, reduction="none"), x, t)
    np.testing.assert_allclose(j, [0.0, 0.5, 1.0, 0.3], rtol=1e-6)


def test_cosine_zero_vectors_are_finite_like_torch():
    """A zero vector has cos = 0 (loss 1 for y = 1, 0 for y = -1) and torch's finite gradients."""
    x1 = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], np.float32)
    x2 = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], np.float32)
    y = np.array([1.0, -1.0, 1.0, 1.0], np.float32)
    j, _ = assert_parity(lambda a, b, t: jl.cosine_embedding_loss(a, b, t, reduction="none"),
                         lambda a, b, t: F.cosine_embedding_loss(a, b, t, reduction="none"), x1, x2, y, grad=(0, 1), rtol=1e-5)
    np.testing.assert_array_equal(j, [1.0, 0.0, 1.0, 1.0])
    assert_finite(jax.grad(lambda a, b: jl.cosine_embedding_loss(a, b, y), argnums=(0, 1))(x1, x2))


def test_cosine_large_embeddings_do_not_overflow_the_norm_product():
    # Found by the property tests: torch's sqrt(|x1|^2 |x2|^2) overflows float32 at norms ~1e10, giving
    # cos = 0, and from norms ~1e9 its gradient flushed to zero here (XLA flushes float32 denormals);
    # value and gradients must equal float64 torch's beyond (gradients at norms ~1e15 are still off: see issue 9).
    x1, x2, y = randn((5, D), 0), randn((5, D), 1), _signs((5,), 2)
    for scale in (1e9, 1e10):
        ours = jax.value_and_grad(lambda a, b: jl.cosine_embedding_loss(a, b, y, margin=0.3, reduction="sum"),
                                  argnums=(0, 1))(x1 * scale, x2 * scale)
        t1, t2 = (torch.tensor(x * scale, dtype=torch.float64, requires_grad=True) for x in (x1, x2))
        exact = F.cosine_embedding_loss(t1, t2, torch.tensor(y, dtype=torch.float64), margin=0.3, reduction="sum")
        exact.backward()
        np.testing.assert_allclose(ours[0], exact.item(), rtol=1e-5)
        for g, t in zip(ours[1], (t1, t2)):
            np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-4, atol=1e-4 / scale)


@pytest.mark.parametrize("p,swap", [(2, False), (2, True), (1, False), (3, False), (0.5, True), (math.inf, True)], ids=str)
def test_triplet_identical_anchor_positive_with_eps0_has_torchs_finite_gradient(p, swap):
    """d(a, p) = ||0||: jax.grad of the naive norm is NaN there, torch's (and jaxloss's) is 0."""
    a = randn((5, D), 0)
    n = a.copy()
    n[:2] = randn((2, D), 1)  # some negatives identical to the anchor as well
    j, _ = assert_parity(
        lambda x, y, z: jl.triplet_margin_loss(x, y, z, p=p, eps=0.0, swap=swap, reduction="none"),
        lambda x, y, z: F.triplet_margin_loss(x, y, z, p=p, eps=0.0, swap=swap, reduction="none"),
        a, a.copy(), n, grad=(0, 1, 2),
    )  # torch's gradients are finite here, so equality implies finiteness


def test_triplet_p_norm_subgradients_match_torch():
    """p < 1 with a zero coordinate; p = inf with tied maxima (torch shares the gradient between them)."""
    a = np.array([[1.0, 0.0, 3.0], [1.0, -3.0, 3.0]], np.float32)
    z = np.zeros_like(a)
    n = np.full_like(a, 5.0)
    for p in (0.5, math.inf, 1.0):
        assert_parity(lambda x, y, w: jl.triplet_margin_loss(x, y, w, p=p, eps=0.0, margin=20.0, reduction="none"),
                      lambda x, y, w: F.triplet_margin_loss(x, y, w, p=p, eps=0.0, margin=20.0, reduction="none"),
                      a, z, n, grad=(0, 1, 2))


def test_triplet_eps_is_added_to_the_signed_difference():
    # by hand (TORCH_SEMANTICS.md): d(a, p) = |1 - 0 + 1e-6|, d(a, n) = |1 - 2 + 1e-6| -> 1 + 1.000001 - 0.999999
    out = jl.triplet_margin_loss(jnp.array([[1.0]]), jnp.array([[0.0]]), jnp.array([[2.0]]))
    assert float(out) == pytest.approx(1.000002, rel=1e-6)
    assert float(out) == pytest.approx(float(F.triplet_margin_loss(torch.ones(1, 1), torch.zeros(1, 1), 2 * torch.ones(1, 1))), rel=1e-7)


def test_triplet_with_default_distance_is_triplet_margin_loss():
    a, p, n = _triplet((6,), 3)
    for swap in (False, True):
        np.testing.assert_allclose(
            jl.triplet_margin_with_distance_loss(a, p, n, swap=swap, reduction="none"),
            jl.triplet_margin_loss(a, p, n, swap=swap, reduction="none"), rtol=1e-7,
        )


@dataclasses.dataclass(frozen=True)
class Batch:
    id: str
    jl: Callable[..., Any]
    torch: Callable[..., Any]
    kwargs: dict[str, Any]


BATCH_LOSSES = [
    *[Batch(f"contrastive_{d}_norm{nz}", jl.contrastive_loss, torch_contrastive, {"distance": d, "normalize": nz, **m})
      for d, nz, m in (("euclidean", True, {}), ("euclidean", False, {"neg_margin": 3.0, "pos_margin": 0.5}),
                       ("cosine", True, {"pos_margin": 0.9, "neg_margin": 0.1}))],
    *[Batch(f"ntxent_{d}_norm{nz}_t{t}", jl.ntxent_loss, torch_ntxent, {"distance": d, "normalize": nz, "temperature": t})
      for d, nz, t in (("cosine", True, 0.07), ("euclidean", True, 0.2), ("cosine", False, 2.0))],
    *[Batch(f"supcon_{d}_norm{nz}_t{t}", jl.supervised_contrastive_loss, torch_supcon, {"distance": d, "normalize": nz, "temperature": t})
      for d, nz, t in (("cosine", True, 0.1), ("euclidean", False, 1.0), ("cosine", False, 3.0))],
]
BATCH_BY_ID = {c.id: c for c in BATCH_LOSSES}
BATCH_DEFAULTS = [BATCH_BY_ID[i] for i in ("contrastive_euclidean_normTrue", "ntxent_cosine_normTrue_t0.07", "supcon_cosine_normTrue_t0.1")]


def _jl_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {("normalize_embeddings" if k == "normalize" else k): v for k, v in kwargs.items()}


def _batch(n=10, seed=0):
    """Embeddings and labels with several classes, including a singleton (an anchor without positives)."""
    e = randn((n, 5), seed)
    labels = np.array([0, 1, 2, 0, 1, 0, 3, 2, 1, 0][:n], np.int64)  # class 3 is a singleton
    return e, labels


@pytest.mark.parametrize(
    "case,reduction",
    [*((c, "mean") for c in BATCH_LOSSES), *((c, r) for c in BATCH_DEFAULTS for r in ("sum", "none"))],
    ids=lambda x: x if isinstance(x, str) else x.id,
)
def test_batch_losses_match_torch_reference(case, reduction):
    e, labels = _batch()
    assert_parity(
        lambda x, y: case.jl(x, y, reduction=reduction, **_jl_kwargs(case.kwargs)),
        lambda x, y: case.torch(x, y, reduction=reduction, **case.kwargs),
        e, labels, grad=(0,), rtol=2e-5, atol=2e-6,
    )


@pytest.mark.parametrize("case", BATCH_LOSSES, ids=lambda c: c.id)
def test_batch_pair_mask_matches_reference(case):
    """A (N, N) `where` removes single pairs: here a random half, also from negatives' denominators."""
    e, labels = _batch(seed=1)
    valid = rand((10, 10), 2) > 0
    assert_parity(
        lambda x, y: case.jl(x, y, where=valid, **_jl_kwargs(case.kwargs)),
        lambda x, y: case.torch(x, y, valid=valid, **case.kwargs),
        e, labels, grad=(0,), rtol=2e-5, atol=2e-6,
    )


@pytest.mark.parametrize("case", BATCH_DEFAULTS, ids=lambda c: c.id)
def test_batch_sample_mask_equals_boolean_selection(case):
    e, labels = _batch(seed=3)
    keep = np.array([1, 1, 0, 1, 1, 1, 0, 1, 0, 1], bool)
    kwargs = _jl_kwargs(case.kwargs)
    for reduction in ("mean", "sum"):
        np.testing.assert_allclose(case.jl(e, labels, where=keep, reduction=reduction, **kwargs),
                                   case.jl(e[keep], labels[keep], reduction=reduction, **kwargs), rtol=2e-6, atol=1e-6)
    none = np.asarray(case.jl(e, labels, where=keep, reduction="none", **kwargs))
    sub = np.asarray(case.jl(e[keep], labels[keep], reduction="none", **kwargs))
    if none.ndim == 1:
        np.testing.assert_array_equal(none[~keep], 0)
        np.testing.assert_allclose(none[keep], sub, rtol=2e-6, atol=1e-6)
    else:
        np.testing.assert_array_equal(none[~keep], 0)
        np.testing.assert_array_equal(none[:, ~keep], 0)
        np.testing.assert_allclose(none[np.ix_(keep, keep)], sub, rtol=2e-6, atol=1e-6)
    # a (N,) sample mask is the (N, N) pair mask of the samples kept
    np.testing.assert_allclose(case.jl(e, labels, where=keep, **kwargs), case.jl(e, labels, where=np.outer(keep, keep), **kwargs), rtol=1e-7)


# --- hand-computed cases -------------------------------------------------------------------------


_E3 = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], np.float32)  # cos: s01 = 1, s02 = s12 = 0
_L3 = np.array([0, 0, 1])


def test_ntxent_and_supcon_by_hand():
    # Positive pairs (0, 1) and (1, 0), one negative each with s = 0, temperature 1:
    # -log(e^1 / (e^1 + e^0)) = log(1 + e^-1). Sample 2 has no positive: it contributes nothing.
    expected = math.log1p(math.exp(-1.0))
    assert float(jl.ntxent_loss(_E3, _L3, temperature=1.0)) == pytest.approx(expected, rel=1e-6)
    assert float(jl.supervised_contrastive_loss(_E3, _L3, temperature=1.0)) == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(jl.ntxent_loss(_E3, _L3, temperature=1.0, reduction="none"),
                               [[0, expected, 0], [expected, 0, 0], [0, 0, 0]], rtol=1e-6)
    np.testing.assert_allclose(jl.supervised_contrastive_loss(_E3, _L3, temperature=1.0, reduction="none"), [expected, expected, 0], rtol=1e-6)


def test_supcon_batch_without_negatives_is_not_zero():
    # All one class (pytorch-metric-learning returns 0 here). Embeddings [1,0], [0,1], [1,0], t = 1:
    # anchor 0: log(e^0 + e^1) - (0 + 1) / 2; anchor 1: log(e^0 + e^0) - 0; anchor 2 as anchor 0.
    e = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], np.float32)
    a0 = math.log(1 + math.e) - 0.5
    expected = (2 * a0 + math.log(2.0)) / 3
    assert float(jl.supervised_contrastive_loss(e, np.zeros(3, np.int32), temperature=1.0)) == pytest.approx(expected, rel=1e-6)


def test_contrastive_by_hand_with_a_zero_distance():
    # Embeddings [1,0], [0,1], [1,0], labels 0, 0, 1, normalised Euclidean distances d01 = sqrt 2, d02 = 0, d12 = sqrt 2.
    # Positive pairs (0,1), (1,0): relu(sqrt2 - 0) each -> non-zero mean sqrt 2.
    # Negative pairs (0,2), (2,0): relu(1 - 0) = 1; (1,2), (2,1): relu(1 - sqrt 2) = 0 -> non-zero mean 1.
    e = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], np.float32)
    value, grad = jax.value_and_grad(jl.contrastive_loss)(jnp.asarray(e), jnp.array([0, 0, 1]))
    assert float(value) == pytest.approx(math.sqrt(2) + 1, rel=1e-6)
    assert float(jl.contrastive_loss(e, np.array([0, 0, 1]), reduction="sum")) == pytest.approx(2 * math.sqrt(2) + 2, rel=1e-6)
    assert_finite(grad)  # d02 = 0: sqrt at zero, gradient 0 as torch's norm gives
    assert_parity(jl.contrastive_loss, torch_contrastive, e, np.array([0, 0, 1]), grad=(0,))


@pytest.mark.parametrize("loss", [jl.ntxent_loss, jl.supervised_contrastive_loss, jl.contrastive_loss], ids=lambda f: f.__name__)
def test_no_positive_pair_gives_zero_with_zero_gradient(loss):
    e = jnp.asarray(randn((4, 3), 0))
    labels = jnp.arange(4)
    value, grad = jax.value_and_grad(lambda x: loss(x, labels))(e)
    if loss is jl.contrastive_loss:  # only negative pairs: their non-zero mean, no NaN from the empty positive set
        assert_parity(jl.contrastive_loss, torch_contrastive, np.asarray(e), np.arange(4), grad=(0,))
    else:
        assert float(value) == 0.0
        np.testing.assert_array_equal(grad, 0.0)
    everything_masked = loss(e, jnp.zeros(4, jnp.int32), where=jnp.zeros(4, bool))
    assert float(everything_masked) == 0.0


@pytest.mark.parametrize(
    "loss,distance",
    [(jl.ntxent_loss, "cosine"), (jl.ntxent_loss, "euclidean"), (jl.supervised_contrastive_loss, "cosine"),
     (jl.contrastive_loss, "euclidean")],
    ids=lambda x: getattr(x, "__name__", x),
)
def test_zero_and_duplicate_embeddings_have_finite_gradients(loss, distance):
    e = randn((6, 3), 4)
    e[1] = 0.0  # normalising a zero vector
    e[3] = e[2]  # a duplicate: distance 0 between a positive pair (sqrt at 0 for "euclidean")
    labels = jnp.array([0, 1, 0, 0, 1, 2])
    assert_finite(jax.value_and_grad(lambda x: loss(x, labels, distance=distance))(jnp.asarray(e)))


@pytest.mark.parametrize("loss", [jl.ntxent_loss, jl.supervised_contrastive_loss, jl.contrastive_loss], ids=lambda f: f.__name__)
def test_nan_embedding_propagates(loss):
    """A NaN embedding must not vanish into a plausible number (contrastive's non-zero mean counts NaN)."""
    e, labels = _batch(seed=2)
    e[4, 1] = np.nan
    assert np.isnan(float(loss(e, labels)))


def test_tiny_temperature_is_finite_and_uncapped():
    """Temperature 1e-4: logits up to 1e4. Computed in log space, both losses are finite and equal to
    exact float64 log-space values. pytorch-metric-learning's NT-Xent adds the smallest normal float
    inside its log, which caps each pair's loss (at -log(tiny) = 708 in float64); jaxloss does not."""
    e, labels = _batch(seed=6)
    t = 1e-4
    en = e.astype(np.float64) / np.linalg.norm(e.astype(np.float64), axis=1, keepdims=True)
    logits = en @ en.T / t
    same, off = labels[:, None] == labels[None, :], ~np.eye(len(labels), dtype=bool)
    pos, neg = same & off, ~same & off
    # NT-Xent pair loss: logsumexp({l_ap} + {l_an : n in N(a)}) - l_ap; SupCon anchor loss: lse over A(a) - mean over P(a)
    ntxent = [np.logaddexp.reduce(np.append(logits[a, neg[a]], logits[a, p])) - logits[a, p] for a, p in zip(*np.nonzero(pos))]
    has_pos = pos.any(1)
    supcon = [np.logaddexp.reduce(logits[a, off[a]]) - logits[a, pos[a]].mean() for a in np.nonzero(has_pos)[0]]
    for loss, expected in ((jl.ntxent_loss, np.mean(ntxent)), (jl.supervised_contrastive_loss, np.mean(supcon))):
        value, grad = jax.value_and_grad(lambda x: loss(x, labels, temperature=t))(jnp.asarray(e))
        assert_finite(value, grad)
        assert float(value) == pytest.approx(expected, rel=1e-3)
    capped = torch_ntxent(torch.tensor(e, dtype=torch.float64), torch.tensor(labels), temperature=t)
    assert float(capped) < np.mean(ntxent) and max(ntxent) > 708


def test_ntxent_matches_optax():
    import optax

    e, labels = _batch(seed=8)
    for t in (0.07, 0.5):
        np.testing.assert_allclose(jl.ntxent_loss(e, labels, temperature=t), jax.jit(optax.ntxent)(e, labels, t), rtol=1e-5)


def test_pair_losses_memory_is_quadratic_not_cubic():
    """value_and_grad at N = 1024, D = 512: an (N, N, D) float32 array would be 2 GiB; the compiled
    temporaries stay below eight (N, N) float32 matrices (32 MiB)."""
    n, dim = 1024, 512
    e = jax.ShapeDtypeStruct((n, dim), jnp.float32)
    labels = jax.ShapeDtypeStruct((n,), jnp.int32)
    for loss in (jl.ntxent_loss, jl.supervised_contrastive_loss, jl.contrastive_loss):
        step = jax.jit(jax.value_and_grad(loss))
        temp = step.lower(e, labels).compile().memory_analysis().temp_size_in_bytes
        assert temp < 8 * n * n * 4, (loss.__name__, temp)


# --- reduction, half precision, transforms ------------------------------------------------------


@pytest.mark.parametrize("config", ONE_PER_LOSS, ids=lambda c: c.id)
def test_where_equals_boolean_selection(config):
    arrays = config.make((8,), seed=7)
    mask = rand((8,), 8) > 0
    for reduction in ("mean", "sum"):
        np.testing.assert_allclose(config.jl(*arrays, reduction, where=mask), config.jl(*(a[mask] for a in arrays), reduction),
                                   rtol=2e-6, atol=1e-6)
    none = np.asarray(config.jl(*arrays, "none", where=mask))
    np.testing.assert_array_equal(none[~mask], 0)
    np.testing.assert_allclose(none[mask], np.asarray(config.jl(*arrays, "none"))[mask], rtol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16], ids=lambda d: jnp.dtype(d).name)
@pytest.mark.parametrize("config", [*ONE_PER_LOSS, *BATCH_DEFAULTS], ids=lambda c: c.id)
def test_half_precision_computed_in_float32(config, dtype):
    if isinstance(config, Batch):
        e, labels = _batch(seed=9)
        fn = lambda x, r: config.jl(x, labels, reduction=r, **_jl_kwargs(config.kwargs))  # noqa: E731
        arrays, grad = (e,), (0,)
    else:
        arrays, grad = config.make((6,), seed=11), config.grad
        fn = config.jl
    half = [jnp.asarray(a, dtype) for a in arrays]
    exact = [jnp.asarray(h, jnp.float32) for h in half]
    out = fn(*half, "none")
    assert out.dtype == dtype
    np.testing.assert_allclose(np.asarray(out, np.float32), fn(*exact, "none"),
                               rtol=1e-2 if dtype == jnp.bfloat16 else 1e-3, atol=1e-2 if dtype == jnp.bfloat16 else 2e-3)
    for g in jax.grad(lambda *a: fn(*a, "sum"), argnums=grad)(*half):
        assert g.dtype == dtype
        assert_finite(g.astype(jnp.float32))


@pytest.mark.parametrize("config", ONE_PER_LOSS, ids=lambda c: c.id)
def test_vmap_of_per_sample_loss_equals_none(config):
    arrays = config.make((6,), seed=4)
    per_sample = jax.vmap(lambda *row: config.jl(*row, "mean"))(*arrays)
    np.testing.assert_allclose(per_sample, config.jl(*arrays, "none"), rtol=2e-6, atol=1e-6)


def test_vmap_over_a_stack_of_batches_equals_separate_calls():
    e = jnp.asarray(randn((3, 8, 4), 0))
    labels = jnp.asarray(randint((3, 8), 1, 3))
    stacked = jax.vmap(jl.ntxent_loss)(e, labels)
    np.testing.assert_allclose(stacked, [jl.ntxent_loss(e[i], labels[i]) for i in range(3)], rtol=2e-6)


def test_jit_and_traced_hyperparameters():
    a, p, n = (jnp.asarray(x) for x in _triplet((5,), 0))
    jl.triplet_margin_loss(a, p, n, margin=0.5, eps=1e-6)
    before = jl.triplet_margin_loss._cache_size()
    jl.triplet_margin_loss(a, p, n, margin=0.7, eps=1e-3)
    assert jl.triplet_margin_loss._cache_size() == before  # margin and eps are traced
    jl.triplet_margin_loss(a, p, n, margin=0.5, eps=1e-6, p=1)
    assert jl.triplet_margin_loss._cache_size() == before + 1  # p selects a formula: static
    e, labels = _batch()
    jl.ntxent_loss(e, labels, temperature=0.1)
    before = jl.ntxent_loss._cache_size()
    jl.ntxent_loss(e, labels, temperature=0.3)
    assert jl.ntxent_loss._cache_size() == before
    assert_finite(jax.grad(lambda t: jl.ntxent_loss(e, labels, temperature=t))(0.2))  # a learned temperature
    g1 = jax.jit(jax.grad(lambda x: jl.supervised_contrastive_loss(x, labels)))(e)
    g2 = jax.grad(lambda x: jl.supervised_contrastive_loss(x, labels))(e)
    np.testing.assert_allclose(g1, g2, rtol=1e-6, atol=1e-7)


# --- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call,error,message",
    [
        (lambda: jl.margin_ranking_loss(jnp.zeros(3), jnp.zeros(4), jnp.ones(3)), ValueError,
         r"margin_ranking_loss: shapes do not broadcast: `input1` \(3,\), `input2` \(4,\), `target` \(3,\)"),
        (lambda: jl.hinge_embedding_loss(jnp.zeros(3, jnp.int32), jnp.ones(3)), TypeError,
         r"hinge_embedding_loss: `input` must have a floating dtype, got int32"),
        (lambda: jl.cosine_embedding_loss(jnp.zeros((5, 4)), jnp.zeros((5, 4)), jnp.ones(3)), ValueError,
         r"cosine_embedding_loss: `target` has shape \(3,\), which does not broadcast to the batch shape of the inputs \(5,\)"),
        (lambda: jl.cosine_embedding_loss(jnp.zeros(()), jnp.zeros(()), jnp.ones(())), ValueError,
         r"cosine_embedding_loss: `input1` has shape \(\) \(rank 0\), expected rank 1"),
        (lambda: jl.triplet_margin_loss(jnp.zeros((5, 4)), jnp.zeros((5, 3)), jnp.zeros((5, 4))), ValueError,
         r"triplet_margin_loss: shapes do not broadcast: `anchor` \(5, 4\), `positive` \(5, 3\), `negative` \(5, 4\)"),
        (lambda: jl.triplet_margin_loss(jnp.zeros((5, 4)), jnp.zeros((5, 4)), jnp.zeros((5, 4)), p=0), ValueError,
         r"triplet_margin_loss: p=0 is not supported; expected a positive number or math.inf"),
        (lambda: jl.triplet_margin_with_distance_loss(jnp.zeros(4), jnp.zeros(4), jnp.zeros(4, jnp.int32)), TypeError,
         r"triplet_margin_with_distance_loss: `negative` must have a floating dtype, got int32"),
        (lambda: jl.triplet_margin_loss(jnp.zeros((5, 4)), jnp.zeros((5, 4)), jnp.zeros((5, 4)), reduction="avg"), ValueError,
         r"triplet_margin_loss: reduction='avg' is not supported; expected one of 'mean', 'sum', 'none'"),
        (lambda: jl.ntxent_loss(jnp.zeros(4), jnp.zeros(4, jnp.int32)), ValueError,
         r"ntxent_loss: `embeddings` has shape \(4,\) \(rank 1\), expected rank 2"),
        (lambda: jl.ntxent_loss(jnp.zeros((4, 2)), jnp.zeros(5, jnp.int32)), ValueError,
         r"ntxent_loss: `labels` has shape \(5,\), expected \(4,\)"),
        (lambda: jl.supervised_contrastive_loss(jnp.zeros((4, 2)), jnp.zeros(4)), TypeError,
         r"supervised_contrastive_loss: `labels` must have an integer dtype \(class indices\), got float32"),
        (lambda: jl.contrastive_loss(jnp.zeros((4, 2)), jnp.zeros(4, jnp.int32), distance="manhattan"), ValueError,
         r"contrastive_loss: distance='manhattan' is not supported; expected one of 'euclidean', 'cosine'"),
        (lambda: jl.contrastive_loss(jnp.zeros((4, 2)), jnp.zeros(4, jnp.int32), reduction="batchmean"), ValueError,
         r"contrastive_loss: reduction='batchmean' is not supported"),
        (lambda: jl.ntxent_loss(jnp.zeros((4, 2)), jnp.zeros(4, jnp.int32), where=jnp.ones(3, bool)), ValueError,
         r"ntxent_loss: `where` has shape \(3,\), which does not broadcast to the unreduced loss of shape \(4,\)"),
        (lambda: jl.ntxent_loss(jnp.zeros((4, 2)), jnp.zeros(4, jnp.int32), where=jnp.ones((4, 3), bool)), ValueError,
         r"ntxent_loss: `where` has shape \(4, 3\), which does not broadcast to the unreduced loss of shape \(4, 4\)"),
        (lambda: jl.supervised_contrastive_loss(jnp.zeros((4, 2)), jnp.zeros(4, jnp.int32), where=jnp.ones(4)), TypeError,
         r"supervised_contrastive_loss: `where` must be a boolean array, got dtype float32"),
        (lambda: jl.cosine_embedding_loss(jnp.zeros((5, 4)), jnp.zeros((5, 4)), jnp.ones(5), where=jnp.ones((5, 4), bool)), ValueError,
         r"cosine_embedding_loss: `where` has shape \(5, 4\), which does not broadcast to the unreduced loss of shape \(5,\)"),
    ],
    ids=["ranking_shapes", "hinge_int_input", "cosine_target_shape", "cosine_scalar_input", "triplet_embedding_size",
         "triplet_p0", "triplet_distance_int", "bad_reduction", "ntxent_rank1", "ntxent_labels_shape", "supcon_float_labels",
         "contrastive_distance", "contrastive_reduction", "ntxent_where_samples", "ntxent_where_pairs", "supcon_where_dtype",
         "cosine_where_shape"],
)
def test_trace_time_errors_name_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize(
    "call,argument",
    [
        (lambda: jl.triplet_margin_loss(jnp.zeros((2, 3)), jnp.ones((2, 3)), jnp.zeros((2, 3)), margin=0.0), "margin"),
        (lambda: jl.triplet_margin_with_distance_loss(jnp.zeros((2, 3)), jnp.ones((2, 3)), jnp.zeros((2, 3)), margin=-1.0), "margin"),
        (lambda: jl.ntxent_loss(jnp.asarray(_E3), jnp.asarray(_L3), temperature=0.0), "temperature"),
        (lambda: jl.supervised_contrastive_loss(jnp.asarray(_E3), jnp.asarray(_L3), temperature=-0.1), "temperature"),
    ],
    ids=["triplet_margin_zero", "triplet_distance_negative_margin", "ntxent_zero_temperature", "supcon_negative_temperature"],
)
def test_run_time_bad_values_give_nan_and_checked_mode_raises(call, argument):
    """torch raises for margin <= 0; here the margin may be traced, so the loss is NaN and checked mode raises."""
    assert np.isnan(float(call()))
    with pytest.raises(checkify.JaxRuntimeError, match=rf"`{argument}` must be positive"):
        jl.checked(lambda: call())()
    with pytest.raises(ValueError, match="margin must be greater than 0"):
        F.triplet_margin_loss(torch.zeros(2, 3), torch.ones(2, 3), torch.zeros(2, 3), margin=0.0)


def test_checked_mode_passes_good_values():
    e, labels = _batch()
    good = jl.checked(lambda x: jl.ntxent_loss(x, labels) + jl.triplet_margin_loss(x, x[::-1], x))(jnp.asarray(e))
    assert np.isfinite(float(good))
