"""Classification losses against live torch: values and gradients, every reduction, shared behaviour
(where masks, half precision, vmap, mean over nothing, errors, checked mode).

Cross-entropy specifics (ignore_index with smoothing and weights, layouts, long rows, memory) are in
test_classification_cross_entropy.py; the other losses' edge cases in test_classification_edges.py.
"""

from __future__ import annotations

import dataclasses
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
from references.classification import torch_focal, torch_layout, torch_poly1, torch_zero_one
from tests.parity import assert_finite, assert_parity, rand, randint, randn

C = 5  # classes in the random cases


@dataclasses.dataclass(frozen=True)
class Config:
    """A loss with fixed options: both frameworks' calls and how to draw inputs for a batch shape.

    ``jl``/``torch`` take ``(*arrays, reduction)``; arrays are channels-last (classes on the last
    axis), the torch side moves the class axis to 1 itself where torch needs it.
    """

    id: str
    jl: Callable[..., Any]
    torch: Callable[..., Any]
    make: Callable[[tuple[int, ...], int], tuple[np.ndarray, ...]]
    grad: tuple[int, ...] = (0,)
    where_shape: str = "sample"  # the unreduced loss has one value per "sample" or per "element"
    tol: float = 1e-5


# --- input makers: (batch shape, seed) -> arrays ---------------------------------------------------


def _logits_labels(shape, seed):
    return randn((*shape, C), seed, scale=2.0), randint(shape, seed + 1, C)


def _logits_labels_ignored(shape, seed):
    x, y = _logits_labels(shape, seed)
    y = np.where(rand(shape, seed + 2) > 1.0, -100, y)  # about a quarter ignored
    if y.ndim:
        y.flat[0] = 3  # never all ignored here (that case is tested on its own)
    return x, y


def _logits_labels_weight(shape, seed):
    x, y = _logits_labels_ignored(shape, seed)
    return x, y, rand((C,), seed + 3, 0.2, 2.0)


def _logits_probs(shape, seed):
    x = randn((*shape, C), seed, scale=2.0)
    t = np.exp(randn((*shape, C), seed + 1))
    return x, (t / t.sum(-1, keepdims=True)).astype(np.float32)


def _log_probs_labels_weight(shape, seed):
    x, y, w = _logits_labels_weight(shape, seed)
    return np.asarray(jax.nn.log_softmax(x, axis=-1)), y, w


def _probs_pair(shape, seed):
    return rand((*shape, C), seed, 0.02, 0.98), rand((*shape, C), seed + 1, 0.0, 1.0)


def _probs_pair_weight(shape, seed):
    x, y = _probs_pair(shape, seed)
    return x, y, rand((*shape, C), seed + 2, 0.1, 2.0)


def _logits_pair_weights(shape, seed):
    return randn((*shape, C), seed, 3.0), rand((*shape, C), seed + 1, 0.0, 1.0), rand((C,), seed + 2, 0.1, 2.0), rand((C,), seed + 3, 0.5, 3.0)


def _logits_pair(shape, seed):
    return randn((*shape, C), seed, 3.0), rand((*shape, C), seed + 1, 0.0, 1.0)


def _logits_pair_weight(shape, seed):
    x, y = _logits_pair(shape, seed)
    return x, y, rand((C,), seed + 2, 0.1, 2.0)


def _scores_signs(shape, seed):
    return randn((*shape, C), seed, 3.0), np.where(rand((*shape, C), seed + 1) > 0, 1.0, -1.0).astype(np.float32)


def _kl(shape, seed):
    x, t = _logits_probs(shape, seed)
    t = np.where(rand(t.shape, seed + 5) > 1.0, 0.0, t).astype(np.float32)  # some zero targets
    return np.asarray(jax.nn.log_softmax(x, axis=-1)), t


def _kl_log(shape, seed):
    x, t = _logits_probs(shape, seed)
    return np.asarray(jax.nn.log_softmax(x, axis=-1)), np.log(t)


def _scores_labels_weight(shape, seed):
    x, y = _logits_labels(shape, seed)
    return x, y, rand((C,), seed + 3, 0.2, 2.0)


def _multilabel(shape, seed):
    """Rows listing 0 to C labels (with repeats) ended by -1; junk in [-1, C) after the first -1."""
    x = randn((*shape, C), seed, 1.0)
    y = randint((*shape, C), seed + 1, C, low=-1)
    return x, y


