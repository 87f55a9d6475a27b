"""Porting torch code: a torch-layout input is never silently read the other way, and the errors a
ported snippet meets say what jaxloss expects (DESIGN.md, "Class axis")."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import jaxloss as jl

pytestmark = pytest.mark.quick  # in the contributors' quick subset

RNG = np.random.default_rng(0)
# (2, 8, 8, 8) logits with (2, 8, 8) labels: classes last and torch's classes on axis 1 both fit
AMBIGUOUS_X = RNG.standard_normal((2, 8, 8, 8)).astype(np.float32)
AMBIGUOUS_Y = RNG.integers(0, 8, (2, 8, 8))
# torch's layout with a size that tells: (N, C, H, W) = (2, 5, 4, 4), labels (2, 4, 4)
TORCH_X = RNG.standard_normal((2, 5, 4, 4)).astype(np.float32)
TORCH_Y = RNG.integers(0, 5, (2, 4, 4))

# every loss with a class axis, called on (logits, class indices) with any further options
CLASS_AXIS_LOSSES = {
    "cross_entropy": lambda x, y, **kw: jl.cross_entropy(x, y, **kw),
    "nll_loss": lambda x, y, **kw: jl.nll_loss(x, y, **kw),
    "softmax_focal_loss": lambda x, y, **kw: jl.softmax_focal_loss(x, y, **kw),
    "poly1_cross_entropy": lambda x, y, **kw: jl.poly1_cross_entropy(x, y, **kw),
    "zero_one_loss": lambda x, y, **kw: jl.zero_one_loss(x, y, **kw),
    "multi_margin_loss": lambda x, y, **kw: jl.multi_margin_loss(x, y, **kw),
    "dice_loss": lambda x, y, **kw: jl.dice_loss(x, y, mode="multiclass", **kw),
    "jaccard_loss": lambda x, y, **kw: jl.jaccard_loss(x, y, mode="multiclass", **kw),
    "tversky_loss": lambda x, y, **kw: jl.tversky_loss(x, y, mode="multiclass", **kw),
    "lovasz_softmax_loss": lambda x, y, **kw: jl.lovasz_softmax_loss(x, y, **kw),
}


def test_every_loss_with_a_class_axis_is_listed():
    import inspect

    with_axis = {n for n, info in jl.CATALOGUE.items() if "axis" in inspect.signature(info.function).parameters}
    assert with_axis == set(CLASS_AXIS_LOSSES)


@pytest.mark.parametrize("name", sorted(CLASS_AXIS_LOSSES))
def test_ambiguous_layout_raises_asking_for_axis(name):
    """The issue's example: the default read (2, 8, 8, 8) channels-last (2.4704) where torch's
    reading (axis=1) gives 2.4087; now it is an error that names both layouts."""
    loss = CLASS_AXIS_LOSSES[name]
    with pytest.raises(ValueError, match=rf"^{name}: `input` \(2, 8, 8, 8\) with `target` \(2, 8, 8\) fits both "
                                         r"layouts.*axis=-1 for channels-last.*axis=1 for torch's layout"):
        loss(AMBIGUOUS_X, AMBIGUOUS_Y)
    # either choice, made explicitly, runs
    assert np.isfinite(float(jnp.sum(loss(AMBIGUOUS_X, AMBIGUOUS_Y, axis=1))))
    assert np.isfinite(float(jnp.sum(loss(AMBIGUOUS_X, AMBIGUOUS_Y, axis=-1))))


@pytest.mark.parametrize("name", sorted(CLASS_AXIS_LOSSES))
def test_torch_layout_is_read_from_the_target_shape(name):
    loss = CLASS_AXIS_LOSSES[name]
    np.testing.assert_allclose(loss(TORCH_X, TORCH_Y), loss(TORCH_X, TORCH_Y, axis=1), rtol=1e-6)
    channels_last = np.moveaxis(TORCH_X, 1, -1)
    np.testing.assert_allclose(loss(channels_last, TORCH_Y), loss(TORCH_X, TORCH_Y, axis=1), rtol=1e-5, atol=1e-7)


def test_ported_torch_snippet_gives_torchs_number_without_axis():
    """F.cross_entropy on (N, C, H, W) renamed to jl.cross_entropy: torch's value, not a silent other one."""
    expected = F.cross_entropy(torch.from_numpy(TORCH_X), torch.from_numpy(TORCH_Y)).item()
    np.testing.assert_allclose(float(jl.cross_entropy(TORCH_X, TORCH_Y)), expected, rtol=1e-6)
    np.testing.assert_allclose(float(jl.nll_loss(jnp.asarray(TORCH_X), TORCH_Y, weight=jnp.ones(5))),
                               F.nll_loss(torch.from_numpy(TORCH_X), torch.from_numpy(TORCH_Y), weight=torch.ones(5)).item(),
                               rtol=1e-6)


