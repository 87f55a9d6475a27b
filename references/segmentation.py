"""Registry entries for the segmentation losses, and their torch references written from
segmentation_models_pytorch's published formulas (smp semantics, in torch's layout ``(N, C, ...)``;
also used by tests/test_segmentation.py).

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
import torch
import torch.nn.functional as F

from references import Spec, normal, set_value, torch_reduce

P, C = 5, 3  # pixels per image, classes
MODES = ("binary", "multiclass", "multilabel")

# --- torch references (smp semantics) --------------------------------------------------------------


def ref_overlap(kind, y_pred, y_true, mode, from_logits=True, smooth=0.0, eps=1e-7, ignore_index=None,
                log_loss=False, alpha=0.5, beta=0.5):
    """Per-class losses of smp's DiceLoss / JaccardLoss / TverskyLoss (before their mean)."""
    if from_logits:
        y_pred = y_pred.log_softmax(dim=1).exp() if mode == "multiclass" else F.logsigmoid(y_pred).exp()
    bs, num_classes, dims = y_true.size(0), y_pred.size(1), (0, 2)
    if mode == "multiclass":
        y_true = y_true.view(bs, -1)
        y_pred = y_pred.view(bs, num_classes, -1)
        if ignore_index is not None:
            mask = y_true != ignore_index
            y_pred = y_pred * mask.unsqueeze(1)
            y_true = F.one_hot((y_true * mask).long(), num_classes).permute(0, 2, 1) * mask.unsqueeze(1)
        else:
            y_true = F.one_hot(y_true, num_classes).permute(0, 2, 1)
    else:
        c = 1 if mode == "binary" else num_classes
        y_true, y_pred = y_true.reshape(bs, c, -1), y_pred.reshape(bs, c, -1)
        if ignore_index is not None:
            mask = y_true != ignore_index
            y_pred, y_true = y_pred * mask, y_true * mask
    y_true = y_true.type_as(y_pred)
    inter = torch.sum(y_pred * y_true, dim=dims)
    if kind == "dice":
        score = (2 * inter + smooth) / (torch.sum(y_pred + y_true, dim=dims) + smooth).clamp_min(eps)
    elif kind == "jaccard":
        union = torch.sum(y_pred + y_true, dim=dims) - inter
        score = (inter + smooth) / (union + smooth).clamp_min(eps)
    else:
        fp = torch.sum(y_pred * (1.0 - y_true), dim=dims)
        fn = torch.sum((1 - y_pred) * y_true, dim=dims)
        score = (inter + smooth) / (inter + alpha * fp + beta * fn + smooth).clamp_min(eps)
    loss = -torch.log(score.clamp_min(eps)) if log_loss else 1.0 - score
    return loss * (y_true.sum(dims) > 0).to(loss.dtype)


def _t_lovasz_grad(gt_sorted):
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.cumsum(0)
    union = gts + (1 - gt_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    return torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])


def _t_hinge_flat(logits, labels):
    errors = 1.0 - logits * (2.0 * labels - 1.0)
    errors_sorted, perm = torch.sort(errors, dim=0, descending=True)
    return torch.dot(F.relu(errors_sorted), _t_lovasz_grad(labels[perm]))


def _t_softmax_flat(probas, labels, classes="present", weight=None):
    losses, weights = [], []
    for c in range(probas.size(1)):
        fg = (labels == c).type_as(probas)
        if classes == "present" and fg.sum() == 0:
            continue
        errors = (fg - probas[:, c]).abs()
        errors_sorted, perm = torch.sort(errors, 0, descending=True)
        losses.append(torch.dot(errors_sorted, _t_lovasz_grad(fg[perm])))
        weights.append(1.0 if weight is None else weight[c])
    if not losses:
        return probas.sum() * 0.0
    w = torch.stack([torch.as_tensor(v, dtype=probas.dtype) for v in weights])
    return (torch.stack(losses) * w).sum() / w.sum()


