"""Segmentation losses against torch references written from segmentation_models_pytorch's
published formulas, in references/segmentation.py (smp itself cannot be installed beside the CPU
torch of this environment).

The references work in torch's layout ``(N, C, H, W)``; jaxloss is called with ``axis=1`` on the
same arrays, and with the default ``axis=-1`` on their channels-last transpose.
"""

from __future__ import annotations

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from jax.experimental import checkify

import jaxloss as jl
from references.segmentation import ref_lovasz_hinge, ref_lovasz_softmax, ref_overlap
from tests.parity import assert_finite, assert_parity, randint, randn

# --------------------------------------------------------------------------------------------------
# Inputs

N, C, H, W = 2, 4, 5, 6


def multiclass_case(seed=0, ignore=None):
    x = randn((N, C, H, W), seed, scale=2.0)
    y = randint((N, H, W), seed + 1, C)
    if ignore is not None:
        y[np.random.default_rng(seed + 2).uniform(size=y.shape) < 0.25] = ignore
    return x, y


def binary_case(seed=0, ignore=None, channel=True):
    x = randn((N, 1, H, W) if channel else (N, H, W), seed, scale=2.0)
    y = (np.random.default_rng(seed + 1).uniform(size=x.shape) < 0.4).astype(np.float32)
    if ignore is not None:
        y[np.random.default_rng(seed + 2).uniform(size=y.shape) < 0.25] = ignore
    return x, y


def multilabel_case(seed=0):
    x = randn((N, C, H, W), seed, scale=2.0)
    return x, (np.random.default_rng(seed + 1).uniform(size=x.shape) < 0.4).astype(np.float32)


CASES = {"binary": binary_case, "multiclass": multiclass_case, "multilabel": multilabel_case}
OVERLAP = {"dice": jl.dice_loss, "jaccard": jl.jaccard_loss, "tversky": jl.tversky_loss}


# --------------------------------------------------------------------------------------------------
# Dice, Jaccard, Tversky


