"""Registry entries for the segmentation losses (smp references from tests/test_segmentation.py).

All five losses reduce over pixels: the leading ``batch_shape`` dimensions are images (and a
trailing pixel axis follows), while the unreduced loss is per class (Dice, Jaccard, Tversky) or a
scalar / per image (Lovasz). Hence, for every entry:

* ``unreduced="other"``;
* ``vmap=False``: the scores are computed over the whole batch (smp's ``dims=(0, 2)``), so vmapping
  over images gives per-image losses, a different quantity (documented in each docstring);
* ``where=False``: ``where=`` is a pixel mask broadcastable to the target (documented), not a mask
  of the unreduced per-class loss.
"""

import numpy as np

from tests.registry import Spec, normal, torch_reduce
from tests.test_segmentation import ref_lovasz_hinge, ref_lovasz_softmax, ref_overlap

P, C = 5, 3  # pixels per image, classes
MODES = ("binary", "multiclass", "multilabel")


def _overlap(extra=None):
    """Inputs of a mode drawn per example: binary (*batch, P), multiclass/multilabel (*batch, P, C)."""

    def make(rng, batch, scale):
        mode = MODES[rng.integers(3)]
        kwargs = {"mode": mode, "smooth": float(rng.choice([0.0, 1.0])), **(extra or {})}
        if mode == "binary":
            return (normal(rng, (*batch, P), scale), (rng.uniform(size=(*batch, P)) < 0.4).astype(np.float64)), kwargs
        x = normal(rng, (*batch, P, C), scale)
        if mode == "multiclass":
            return (x, rng.integers(0, C, (*batch, P))), kwargs
        return (x, (rng.uniform(size=x.shape) < 0.4).astype(np.float64)), kwargs

    return make


def _torch_overlap(kind):
    """smp's per-class loss on the batch flattened to one (1, C, pixels) image, then reduced."""

    def fn(x, t, reduction, mode, **kw):
        if mode == "binary":
            per_class = ref_overlap(kind, x.reshape(1, 1, -1), t.reshape(1, 1, -1), mode, **kw)[0]
        else:
            y_pred = x.reshape(-1, C).T.contiguous()[None]
            y_true = t.reshape(1, -1) if mode == "multiclass" else t.reshape(-1, C).T.contiguous()[None]
            per_class = ref_overlap(kind, y_pred, y_true, mode, **kw)
        return torch_reduce(per_class, reduction)

    return fn


def _hinge(rng, batch, scale):
    """Logits and {0, 1} labels (*batch, P); per_image drawn (then "none" is per image along axis 0)."""
    x = normal(rng, (*batch, P), scale)
    return (x, (rng.uniform(size=x.shape) < 0.4).astype(np.float64)), {"per_image": bool(rng.integers(2))}


def _softmax(rng, batch, scale):
    """Logits (*batch, P, C) channels-last and class indices (*batch, P); per_image and classes drawn."""
    kwargs = {"per_image": bool(rng.integers(2)), "classes": ("present", "all")[rng.integers(2)]}
    return (normal(rng, (*batch, P, C), scale), rng.integers(0, C, (*batch, P))), kwargs


_FLAGS = dict(unreduced="other", vmap=False, where=False, max_scale=1e30)
# The Lovasz extensions sort the errors and take a hinge: piecewise linear, so first order only.
_LOVASZ = dict(_FLAGS, grad_order=1)

SPECS = [
    Spec("dice_loss", _overlap(), _torch_overlap("dice"), **_FLAGS),
    Spec("jaccard_loss", _overlap(), _torch_overlap("jaccard"), **_FLAGS),
    # gamma stays 1: smp applies the focal exponent to the *reduced* loss (loss.mean() ** gamma,
    # documented), so for gamma != 1 "sum"/"mean" are by design not the sum/mean of "none".
    Spec("tversky_loss", _overlap({"alpha": 0.3, "beta": 0.7}), _torch_overlap("tversky"), **_FLAGS),
    Spec("lovasz_hinge_loss", _hinge,
         lambda x, t, reduction, per_image: ref_lovasz_hinge(x, t, per_image=per_image, reduction=reduction), **_LOVASZ),
    # check_grads=False: not an excluded term, but a kink density: the errors |[y = c] - p_c| of a
    # class are 30 numbers in [0, 1], and check_grads' fixed finite-difference step (1e-4) straddles a
    # tie of two of them (a kink of the sort) on a good share of random draws (seed 707749: two errors
    # 5.9e-5 apart, rel. error 2%; one-sided differences with step 1e-6 match the gradient to 1e-7).
    # The gradient is still checked against smp's in tests/test_segmentation.py.
    Spec("lovasz_softmax_loss", _softmax,
         lambda x, t, reduction, per_image, classes: ref_lovasz_softmax(
             x.movedim(-1, 1), t, per_image=per_image, classes=classes, reduction=reduction),
         check_grads=False, **_LOVASZ),
]