def test_sequence_logits_are_ambiguous_when_time_equals_classes():
    """(4, 10, 10) sequence logits with (4, 10) labels: 2.6773 channels-last vs 2.4523 torch's."""
    x, y = RNG.standard_normal((4, 10, 10)).astype(np.float32), RNG.integers(0, 10, (4, 10))
    with pytest.raises(ValueError, match="fits both layouts"):
        jl.cross_entropy(x, y)


@pytest.mark.parametrize("call", [
    lambda: jl.cross_entropy(np.ones((4, 6, 5), np.float32), np.full((4, 6, 5), 0.2, np.float32)),
    lambda: jl.dice_loss(np.ones((2, 4, 4, 3), np.float32), np.ones((2, 4, 4, 3), np.float32), mode="multilabel"),
], ids=["cross_entropy_probabilities", "dice_multilabel"])
def test_same_shape_targets_of_rank_three_or_more_need_axis(call):
    with pytest.raises(ValueError, match=r"a target of the same shape, the class axis could be the last or axis 1"):
        call()


def test_rank_two_and_unbatched_inputs_need_no_axis():
    x, y = RNG.standard_normal((6, 5)).astype(np.float32), RNG.integers(0, 5, (6,))
    expected = F.cross_entropy(torch.from_numpy(x), torch.from_numpy(y)).item()
    np.testing.assert_allclose(float(jl.cross_entropy(x, y)), expected, rtol=1e-6)
    np.testing.assert_allclose(float(jl.cross_entropy(x[0], y[0])),
                               F.cross_entropy(torch.from_numpy(x[0]), torch.tensor(y[0])).item(), rtol=1e-6)
    probs = np.full((6, 5), 0.2, np.float32)
    np.testing.assert_allclose(float(jl.cross_entropy(x, probs)),
                               F.cross_entropy(torch.from_numpy(x), torch.from_numpy(probs)).item(), rtol=1e-6)


@pytest.mark.parametrize("call, message", [
    (lambda: jl.cross_entropy(TORCH_X, TORCH_Y, axis=-1),
     r"`target` has shape \(2, 4, 4\), expected \(2, 5, 4\): `input` \(2, 5, 4, 4\) without its class axis 3; "
     r"pass axis=-1 .* or axis=1 for torch's layout"),
    (lambda: jl.nll_loss(TORCH_X, TORCH_Y[:, :3], weight=np.ones(5, np.float32)),
     r"`target` has shape \(2, 3, 4\), which fits neither layout of `input` \(2, 5, 4, 4\): expected \(2, 5, 4\) "
     r"\(classes last, axis=-1\) or \(2, 4, 4\) \(torch's layout, axis=1\)"),
    (lambda: jl.nll_loss(np.moveaxis(TORCH_X, 1, -1), TORCH_Y, weight=np.ones(4, np.float32)),
     r"`weight` has shape \(4,\), expected \(5,\): one per class of `input`'s class axis 3"),
    (lambda: jl.cross_entropy(TORCH_X[:, :, 0, 0], TORCH_Y[:, 0, 0].astype(np.float32)),
     r"class indices must have an integer dtype \(cast them, e.g. `target.astype\(jnp.int32\)`\)"),
    (lambda: jl.nll_loss(TORCH_X[:, :, 0, 0], TORCH_Y[:, 0, 0].astype(np.float32)),
     r"`target` must have an integer dtype \(class indices\), got float32 \(cast it, e.g. `target.astype\(jnp.int32\)`\)"),
], ids=["wrong_axis_names_the_axis_and_the_layouts", "target_fits_neither_layout", "weight_names_the_class_axis",
        "float_class_indices_cross_entropy", "float_class_indices_nll"])