CONFIGS = [
    Config("cross_entropy", lambda x, y, r: jl.cross_entropy(x, y, reduction=r),
           lambda x, y, r: F.cross_entropy(torch_layout(x), y, reduction=r), _logits_labels),
    *[
        Config(f"cross_entropy_weight_ignore_smooth{eps}",
               lambda x, y, w, r, eps=eps: jl.cross_entropy(x, y, w, reduction=r, label_smoothing=eps),
               lambda x, y, w, r, eps=eps: F.cross_entropy(torch_layout(x), y, w, reduction=r, label_smoothing=eps),
               _logits_labels_weight)  # torch has no gradient for class weights: see test_class_weight_gradients
        for eps in (0.0, 0.1, 1.0)
    ],
    Config("cross_entropy_probs_weight_smooth",
           lambda x, t, w, r: jl.cross_entropy(x, t, w, reduction=r, label_smoothing=0.2, axis=-1),
           lambda x, t, w, r: F.cross_entropy(torch_layout(x), torch_layout(t), w, reduction=r, label_smoothing=0.2),
           lambda s, seed: (*_logits_probs(s, seed), rand((C,), seed + 3, 0.2, 2.0)), grad=(0, 1, 2)),
    Config("nll_weight_ignore", lambda x, y, w, r: jl.nll_loss(x, y, w, reduction=r),
           lambda x, y, w, r: F.nll_loss(torch_layout(x), y, w, reduction=r), _log_probs_labels_weight),
    Config("bce", lambda x, y, r: jl.binary_cross_entropy(x, y, reduction=r),
           lambda x, y, r: F.binary_cross_entropy(x, y, reduction=r), _probs_pair, grad=(0, 1), where_shape="element"),
    Config("bce_weight", lambda x, y, w, r: jl.binary_cross_entropy(x, y, w, reduction=r),
           lambda x, y, w, r: F.binary_cross_entropy(x, y, w, reduction=r), _probs_pair_weight, grad=(0, 1),
           where_shape="element", tol=2e-5),
    Config("bce_logits", lambda x, y, r: jl.binary_cross_entropy_with_logits(x, y, reduction=r),
           lambda x, y, r: F.binary_cross_entropy_with_logits(x, y, reduction=r), _logits_pair, grad=(0, 1),
           where_shape="element"),
    Config("bce_logits_weight_pos_weight",
           lambda x, y, w, p, r: jl.binary_cross_entropy_with_logits(x, y, w, pos_weight=p, reduction=r),
           lambda x, y, w, p, r: F.binary_cross_entropy_with_logits(x, y, w, pos_weight=p, reduction=r),
           _logits_pair_weights, grad=(0, 1), where_shape="element"),
    # "batchmean": test_kl_div_batchmean_divides_by_batch_size
    Config("kl_div_mean", lambda x, t, r: jl.kl_div(x, t, reduction=r), lambda x, t, r: F.kl_div(x, t, reduction=r), _kl,
           grad=(0,), where_shape="element"),
    Config("kl_div_log_target", lambda x, t, r: jl.kl_div(x, t, reduction=r, log_target=True),
           lambda x, t, r: F.kl_div(x, t, reduction=r, log_target=True), _kl_log, grad=(0, 1), where_shape="element"),
    *[
        Config(f"multi_margin_p{p}", lambda x, y, w, r, p=p: jl.multi_margin_loss(x, y, p=p, margin=0.7, weight=w, reduction=r),
               lambda x, y, w, r, p=p: F.multi_margin_loss(x.reshape(-1, C), y.reshape(-1), p=p, margin=0.7, weight=w,
                                                           reduction=r).reshape(y.shape if r == "none" else ()),
               _scores_labels_weight, grad=(0,))
        for p in (1, 2)
    ],
    Config("multilabel_margin", lambda x, y, r: jl.multilabel_margin_loss(x, y, reduction=r),
           lambda x, y, r: F.multilabel_margin_loss(x.reshape(-1, C), y.reshape(-1, C),
                                                    reduction=r).reshape(y.shape[:-1] if r == "none" else ()),
           _multilabel),
    Config("soft_margin", lambda x, y, r: jl.soft_margin_loss(x, y, reduction=r),
           lambda x, y, r: F.soft_margin_loss(x, y, reduction=r), _scores_signs, where_shape="element"),
    Config("multilabel_soft_margin_weight", lambda x, y, w, r: jl.multilabel_soft_margin_loss(x, y, w, reduction=r),
           lambda x, y, w, r: F.multilabel_soft_margin_loss(x.reshape(-1, C), y.reshape(-1, C), w,
                                                            reduction=r).reshape(y.shape[:-1] if r == "none" else ()),
           _logits_pair_weight, grad=(0, 1, 2)),
    *[
        Config(f"focal_gamma{g}_smooth{eps}",
               lambda x, y, w, r, g=g, eps=eps: jl.softmax_focal_loss(
                   x, y, w, gamma=g, alpha=np.linspace(0.2, 1.0, C, dtype=np.float32), label_smoothing=eps, reduction=r),
               lambda x, y, w, r, g=g, eps=eps: torch_focal(x, y, w, r, g, torch.linspace(0.2, 1.0, C), eps),
               _logits_labels_weight, grad=(0, 2))
        for g, eps in ((2.0, 0.0), (0.5, 0.1))  # gamma = 0: see test_focal_gamma_zero_and_poly1_epsilon_zero_equal_cross_entropy
    ],
    *[
        Config(f"poly1_eps{e}_smooth{eps}",
               lambda x, y, w, r, e=e, eps=eps: jl.poly1_cross_entropy(x, y, w, epsilon=e, label_smoothing=eps, reduction=r),
               lambda x, y, w, r, e=e, eps=eps: torch_poly1(x, y, w, r, e, eps), _logits_labels_weight)
        for e, eps in ((1.0, 0.0), (-0.5, 0.2))
    ],
    Config("zero_one", lambda x, y, r: jl.zero_one_loss(x, y, reduction=r), torch_zero_one, _logits_labels_ignored,
           grad=()),
]
BY_ID = {c.id: c for c in CONFIGS}