def _t_images(fn, scores, labels, per_image, ignore, reduction):
    """smp's per-image loop, except that images with no pixel left are left out of the mean."""
    rows = list(zip(scores, labels)) if per_image else [(scores, labels)]
    out = []
    for s, lab in rows:
        valid = lab != ignore if ignore is not None else torch.ones_like(lab, dtype=torch.bool)
        out.append((fn(s, lab, valid), bool(valid.any())))
    if not per_image:
        return out[0][0]
    losses = torch.stack([v if ok else v * 0 for v, ok in out])
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    kept = [v for v, ok in out if ok]
    return torch.stack(kept).mean() if kept else losses.sum() * 0


def ref_lovasz_hinge(logits, labels, per_image=False, ignore=None, reduction="mean"):
    return _t_images(lambda s, lab, v: _t_hinge_flat(s[v], lab[v].float()) if v.any() else s.sum() * 0,
                     logits, labels, per_image, ignore, reduction)


def ref_lovasz_softmax(logits, labels, per_image=False, ignore=None, classes="present", weight=None, reduction="mean"):
    probas = logits.softmax(dim=1)  # (N, C, H, W)

    class_dim = 0 if per_image else 1  # p is one image (C, H, W) or the batch (N, C, H, W)

    def one(p, lab, v):
        flat = p.movedim(class_dim, -1).reshape(-1, p.size(class_dim))
        return _t_softmax_flat(flat[v.reshape(-1)], lab.reshape(-1)[v.reshape(-1)], classes, weight)

    return _t_images(one, probas, labels, per_image, ignore, reduction)


# --- registry entries ------------------------------------------------------------------------------


def _overlap(extra=None):
    """Inputs of a mode drawn per example: binary (*batch, P), multiclass/multilabel (*batch, P, C)."""

    def make(rng, batch, scale):
        mode = MODES[rng.integers(3)]
        kwargs = {"mode": mode, "smooth": float(rng.choice([0.0, 1.0])), **(extra or {})}
        if mode == "binary":
            return (normal(rng, (*batch, P), scale), (rng.uniform(size=(*batch, P)) < 0.4).astype(np.float64)), kwargs
        kwargs["axis"] = -1  # channels-last; a multilabel target has the input's shape, so both layouts would fit
        x = normal(rng, (*batch, P, C), scale)
        if mode == "multiclass":
            return (x, rng.integers(0, C, (*batch, P))), kwargs
        return (x, (rng.uniform(size=x.shape) < 0.4).astype(np.float64)), kwargs

    return make


def _torch_overlap(kind):
    """smp's per-class loss on the batch flattened to one (1, C, pixels) image, then reduced."""

    def fn(x, t, reduction, mode, axis=-1, **kw):
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
    kwargs = {"per_image": bool(rng.integers(2)), "classes": ("present", "all")[rng.integers(2)], "axis": -1}
    return (normal(rng, (*batch, P, C), scale), rng.integers(0, C, (*batch, P))), kwargs


_FLAGS = dict(unreduced="other", vmap=False, where=False, max_scale=1e30, mask_arg=1)  # where: a pixel mask
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
         lambda x, t, reduction, per_image, classes, axis: ref_lovasz_softmax(
             x.movedim(-1, 1), t, per_image=per_image, classes=classes, reduction=reduction),
         check_grads=False, **_LOVASZ),
]


# One value only a run-time check rejects (see references/classification.py): a class index out of
# range (multiclass mode only: a draw in another mode cannot hold one), a label that is not 0 or 1.
def _bad_class_index(args, kwargs):
    if kwargs.get("mode", "multiclass") != "multiclass":
        return None
    return set_value(args, 1, C + 2), kwargs


INVALID = {
    "dice_loss": _bad_class_index,
    "jaccard_loss": _bad_class_index,
    "tversky_loss": _bad_class_index,
    "lovasz_softmax_loss": _bad_class_index,
    "lovasz_hinge_loss": lambda args, kwargs: (set_value(args, 1, 0.5), kwargs),
}