@pytest.mark.parametrize(
    "kind,mode,options,layout",
    [
        ("dice", "binary", {}, "torch"),
        ("dice", "multiclass", {}, "channels_last"),
        ("dice", "multiclass", {}, "torch"),
        ("dice", "multilabel", {"smooth": 1.0}, "channels_last"),
        ("dice", "multiclass", {"log_loss": True, "ignore_index": -1}, "torch"),
        ("jaccard", "binary", {"ignore_index": 2}, "channels_last"),
        ("jaccard", "multiclass", {"smooth": 0.5}, "torch"),
        ("jaccard", "multilabel", {"log_loss": True}, "torch"),
        ("tversky", "binary", {"alpha": 0.3, "beta": 0.7}, "channels_last"),
        ("tversky", "multiclass", {"alpha": 0.7, "beta": 0.3, "ignore_index": 255}, "channels_last"),
        ("tversky", "multilabel", {"alpha": 0.2, "beta": 0.8, "smooth": 1.0}, "torch"),
    ],
)
def test_overlap_losses_match_smp(kind, mode, options, layout):
    ignore = options.get("ignore_index")
    x, y = CASES[mode](3) if ignore is None else CASES[mode](3, ignore=ignore)
    extra = {k: v for k, v in options.items() if k in ("alpha", "beta")}
    ref_options = {k: v for k, v in options.items() if k not in extra} | extra

    def ours(a, b):
        if layout == "torch":
            return OVERLAP[kind](a, b, mode=mode, axis=1, **options)
        return OVERLAP[kind](jnp.moveaxis(a, 1, -1), jnp.moveaxis(b, 1, -1) if mode != "multiclass" else b,
                             mode=mode, axis=-1, **options)

    assert_parity(ours, lambda a, b: ref_overlap(kind, a, b, mode, **ref_options).mean(), x, y, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_per_class_reductions_and_weights(reduction):
    x, y = multiclass_case(4)
    w = np.array([0.5, 2.0, 1.0, 0.0], np.float32)
    if reduction == "none":
        assert_parity(lambda a, b: jl.dice_loss(a, b, mode="multiclass", axis=1, reduction="none"),
                      lambda a, b: ref_overlap("dice", a, b, "multiclass"), x, y, rtol=1e-5, atol=1e-6)
    assert_parity(lambda a, b: jl.jaccard_loss(a, b, mode="multiclass", axis=1, weight=jnp.asarray(w), reduction=reduction),
                  lambda a, b: ref_overlap("jaccard", a, b, "multiclass") * torch.tensor(w)
                  if reduction == "none" else (ref_overlap("jaccard", a, b, "multiclass") * torch.tensor(w)).sum(),
                  x, y, rtol=1e-5, atol=1e-6)
    # weighted mean: sum(w l) / sum(w)
    assert_parity(lambda a, b: jl.jaccard_loss(a, b, mode="multiclass", axis=1, weight=jnp.asarray(w)),
                  lambda a, b: (ref_overlap("jaccard", a, b, "multiclass") * torch.tensor(w)).sum() / w.sum(),
                  x, y, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_focal_tversky_applies_gamma_to_the_mean_as_smp(gamma):
    x, y = multiclass_case(5)
    assert_parity(lambda a, b: jl.tversky_loss(a, b, mode="multiclass", axis=1, alpha=0.3, beta=0.7, gamma=gamma),
                  lambda a, b: ref_overlap("tversky", a, b, "multiclass", alpha=0.3, beta=0.7).mean() ** gamma,
                  x, y, rtol=1e-5, atol=1e-6)


def test_probabilities_input_and_binary_target_without_channel_axis():
    x, y = binary_case(6, channel=False)
    p = 1 / (1 + np.exp(-x))
    ours = jl.dice_loss(jnp.asarray(p)[..., None], y, mode="binary", from_logits=False)  # (N,H,W,1) vs (N,H,W)
    ref = ref_overlap("dice", torch.tensor(p), torch.tensor(y), "binary", from_logits=False).mean()
    np.testing.assert_allclose(ours, ref.numpy(), rtol=1e-6)


@pytest.mark.parametrize("kind", list(OVERLAP))
def test_identical_masks_give_zero(kind):
    # hand: p = t in {0, 1}: TP = sum t, FP = FN = 0, so every score is 1 and every loss 0
    masks = (np.arange(2 * 3 * 4).reshape(2, 3, 4) % 3 == 0).astype(np.float32)
    assert float(OVERLAP[kind](masks, masks, mode="binary", from_logits=False)) == 0.0
    onehot = jax.nn.one_hot(jnp.arange(12).reshape(3, 4) % 3, 3)
    assert float(OVERLAP[kind](onehot, jnp.arange(12).reshape(3, 4) % 3, mode="multiclass", from_logits=False)) == 0.0


@pytest.mark.parametrize("kind", list(OVERLAP))
def test_no_foreground_and_all_ignored_give_zero_with_zero_gradient(kind):
    x = jnp.asarray(randn((2, 3, 3), 7))
    empty = jnp.zeros((2, 3, 3))
    ignored = jnp.full((2, 3, 3), -1.0)
    for target, options in ((empty, {}), (ignored, {"ignore_index": -1})):
        value, g = jax.value_and_grad(lambda a: OVERLAP[kind](a, target, mode="binary", gamma=0.5, **options)
                                      if kind == "tversky" else OVERLAP[kind](a, target, mode="binary", **options))(x)
        assert float(value) == 0.0
        assert_finite(g)
        assert np.all(np.asarray(g) == 0)


def test_where_equals_ignore_index():
    x, y = multiclass_case(8, ignore=-1)
    by_index = jl.dice_loss(x, y, mode="multiclass", axis=1, ignore_index=-1)
    by_where = jl.dice_loss(x, np.where(y < 0, 0, y), mode="multiclass", axis=1, where=jnp.asarray(y >= 0))
    np.testing.assert_allclose(by_where, by_index, rtol=1e-6)


# --------------------------------------------------------------------------------------------------
# Lovasz


@pytest.mark.parametrize("per_image,ignore", [(False, None), (True, None), (False, 255), (True, 255)])
def test_lovasz_hinge_matches_smp(per_image, ignore):
    x, y = binary_case(9, ignore=ignore)
    assert_parity(lambda a, b: jl.lovasz_hinge_loss(a, b, per_image=per_image, ignore_index=ignore),
                  lambda a, b: ref_lovasz_hinge(a, b, per_image, ignore), x, y, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "per_image,ignore,classes,weighted,reduction,layout",
    [
        (False, None, "present", False, "mean", "torch"),
        (False, None, "present", False, "mean", "channels_last"),
        (True, None, "present", False, "none", "channels_last"),
        (False, -1, "all", False, "mean", "torch"),
        (True, -1, "present", True, "sum", "torch"),
        (True, None, "all", True, "mean", "channels_last"),
    ],
)
def test_lovasz_softmax_matches_smp(per_image, ignore, classes, weighted, reduction, layout):
    x, y = multiclass_case(10, ignore=ignore)
    if classes == "present":
        y[0][y[0] == 2] = 0 if ignore is None else ignore  # a class absent from the first image
    w = np.array([1.0, 0.5, 2.0, 1.5], np.float32) if weighted else None
    kw = dict(per_image=per_image, ignore_index=ignore, classes=classes, reduction=reduction,
              weight=None if w is None else jnp.asarray(w))

    def ours(a, b):
        return jl.lovasz_softmax_loss(a, b, axis=1, **kw) if layout == "torch" else \
            jl.lovasz_softmax_loss(jnp.moveaxis(a, 1, -1), b, **kw)

    assert_parity(ours, lambda a, b: ref_lovasz_softmax(a, b, per_image, ignore, classes, w, reduction),
                  x, y, rtol=1e-5, atol=1e-6)


def test_lovasz_all_ignored_image_is_left_out_of_the_mean():
    x, y = multiclass_case(11)
    y[1] = -1  # second image entirely ignored
    out = jl.lovasz_softmax_loss(x, y, axis=1, per_image=True, ignore_index=-1, reduction="none")
    only_first = ref_lovasz_softmax(torch.tensor(x[:1]), torch.tensor(y[:1]), per_image=True)
    np.testing.assert_allclose(out, [float(only_first), 0.0], rtol=1e-5)
    mean, g = jax.value_and_grad(lambda a: jl.lovasz_softmax_loss(a, y, axis=1, per_image=True, ignore_index=-1))(x)
    np.testing.assert_allclose(mean, float(only_first), rtol=1e-5)  # not halved by the empty image
    assert np.all(np.asarray(g)[1] == 0)


def test_lovasz_everything_ignored_gives_zero():
    x, _ = binary_case(12)
    y = np.full(x.shape, 255.0, np.float32)
    for per_image in (False, True):
        value, g = jax.value_and_grad(lambda a: jl.lovasz_hinge_loss(a, y, per_image=per_image, ignore_index=255))(x)
        assert float(value) == 0.0 and np.all(np.asarray(g) == 0)


def test_lovasz_hinge_no_foreground_is_the_top_false_positive():
    # hand: all labels 0, errors 1 + x sorted decreasingly; union = 1, 2, ..., intersection 0, so the
    # Jaccard increments are 1, 0, 0, ...: the loss is relu(1 + max x) = 1 + 0.5
    x = jnp.array([[-3.0, 0.5, -0.2, -1.0]])
    np.testing.assert_allclose(jl.lovasz_hinge_loss(x, jnp.zeros((1, 4))), 1.5, rtol=1e-6)


def test_lovasz_perfect_prediction_gives_zero():
    # hand: hinge errors 1 - |x| <= 0 for |x| >= 1 with the right sign; softmax: saturated one-hot
    y = (np.arange(12).reshape(2, 6) % 2).astype(np.float32)
    assert float(jl.lovasz_hinge_loss(jnp.asarray(4 * (2 * y - 1)), y)) == 0.0
    labels = jnp.arange(12).reshape(2, 6) % 3
    assert float(jl.lovasz_softmax_loss(jax.nn.one_hot(labels, 3), labels, from_logits=False)) == 0.0


def test_lovasz_tied_errors_share_the_average_increment():
    # hand: zero logits and no foreground give hinge errors 1, 1, 1 (tied); the Jaccard increments
    # along any order are 1, 0, 0, so the value is 1 and every order's gradient puts 1 on one entry
    # (d error / d x = 1 for label 0). jaxloss gives each tied entry the average, 1/3.
    value, grad = jax.value_and_grad(jl.lovasz_hinge_loss)(jnp.zeros((1, 3)), jnp.zeros((1, 3)))
    assert float(value) == 1.0
    np.testing.assert_allclose(grad, [[1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)
    # a tie between a foreground and a background entry: the value does not depend on the order
    x, y = jnp.array([[0.0, 0.0]]), jnp.array([[1.0, 0.0]])
    value, grad = jax.value_and_grad(jl.lovasz_hinge_loss)(x, y)
    # (within 1 ulp: the packed truth bit may move an error by one ulp)
    np.testing.assert_allclose(value, float(ref_lovasz_hinge(torch.tensor(np.asarray(x)), torch.tensor(np.asarray(y)))),
                               rtol=2e-7)
    # hand: the foreground entry ranks first (the truth bit of its key): J goes 0 -> 1 (union 1,
    # nothing missed) -> 1, increments 1 then 0; d error / d x = -1 for label 1
    np.testing.assert_allclose(grad, [[-1.0, 0.0]], rtol=1e-6)


@pytest.mark.parametrize("loss_name", ["lovasz_hinge_loss", "lovasz_softmax_loss"])
def test_lovasz_sorts_one_integer_operand(loss_name):
    # speed by construction: the value sorts a single integer key per entry (the truth packed in
    # its lowest bit), and the gradient needs no further sort (a binary search finds the ranks);
    # XLA sorts several operands, or float keys, many times slower
    fn = getattr(jl, loss_name)
    x = jnp.zeros((2, 8, 8, 3)) if loss_name == "lovasz_softmax_loss" else jnp.zeros((2, 8, 8))
    y = jnp.zeros((2, 8, 8), jnp.int32) if loss_name == "lovasz_softmax_loss" else jnp.zeros((2, 8, 8))

    def sorts(jaxpr):
        found = []
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "sort":
                found.append([v.aval.dtype for v in eqn.invars])
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                found += sorts(sub)
        return found

    for traced in (jax.make_jaxpr(fn)(x, y), jax.make_jaxpr(jax.value_and_grad(fn))(x, y)):
        found = sorts(traced.jaxpr)
        assert len(found) == 1, found
        assert len(found[0]) == 1 and jnp.issubdtype(found[0][0], jnp.integer), found


# --------------------------------------------------------------------------------------------------
# Conventions: half precision, vmap, run-time checks, errors

LOSS_CALLS = {
    "dice_loss": lambda a, b: jl.dice_loss(a, b, mode="multiclass", axis=1),
    "jaccard_loss": lambda a, b: jl.jaccard_loss(a, b, mode="multiclass", axis=1),
    "tversky_loss": lambda a, b: jl.tversky_loss(a, b, mode="multiclass", axis=1, alpha=0.3, beta=0.7, gamma=0.75),
    "lovasz_softmax_loss": lambda a, b: jl.lovasz_softmax_loss(a, b, axis=1),
}


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
@pytest.mark.parametrize("name", list(LOSS_CALLS))
def test_half_precision_within_tolerance_and_dtype_preserved(name, dtype):
    x, y = multiclass_case(13)
    vg = jax.jit(jax.value_and_grad(LOSS_CALLS[name]))
    xh = jnp.asarray(x, dtype)
    half, half_grad = vg(xh, y)
    assert half.dtype == dtype and half_grad.dtype == dtype
    ref, ref_grad = vg(jnp.asarray(xh, jnp.float32), y)
    tol = 2e-2 if dtype == jnp.bfloat16 else 2e-3
    np.testing.assert_allclose(np.float32(half), np.float32(ref), rtol=tol, atol=tol)
    np.testing.assert_allclose(np.asarray(half_grad, np.float32), np.asarray(ref_grad), rtol=10 * tol, atol=tol / 10)


def test_half_precision_lovasz_hinge():
    x, y = binary_case(14)
    vg = jax.jit(jax.value_and_grad(jl.lovasz_hinge_loss))
    half, g = vg(jnp.asarray(x, jnp.bfloat16), jnp.asarray(y, jnp.bfloat16))
    ref, _ = vg(jnp.asarray(jnp.asarray(x, jnp.bfloat16), jnp.float32), y)
    assert half.dtype == g.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.float32(half), np.float32(ref), rtol=1e-2)


def test_vmap_over_images_equals_per_image_losses():
    x, y = multiclass_case(15)
    xl = jnp.moveaxis(jnp.asarray(x), 1, -1)  # channels-last (N, H, W, C)
    per_image = jax.vmap(lambda a, b: jl.dice_loss(a, b, mode="multiclass"))(xl, y)
    for i in range(N):
        ref = ref_overlap("dice", torch.tensor(x[i:i + 1]), torch.tensor(y[i:i + 1]), "multiclass").mean()
        np.testing.assert_allclose(per_image[i], ref.numpy(), rtol=1e-5)
    vmapped = jax.vmap(lambda a, b: jl.lovasz_softmax_loss(a, b))(xl, y)
    np.testing.assert_allclose(vmapped, jl.lovasz_softmax_loss(xl, y, per_image=True, reduction="none"), rtol=1e-6)
    hinge_x, hinge_y = binary_case(16)
    np.testing.assert_allclose(jax.vmap(jl.lovasz_hinge_loss)(hinge_x, hinge_y),
                               jl.lovasz_hinge_loss(hinge_x, hinge_y, per_image=True, reduction="none"), rtol=1e-6)


@pytest.mark.parametrize("name", list(LOSS_CALLS))
def test_class_index_out_of_range_gives_nan_and_checked_mode_names_it(name):
    x, y = multiclass_case(17)
    y[0, 0, 0] = C  # out of range
    assert np.isnan(float(LOSS_CALLS[name](x, y)))
    with pytest.raises(checkify.JaxRuntimeError, match=f"{name}: `target` must hold class indices in \\[0, C\\)"):
        jl.checked(LOSS_CALLS[name])(x, y)


ERRORS = [
    (lambda: jl.dice_loss(jnp.zeros((2, 3)), jnp.zeros(2, jnp.int32), mode="multi"), ValueError,
     "dice_loss: mode='multi' is not supported; expected one of 'binary', 'multiclass', 'multilabel'"),
    (lambda: jl.dice_loss(jnp.zeros((2, 3, 4)), jnp.zeros((2, 4), jnp.int32), mode="multiclass", axis=-1), ValueError,
     r"dice_loss: `target` has shape \(2, 4\), expected \(2, 3\): `input` \(2, 3, 4\) without its class axis 2; "
     r"pass axis=-1 for channels-last .* or axis=1 for torch's layout"),
    (lambda: jl.jaccard_loss(jnp.zeros((2, 3)), jnp.zeros((2,)), mode="multiclass"), TypeError,
     "jaccard_loss: `target` must have an integer dtype"),
    (lambda: jl.tversky_loss(jnp.zeros((2, 3)), jnp.zeros((3, 2)), mode="multilabel"), ValueError,
     r"tversky_loss: `input` and `target` must have the same shape"),
    (lambda: jl.lovasz_softmax_loss(jnp.zeros((2, 3)), jnp.zeros(2, jnp.int32), classes="some"), ValueError,
     "lovasz_softmax_loss: classes='some' is not supported"),
    (lambda: jl.lovasz_softmax_loss(jnp.zeros((2, 3)), jnp.zeros(2, jnp.int32), axis=2), ValueError,
     "lovasz_softmax_loss: axis=2 is out of range for `input` of rank 2"),
    (lambda: jl.lovasz_hinge_loss(jnp.zeros((2, 3)), jnp.zeros((2, 3)), where=jnp.ones((2, 3))), TypeError,
     "lovasz_hinge_loss: `where` must be a boolean array"),
    (lambda: jl.dice_loss(jnp.zeros((2, 3)), jnp.zeros(2, jnp.int32), mode="multiclass", reduction="batchmean"),
     ValueError, "reduction='batchmean' is not supported"),
]


@pytest.mark.parametrize("call,kind,message", ERRORS)
def test_bad_arguments_raise_with_readable_message(call, kind, message):
    with pytest.raises(kind, match=message):
        call()


def test_traced_hyperparameters_do_not_recompile():
    x, y = multiclass_case(18)
    f = jax.jit(lambda s, a: jl.tversky_loss(x, y, mode="multiclass", axis=1, smooth=s, alpha=a, beta=1 - a))
    for s, a in ((0.0, 0.3), (1.0, 0.5)):
        ref = ref_overlap("tversky", torch.tensor(x), torch.tensor(y), "multiclass", smooth=s, alpha=a, beta=1 - a)
        np.testing.assert_allclose(f(s, a), ref.mean().numpy(), rtol=1e-5)
    assert f._cache_size() == 1