def _n_arrays(config: Config) -> int:
    return len(config.make((2,), 0))


# every reduction: mean and sum on a batch, the unbatched (C,) case, and none on a K-dimensional batch
SHAPE_REDUCTIONS = [((6,), "mean"), ((6,), "sum"), ((), "mean"), ((3, 4), "none")]


@pytest.mark.parametrize("shape,reduction", SHAPE_REDUCTIONS, ids=lambda v: str(v))
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.id)
def test_matches_torch(config, shape, reduction):
    if config.id.startswith("multi_margin") or config.id.startswith("multilabel_margin"):
        shape = shape[:1]  # torch has only (C,) and (N, C) for these
    arrays = config.make(shape, seed=len(shape) + 10)
    assert_parity(lambda *a: config.jl(*a, reduction), lambda *a: config.torch(*a, reduction), *arrays,
                  grad=config.grad, rtol=config.tol, atol=config.tol)


# --- shared behaviour -----------------------------------------------------------------------------


_WHERE_CALLS = {
    "cross_entropy": lambda x, y, **k: jl.cross_entropy(x, y, **k),
    "cross_entropy_weight_ignore_smooth0.1": lambda x, y, w, **k: jl.cross_entropy(x, y, w, label_smoothing=0.1, **k),
    "nll_weight_ignore": lambda x, y, w, **k: jl.nll_loss(x, y, w, **k),
    "bce_weight": lambda x, y, w, **k: jl.binary_cross_entropy(x, y, w, **k),
    "bce_logits_weight_pos_weight": lambda x, y, w, p, **k: jl.binary_cross_entropy_with_logits(x, y, w, pos_weight=p, **k),
    "kl_div_mean": lambda x, t, **k: jl.kl_div(x, t, **k),
    "multi_margin_p2": lambda x, y, w, **k: jl.multi_margin_loss(x, y, p=2, margin=0.7, weight=w, **k),
    "multilabel_margin": lambda x, y, **k: jl.multilabel_margin_loss(x, y, **k),
    "soft_margin": lambda x, y, **k: jl.soft_margin_loss(x, y, **k),
    "multilabel_soft_margin_weight": lambda x, y, w, **k: jl.multilabel_soft_margin_loss(x, y, w, **k),
    "focal_gamma0.5_smooth0.1": lambda x, y, w, **k: jl.softmax_focal_loss(x, y, w, gamma=0.5, label_smoothing=0.1, **k),
    "poly1_eps1.0_smooth0.0": lambda x, y, w, **k: jl.poly1_cross_entropy(x, y, w, **k),
    "zero_one": lambda x, y, **k: jl.zero_one_loss(x, y, **k),
}
_PER_SAMPLE_ARRAYS = {"bce_weight": 3, "bce_logits_weight_pos_weight": 2}  # arrays to select element-wise