def test_shape_errors_name_the_class_axis_and_how_to_choose_torchs_layout(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


# --- porting hints ---------------------------------------------------------------------------------


@pytest.mark.parametrize("call, message", [
    (lambda: jl.ctc_loss(np.zeros((10, 2, 5), np.float32), np.ones((2, 3), np.int32), np.array([10, 10]),
                         np.array([3, 3])),
     r"^ctc_loss: `targets` has 2 rows but `log_probs` \(10, 2, 5\) has N = 10: jaxloss takes batch-major \(N, T, C\) "
     r"log-probabilities; torch's time-major \(T, N, C\) is `log_probs.swapaxes\(0, 1\)`"),
    (lambda: jl.ctc_loss(np.zeros((2, 10, 5), np.float32), np.ones((6,), np.int32), np.array([10, 10]),
                         np.array([3, 3])),
     r"^ctc_loss: `targets` has shape \(6,\): torch's concatenated targets are not supported .* pad them to \(N, S\)"),
], ids=["ctc_time_major", "ctc_concatenated_targets"])
def test_ctc_porting_errors_say_what_jaxloss_expects(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_python_lists_are_read_as_jnp_asarray_would():
    logits, labels = [[1.0, 2.0], [0.5, 0.1]], [1, 0]
    expected = F.cross_entropy(torch.tensor(logits), torch.tensor(labels)).item()
    np.testing.assert_allclose(float(jl.cross_entropy(logits, labels)), expected, rtol=1e-6)
    np.testing.assert_allclose(float(jl.mse_loss([1.0, 2.0], (1.0, 4.0))), 2.0, rtol=1e-6)  # hand: (0 + 4) / 2


def test_a_ragged_list_is_a_named_error():
    with pytest.raises(TypeError, match=r"^mse_loss: `input` is a list that is not an array"):
        jl.mse_loss([[1.0, 2.0], [1.0]], [1.0])


@pytest.mark.parametrize("name", ["l1_loss", "mse_loss", "huber_loss", "smooth_l1_loss"])
def test_a_target_of_another_shape_warns_at_trace_time_as_torch_does(name):
    """A (4,) target against a (4, 1) prediction broadcasts to (4, 4): torch warns, and so does jaxloss
    (once per trace), naming the loss and both shapes."""
    loss = getattr(jl, name)
    x, y = jnp.arange(4.0).reshape(4, 1), jnp.arange(4.0) + 0.25  # fresh shapes for this test's traces
    with pytest.warns(jl.ShapeWarning, match=rf"^{name}: `target` has shape \(4,\), `input` \(4, 1\): they broadcast "
                                             r"to \(4, 4\), which is likely a mistake"):
        ours = loss(x, y)
    with pytest.warns(UserWarning, match="Using a target size"):
        theirs = getattr(F, name)(torch.from_numpy(np.array(x)), torch.from_numpy(np.array(y)))
    np.testing.assert_allclose(float(ours), theirs.item(), rtol=1e-6)  # the same (broadcast) number


def test_same_shapes_and_scalar_targets_do_not_warn(recwarn):
    jl.mse_loss(jnp.ones((3, 2)), jnp.zeros((3, 2)))
    jl.robust_loss(jnp.ones((3,)), 0.0, alpha=1.0, scale=1.0)
    assert not [w for w in recwarn if issubclass(w.category, jl.ShapeWarning)]
