"""The softmax engine (``jaxloss._core.softmax``) and every cross-entropy path built on it.

* The engine's own contract: statistics of blocks merge into the statistics of the whole row, in
  any split; across the devices of a mesh axis the same; the logits gradient is the derivative of
  the finished quantities.
* Shift invariance: every cross-entropy path gives torch's value and gradient for logits + 1e4,
  + 1e6 and rows like ``[3e38, 3e38, 0]`` (float32, ~1e-6 relative), where computing
  ``lse - x_y`` after forming ``lse`` lost up to 5e-4 (and 0.0 for the last row).
* float64 stays float64 end to end, class weights and label smoothing included.
* Memory: bfloat16 ``cross_entropy`` value+grad at (4096, 32000) needs at most one float32 copy
  of the logits in compiled temporaries, whatever the options.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from jax.sharding import PartitionSpec as P

import jaxloss as jl
from jaxloss._core import softmax

RNG = np.random.default_rng(7)


def _logits(shape, scale=2.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# The engine's contract


@pytest.mark.parametrize("cuts", [[3], [1, 5], [2, 3, 6], [7]], ids=lambda c: "cuts" + "-".join(map(str, c)))
@pytest.mark.parametrize("weighted", [False, True])
def test_merged_blocks_equal_the_whole_row(cuts, weighted):
    """Statistics of pieces of the class axis, merged in order, equal those of the whole row (the
    rule chunked vocabularies and long rows rely on); the finished values too."""
    x = jnp.asarray(_logits((4, 8), 5.0))
    target = jnp.array([0, 3, 7, 5])
    w = jnp.linspace(0.5, 2.0, 8) if weighted else None
    whole = softmax.block_statistics(x, target, w)
    edges = [0, *cuts, 8]
    merged = None
    for a, b in zip(edges[:-1], edges[1:]):
        part = softmax.block_statistics(x[:, a:b], target - a, None if w is None else w[a:b])
        merged = part if merged is None else softmax.merge(merged, part)
    for got, want in zip(softmax.finish(merged), softmax.finish(whole)):
        np.testing.assert_allclose(got, want, rtol=2e-6)
    np.testing.assert_allclose(merged.weight, whole.weight, rtol=1e-6)


def test_merge_across_devices_equals_local_merge():
    """merge_across on a mesh axis: the same rule with pmax/psum (one device here; eight in
    tests/test_distributed.py through vocab_parallel_cross_entropy)."""
    x = jnp.asarray(_logits((3, 6)))
    target = jnp.array([1, 4, 0])
    mesh = jax.sharding.Mesh(jax.devices()[:1], ("model",))
    across = jax.shard_map(
        lambda v: softmax.finish(softmax.merge_across(softmax.block_statistics(v, target, None), "model")),
        mesh=mesh, in_specs=P(None, "model"), out_specs=P(),
    )(x)
    local = softmax.finish(softmax.block_statistics(x, target, None))
    for got, want in zip(across, local):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_finished_values_by_hand():
    """Row [0, ln 3] (softmax [1/4, 3/4]), target 0, weights [2, 1]: lse = ln 4, nll = ln 4,
    smooth = 2 (ln 4 - 0) + 1 (ln 4 - ln 3) = 3 ln 4 - ln 3."""
    x = jnp.array([[0.0, np.log(3.0)]], jnp.float32)
    stats = softmax.row_statistics(x, jnp.array([0]), jnp.array([2.0, 1.0]))
    lse, nll, smooth = softmax.finish(stats)
    np.testing.assert_allclose([lse[0], nll[0], smooth[0]], [np.log(4), np.log(4), 3 * np.log(4) - np.log(3)], rtol=1e-6)


def test_logits_gradient_is_the_derivative_of_the_finished_values():
    """The custom VJP's one formula against autodiff of a plain float64 reference: for random
    cotangents of (lse, nll, smooth), d/dx of g_lse lse + g_nll nll + g_smooth smooth."""
    x = _logits((5, 9)).astype(np.float64)
    target = np.array([0, 8, 3, 3, 5])
    w = np.linspace(0.2, 1.8, 9)
    g = RNG.standard_normal((3, 5))

    def engine(v):
        lse, nll, smooth = softmax.finish(softmax.row_statistics(v, jnp.asarray(target), jnp.asarray(w)))
        return jnp.sum(g[0] * lse + g[1] * nll + g[2] * smooth)

    def plain(v):
        lse = jax.scipy.special.logsumexp(v, axis=-1)
        nll = lse - v[np.arange(5), target]
        smooth = jnp.sum(w * (lse[:, None] - v), axis=-1)
        return jnp.sum(g[0] * lse + g[1] * nll + g[2] * smooth)

    with jax.enable_x64(True):
        got = jax.grad(engine)(jnp.asarray(x))
        want = jax.grad(plain)(jnp.asarray(x))
        assert got.dtype == jnp.float64
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# Shift invariance: every path against torch on the same shifted float32 logits


def _torch_value_and_grad(fn, x):
    t = torch.tensor(x, requires_grad=True)
    value = fn(t)
    value.backward()
    return value.detach().numpy(), t.grad.numpy()


def _linear(x, y, **kw):
    """linear_cross_entropy with an identity projection: its logits are exactly ``x`` (chunks of 4)."""
    eye = jnp.eye(x.shape[-1], dtype=x.dtype)
    return jl.linear_cross_entropy(x, eye, y, chunk_size=4, **kw)


def _vocab_parallel(x, y, **kw):
    mesh = jax.sharding.Mesh(jax.devices()[:1], ("model",))
    return jax.shard_map(lambda v: jl.vocab_parallel_cross_entropy(v, y, axis_name="model", **kw), mesh=mesh,
                         in_specs=P(None, "model"), out_specs=P())(x)


PATHS = {  # (jaxloss, torch), each a function of (logits, labels, class weights)
    "cross_entropy": (lambda x, y, w: jl.cross_entropy(x, y), lambda x, y, w: F.cross_entropy(x, y)),
    "cross_entropy_smoothing_weight": (
        lambda x, y, w: jl.cross_entropy(x, y, w, label_smoothing=0.2),
        lambda x, y, w: F.cross_entropy(x, y, w, label_smoothing=0.2)),
    "cross_entropy_probabilities": (
        lambda x, y, w: jl.cross_entropy(x, jax.nn.one_hot(y, 10, dtype=x.dtype) * 0.7 + 0.03, w),
        lambda x, y, w: F.cross_entropy(x, F.one_hot(y, 10).to(x.dtype) * 0.7 + 0.03, w)),
    "poly1_cross_entropy": (
        lambda x, y, w: jl.poly1_cross_entropy(x, y),
        lambda x, y, w: (F.cross_entropy(x, y, reduction="none")
                         + 1 - F.softmax(x, -1).gather(1, y[:, None])[:, 0]).mean()),
    "softmax_focal_loss": (
        lambda x, y, w: jl.softmax_focal_loss(x, y, gamma=2.0),
        lambda x, y, w: ((1 - F.softmax(x, -1).gather(1, y[:, None])[:, 0]) ** 2
                         * F.cross_entropy(x, y, reduction="none")).mean()),
    "linear_cross_entropy": (lambda x, y, w: _linear(x, y), lambda x, y, w: F.cross_entropy(x, y)),
    "vocab_parallel_cross_entropy": (lambda x, y, w: _vocab_parallel(x, y), lambda x, y, w: F.cross_entropy(x, y)),
    "linear_cross_entropy_smoothing_weight": (
        lambda x, y, w: _linear(x, y, weight=w, label_smoothing=0.1),
        lambda x, y, w: F.cross_entropy(x, y, w, label_smoothing=0.1)),
    "vocab_parallel_cross_entropy_smoothing_weight": (
        lambda x, y, w: _vocab_parallel(x, y, weight=w, label_smoothing=0.1),
        lambda x, y, w: F.cross_entropy(x, y, w, label_smoothing=0.1)),
}


def _both(path, x, y):
    """(value, gradient) of jaxloss and of torch for logits ``x`` (their dtype) and labels ``y``."""
    ours, theirs = PATHS[path]
    w = np.linspace(0.5, 1.5, x.shape[-1]).astype(x.dtype)
    value, grad = jax.value_and_grad(ours)(jnp.asarray(x), jnp.asarray(y), jnp.asarray(w))
    t_value, t_grad = _torch_value_and_grad(lambda t: theirs(t, torch.tensor(y), torch.tensor(w)), x)
    return (value, grad), (t_value, t_grad)


@pytest.mark.parametrize("shift", [1e4, 1e6])
@pytest.mark.parametrize("path", sorted(PATHS))
def test_shifted_logits_give_torchs_value_and_gradient(path, shift):
    x = (_logits((6, 10)) + np.float32(shift)).astype(np.float32)  # the shifted values, as float32 holds them
    (value, grad), (t_value, t_grad) = _both(path, x, RNG.integers(0, 10, 6))
    np.testing.assert_allclose(value, t_value, rtol=2e-6)
    np.testing.assert_allclose(grad, t_grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("path", sorted(p for p in PATHS if "smoothing" not in p and "probabilities" not in p))
def test_rows_at_the_float32_limit(path):
    """[3e38, 3e38, 0, ...]: two equal huge logits, the others small. torch: log 2, gradient
    [-1/2, 1/2, 0, ...] for target 0 (the old form gave 0.0 and [0, 1, 0, ...]). With label
    smoothing the sum over classes of lse - x_c exceeds float32 (torch gives inf, as jaxloss)."""
    x = np.zeros((2, 10), np.float32)
    x[:, :2] = 3e38
    (value, grad), (t_value, t_grad) = _both(path, x, np.array([0, 1]))
    assert np.isfinite(t_value) and np.isfinite(value)
    np.testing.assert_allclose(value, t_value, rtol=2e-6)
    np.testing.assert_allclose(grad, t_grad, rtol=1e-5, atol=1e-7)


def test_shift_example_from_the_issue():
    """cross_entropy([[1e6, 1e6]], [0]) is log 2 (it was 0.6875)."""
    np.testing.assert_allclose(jl.cross_entropy(jnp.array([[1e6, 1e6]]), jnp.array([0])), np.log(2), rtol=1e-7)


# ----------------------------------------------------------------------------------------------
# float64 end to end


@pytest.mark.parametrize("path", sorted(PATHS))
def test_float64_stays_float64_to_1e_12(path):
    """Every path, options included, computes float64 logits in float64 (class weights and
    smoothing too: rounding them to float32 cost 1e-10..1.5e-8 relative)."""
    x = (RNG.standard_normal((6, 10)) * 3).astype(np.float64)
    with jax.enable_x64(True):
        (value, grad), (t_value, t_grad) = _both(path, x, RNG.integers(0, 10, 6))
        assert value.dtype == jnp.float64 and grad.dtype == jnp.float64, (value.dtype, grad.dtype)
    np.testing.assert_allclose(value, t_value, rtol=1e-12)
    np.testing.assert_allclose(grad, t_grad, rtol=1e-10, atol=1e-14)


# ----------------------------------------------------------------------------------------------
# Memory


ONE_FLOAT32_COPY = 4096 * 32000 * 4


@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.1}, {"label_smoothing": 0.1, "weight": "ones"}],
                         ids=["plain", "smoothing", "weight_smoothing"])
def test_bfloat16_cross_entropy_needs_at_most_one_float32_copy(options):
    """Compiled temporaries of value+grad on bfloat16 (4096, 32000) logits (was 500 / 1000 / 1000
    MiB before the engine: a second copy with label smoothing)."""
    options = {k: jnp.ones(32000) if v == "ones" else v for k, v in options.items()}
    logits = jax.ShapeDtypeStruct((4096, 32000), jnp.bfloat16)
    labels = jax.ShapeDtypeStruct((4096,), jnp.int32)
    step = jax.jit(jax.value_and_grad(lambda x, y: jl.cross_entropy(x, y, **options)))
    temp = step.lower(logits, labels).compile().memory_analysis().temp_size_in_bytes
    assert temp <= 1.01 * ONE_FLOAT32_COPY, temp / 2**20


def test_softmax_focal_loss_needs_at_most_one_float32_copy():
    """Without label smoothing, the focal loss is the engine's statistics plus per-row terms (it was
    3000 MiB in bfloat16: every per-class term materialised)."""
    logits = jax.ShapeDtypeStruct((4096, 32000), jnp.bfloat16)
    labels = jax.ShapeDtypeStruct((4096,), jnp.int32)
    step = jax.jit(jax.value_and_grad(lambda x, y: jl.softmax_focal_loss(x, y, gamma=2.0)))
    temp = step.lower(logits, labels).compile().memory_analysis().temp_size_in_bytes
    assert temp <= 1.01 * ONE_FLOAT32_COPY, temp / 2**20