@pytest.mark.parametrize("config_id", list(_WHERE_CALLS))
def test_where_equals_boolean_selection(config_id):
    """where=mask gives the loss of the selected samples (elements), ignore_index and weights included."""
    config = BY_ID[config_id]
    batch = (4, 6)
    arrays = config.make(batch, seed=7)
    mask_shape = batch if config.where_shape == "sample" else (*batch, C)
    mask = rand(mask_shape, 8) > -0.5
    call = _WHERE_CALLS[config_id]
    n_selected = _PER_SAMPLE_ARRAYS.get(config_id, 2)
    for reduction in ("mean", "sum"):
        got = call(*arrays, reduction=reduction, where=mask)
        selected = [a[mask] for a in arrays[:n_selected]] + list(arrays[n_selected:])
        if config_id == "bce_logits_weight_pos_weight":  # per-class weights, selected along with the elements
            cls = np.broadcast_to(np.arange(C), mask_shape)[mask]
            selected = [*selected[:2], arrays[2][cls], arrays[3][cls]]
        want = call(*selected, reduction=reduction)
        np.testing.assert_allclose(got, want, rtol=3e-6, atol=1e-6)
    none = np.asarray(call(*arrays, reduction="none", where=mask))
    np.testing.assert_array_equal(none[~mask], 0)
    np.testing.assert_allclose(none[mask], np.asarray(call(*arrays, reduction="none"))[mask], rtol=1e-6)


HALF_CASES = [
    *[(i, d) for i in ("cross_entropy_weight_ignore_smooth0.1", "cross_entropy_probs_weight_smooth", "poly1_eps-0.5_smooth0.2")
      for d in (jnp.float16, jnp.bfloat16)],
    *[(i, jnp.float16) for i in ("nll_weight_ignore", "bce_weight", "bce_logits_weight_pos_weight", "kl_div_log_target",
                                 "focal_gamma0.5_smooth0.1", "multi_margin_p2", "multilabel_soft_margin_weight", "zero_one")],
    ("kl_div_mean", jnp.bfloat16),
]


@pytest.mark.parametrize("config_id,dtype", HALF_CASES, ids=lambda v: v if isinstance(v, str) else jnp.dtype(v).name)
def test_half_precision_computed_in_float32(config_id, dtype):
    config = BY_ID[config_id]
    arrays = config.make((4, 3), seed=11)
    half = [jnp.asarray(a, dtype) if np.issubdtype(a.dtype, np.floating) else jnp.asarray(a) for a in arrays]
    exact = [h.astype(jnp.float32) if jnp.issubdtype(h.dtype, jnp.floating) else h for h in half]
    out = config.jl(*half, "none")
    assert out.dtype == dtype
    # the float32 result rounded once to the half dtype
    np.testing.assert_allclose(np.asarray(out, np.float32), np.asarray(config.jl(*exact, "none")),
                               rtol=1e-2 if dtype == jnp.bfloat16 else 2e-3, atol=2e-3)
    if config.grad:
        grads = jax.grad(lambda *a: config.jl(*a, "sum"), argnums=config.grad)(*half)
        ref_grads = jax.grad(lambda *a: config.jl(*a, "sum"), argnums=config.grad)(*exact)
        for g, rg in zip(grads, ref_grads):
            assert g.dtype == dtype
            np.testing.assert_allclose(np.asarray(g, np.float32), rg, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("config", [c for c in CONFIGS if c.where_shape == "sample"], ids=lambda c: c.id)
def test_vmap_of_per_sample_loss_equals_none(config):
    arrays = config.make((6,), seed=4)
    # per-class arrays (weights) are shared, per-sample arrays are mapped
    axes = tuple(0 if a.shape[:1] == (6,) else None for a in arrays)
    per_sample = jax.vmap(lambda *row: config.jl(*row, "sum"), in_axes=axes)(*arrays)
    np.testing.assert_allclose(per_sample, config.jl(*arrays, "none"), rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("config_id", ["cross_entropy_weight_ignore_smooth0.1", "nll_weight_ignore",
                                       "focal_gamma0.5_smooth0.1", "poly1_eps1.0_smooth0.0", "zero_one"])
def test_all_ignored_is_zero_with_zero_gradient(config_id):
    """torch gives NaN for a mean over nothing; jaxloss gives 0 and a zero gradient (DESIGN.md)."""
    config = BY_ID[config_id]
    arrays = list(config.make((4,), seed=2))
    arrays[1] = np.full_like(arrays[1], -100)
    value, grad = jax.value_and_grad(lambda x: config.jl(x, *arrays[1:], "mean"))(jnp.asarray(arrays[0]))
    assert float(value) == 0.0
    np.testing.assert_array_equal(grad, 0.0)


@pytest.mark.parametrize("config_id", ["cross_entropy", "bce_logits", "kl_div_mean", "soft_margin", "multilabel_margin"])
def test_mean_over_nothing_with_where_is_zero(config_id):
    config = BY_ID[config_id]
    arrays = config.make((3,), seed=1)
    call = _WHERE_CALLS.get(config_id) or (lambda x, y, **k: jl.binary_cross_entropy_with_logits(x, y, **k))
    shape = (3,) if config.where_shape == "sample" else (3, C)
    value, grad = jax.value_and_grad(lambda x: call(x, *arrays[1:], where=np.zeros(shape, bool)))(jnp.asarray(arrays[0]))
    assert float(value) == 0.0
    np.testing.assert_array_equal(grad, 0.0)


def test_jit_static_and_traced_hyperparameters():
    x, y = (jnp.asarray(a) for a in _logits_labels((8,), 0))
    text = jl.cross_entropy.lower(x, y, reduction="sum", ignore_index=3).as_text()
    assert "stablehlo" in text
    jl.cross_entropy(x, y, label_smoothing=0.1)
    before = jl.cross_entropy._cache_size()
    jl.cross_entropy(x, y, label_smoothing=0.2)
    jl.cross_entropy(x, y, label_smoothing=0.35)
    assert jl.cross_entropy._cache_size() == before
    # traced hyperparameters get gradients
    assert_finite(jax.grad(lambda g: jl.softmax_focal_loss(x, y, gamma=g))(1.5))
    assert_finite(jax.grad(lambda m: jl.multi_margin_loss(x, y, margin=m))(0.5))
    g1 = jax.jit(jax.grad(lambda a: jl.cross_entropy(a, y, label_smoothing=0.1)))(x)
    g2 = jax.grad(lambda a: jl.cross_entropy(a, y, label_smoothing=0.1))(x)
    np.testing.assert_allclose(g1, g2, rtol=1e-6)


# --- errors ---------------------------------------------------------------------------------------

_X = np.zeros((4, C), np.float32)
_Y = np.zeros((4,), np.int32)


@pytest.mark.parametrize(
    "call,error,message",
    [
        (lambda: jl.cross_entropy(_X, np.zeros((3,), np.int32)), ValueError, r"cross_entropy: `target` has shape \(3,\), expected \(4,\)"),
        (lambda: jl.cross_entropy(_X, np.zeros((4, 4), np.float32)), ValueError, r"cross_entropy: `target` has shape \(4, 4\) and a floating dtype \(float32\): class probabilities must have "
         r"`input`'s shape \(4, 5\); class indices must have an integer dtype \(cast them"),
        (lambda: jl.cross_entropy(_X.astype(np.int32), _Y), TypeError, r"cross_entropy: `input` must have a floating dtype"),
        (lambda: jl.cross_entropy(_X, _Y, np.ones(3, np.float32)), ValueError, r"cross_entropy: `weight` has shape \(3,\), expected \(5,\)"),
        (lambda: jl.cross_entropy(_X, _Y, reduction="avg"), ValueError, r"cross_entropy: reduction='avg' is not supported"),
        (lambda: jl.cross_entropy(_X, _Y, axis=2), ValueError, r"cross_entropy: axis=2 is out of range for `input` of rank 2"),
        (lambda: jl.cross_entropy(_X, _Y, where=np.ones(5, bool)), ValueError, r"cross_entropy: `where` has shape \(5,\)"),
        (lambda: jl.nll_loss(_X, _Y.astype(np.float32)[:, None]), TypeError, r"nll_loss: `target` must have an integer dtype"),
        (lambda: jl.binary_cross_entropy(_X, _X[:, :2]), ValueError, r"binary_cross_entropy: `input` and `target` must have the same shape"),
        (lambda: jl.binary_cross_entropy_with_logits(_X, _X, pos_weight=np.ones(3, np.float32)), ValueError,
         r"binary_cross_entropy_with_logits: `pos_weight` has shape \(3,\), which does not broadcast"),
        (lambda: jl.kl_div(_X, _X, reduction="batch"), ValueError, r"kl_div: reduction='batch' is not supported; expected one of 'mean', 'batchmean'"),
        (lambda: jl.multi_margin_loss(_X, _Y, p=3), ValueError, r"multi_margin_loss: p=3 is not supported"),
        (lambda: jl.multilabel_margin_loss(_X, _Y), ValueError, r"multilabel_margin_loss: `input` and `target` must have the same shape"),
        (lambda: jl.multilabel_soft_margin_loss(_X, _X, np.ones(3, np.float32)), ValueError, r"multilabel_soft_margin_loss: `weight` has shape \(3,\)"),
        (lambda: jl.softmax_focal_loss(_X, _Y, alpha=np.ones(3, np.float32)), ValueError, r"softmax_focal_loss: `alpha` has shape \(3,\)"),
        (lambda: jl.zero_one_loss(np.zeros((), np.float32), _Y), ValueError, r"zero_one_loss: `input` must have a class axis"),
    ],
    ids=["ce_target_shape", "ce_prob_target_shape", "ce_int_input", "ce_weight_shape", "ce_reduction", "ce_axis",
         "ce_where_shape", "nll_float_target", "bce_shape", "bce_logits_pos_weight", "kl_reduction", "margin_p",
         "multilabel_margin_shape", "mlsm_weight", "focal_alpha", "zero_one_scalar"],
)
def test_trace_time_errors_name_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize(
    "call,argument",
    [
        (lambda y: jl.cross_entropy(_X, y), "target"),
        (lambda y: jl.cross_entropy(_X, y, label_smoothing=0.3), "target"),
        (lambda y: jl.nll_loss(_X, y), "target"),
        (lambda y: jl.softmax_focal_loss(_X, y), "target"),
        (lambda y: jl.poly1_cross_entropy(_X, y), "target"),
        (lambda y: jl.zero_one_loss(_X, y), "target"),
        (lambda y: jl.multi_margin_loss(_X, y), "target"),
    ],
    ids=["cross_entropy", "cross_entropy_smooth", "nll", "focal", "poly1", "zero_one", "multi_margin"],
)
@pytest.mark.parametrize("bad", [C, -1, -101], ids=["C", "minus1", "minus101"])
def test_out_of_range_class_index_is_nan_and_checked_raises(call, argument, bad):
    y = np.array([0, bad, 2, -100], np.int32) if "multi_margin" not in str(call) else np.array([0, bad, 2, 1], np.int32)
    per_sample = jax.jit(lambda t: call(t))(y)
    assert np.isnan(float(per_sample))  # "mean": the bad sample poisons it
    with pytest.raises(checkify.JaxRuntimeError, match=rf"`{argument}` must hold class indices in \[0, {C}\)"):
        jl.checked(call)(y)
    jl.checked(call)(np.array([0, 1, 2, 3], np.int32))  # valid targets do not raise


@pytest.mark.parametrize(
    "call,argument,good,bad",
    [
        (lambda p: jl.binary_cross_entropy(p, jnp.full(3, 0.5)), "input", [0.0, 0.5, 1.0], [0.0, 1.5, 0.5]),
        (lambda t: jl.binary_cross_entropy(jnp.full(3, 0.5), t), "target", [0.0, 0.5, 1.0], [-0.1, 0.5, 0.5]),
        (lambda t: jl.kl_div(jnp.zeros(3), t), "target", [0.0, 0.5, 1.0], [-0.1, 0.5, 0.5]),
        (lambda e: jl.cross_entropy(jnp.zeros((2, 3)), jnp.array([0, 1]), label_smoothing=e[0]), "label_smoothing",
         [1.0, 0.0, 0.0], [1.5, 0.0, 0.0]),
        (lambda e: jl.cross_entropy(jnp.zeros((2, 3)), jnp.full((2, 3), 1 / 3), label_smoothing=e[0]), "label_smoothing",
         [1.0, 0.0, 0.0], [1.5, 0.0, 0.0]),
        (lambda t: jl.multilabel_margin_loss(jnp.zeros(3), t.astype(jnp.int32)), "target", [0, -1, 2], [0, -2, 2]),
    ],
    ids=["bce_input", "bce_target", "kl_negative_target", "smoothing_above_one", "smoothing_above_one_probs", "multilabel_label"],
)
def test_run_time_bad_values_are_nan_and_checked_raises(call, argument, good, bad):
    assert np.isnan(float(call(jnp.asarray(bad, jnp.float32))))
    with pytest.raises(checkify.JaxRuntimeError, match=rf"`{argument}`"):
        jl.checked(call)(jnp.asarray(bad, jnp.float32))
    assert np.isfinite(float(jl.checked(call)(jnp.asarray(good, jnp.float32))))
