"""Registry entries for the classification losses, and the torch references of the losses torch
does not have (focal, poly-1, zero-one; also used by tests/test_classification.py).

Class-axis losses draw channels-last inputs ``(*batch, C)`` with integer targets ``batch``; the
elementwise ones (binary cross-entropy, KL divergence, soft margin) draw ``(*batch, C)`` too, so
that their per-class hyperparameters (``weight``, ``pos_weight``) broadcast. Per-class arrays are
keyword arguments: they are not batched (``vmap`` maps the positional arrays only) and they do not
take part in the result dtype.
"""

import re

import numpy as np
import torch
import torch.nn.functional as F

from references import Spec, normal, set_value, uniform

C = 5
_ALPHA = np.linspace(0.2, 1.0, C)
_WEIGHT = np.linspace(1.5, 0.5, C)


def _t(a):
    return torch.as_tensor(np.asarray(a), dtype=torch.float32)


def _labels(rng, batch):
    return rng.integers(0, C, batch).astype(np.int64)


def _logits_labels(rng, batch, scale):
    return normal(rng, (*batch, C), scale), _labels(rng, batch)


def _log_softmax(x):
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def _probabilities(rng, batch, zeros=False):
    t = np.exp(_log_softmax(normal(rng, (*batch, C))))
    if zeros:  # valid probabilities with some exact zeros (torch's 0 * log 0 = 0 convention)
        t = np.where(rng.uniform(size=t.shape) < 0.2, 0.0, t)
    return t


def _sigmoid(x):
    return 0.5 * (1 + np.tanh(0.5 * x))


def _first_targets_zero(y):
    """nll_loss reads only ``x[y]`` (as torch), so a NaN elsewhere in a row does not reach the value:
    the first sample targets class 0, where test_nan_inputs_propagate puts its NaN."""
    y.flat[0] = 0
    return y


def _bad_target_shape(args):
    """A trailing axis of size 7 on the class-index target: its shape must be named."""
    args = list(args)
    args[1] = np.zeros((*args[1].shape, 7), np.int64)
    return args, re.escape(str(tuple(args[1].shape)))


def _per_batch(torch_loss, x, y, reduction, **kw):
    """Torch's 2-D losses (``(N, C)`` only) on a channels-last batch of any rank."""
    out = torch_loss(x.reshape(-1, C), y.reshape(-1, *y.shape[x.ndim - 1:]), reduction=reduction, **kw)
    return out.reshape(x.shape[:-1]) if reduction == "none" else out


# --- torch references for the losses torch does not have -----------------------------------------
# Channels-last logits ``x`` (..., C), class indices ``y`` (-100 ignored), class weights ``w`` (C,),
# reduction ``r``, smoothing ``eps``: the per-sample loss, reduced with torch's weighted mean.


def torch_layout(x: torch.Tensor) -> torch.Tensor:
    """Channels-last (..., C) to torch's (N, C, d1, ...) for inputs of rank > 2."""
    return x.movedim(-1, 1) if x.ndim > 2 else x


def torch_weighted(loss: torch.Tensor, denominator: torch.Tensor, reduction: str) -> torch.Tensor:
    """torch's weighted mean of a per-sample loss (sum / sum of the target weights)."""
    return {"mean": lambda: loss.sum() / denominator.sum(), "sum": loss.sum, "none": lambda: loss}[reduction]()


def torch_focal(x, y, w, r, gamma, alpha, eps):
    """Softmax focal loss: sum_c t_c alpha_c w_c (1 - p_c)^gamma (-log p_c), t the smoothed one-hot target."""
    lsm = torch.log_softmax(x, -1)
    keep = y != -100
    ys = torch.where(keep, y, 0)
    t = (1 - eps) * F.one_hot(ys, x.shape[-1]).to(x.dtype) + eps / x.shape[-1]
    per = (t * alpha * w * (1 - lsm.exp()) ** gamma * -lsm).sum(-1) * keep
    return torch_weighted(per, w[ys] * keep, r)


def torch_poly1(x, y, w, r, epsilon, eps):
    """Poly-1 cross-entropy: torch's cross-entropy plus ``epsilon * w_y * (1 - p_t)``."""
    keep = y != -100
    ys = torch.where(keep, y, 0)
    ce = F.cross_entropy(torch_layout(x), y, w, label_smoothing=eps, reduction="none")
    p_t = (1 - eps) * torch.softmax(x, -1).gather(-1, ys[..., None])[..., 0] + eps / x.shape[-1]
    per = ce + epsilon * w[ys] * (1 - p_t) * keep
    return torch_weighted(per, w[ys] * keep, r)


def torch_zero_one(x, y, r):
    """Zero-one loss: 1 where the argmax is not the target (no gradient)."""
    keep = y != -100
    wrong = (x.argmax(-1) != y).float() * keep
    return {"mean": lambda: wrong.sum() / keep.sum(), "sum": wrong.sum, "none": lambda: wrong}[r]()


SPECS = [
    Spec(
        "cross_entropy",
        lambda rng, b, s: (_logits_labels(rng, b, s), {"label_smoothing": 0.1}),
        lambda x, y, reduction, label_smoothing: F.cross_entropy(
            torch_layout(x), y, reduction=reduction, label_smoothing=label_smoothing),
        unreduced="batch", bad_shape=_bad_target_shape, max_scale=1e30,
    ),
    Spec(
        # log-probabilities: log_softmax of the scaled logits
        "nll_loss",
        lambda rng, b, s: ((_log_softmax(normal(rng, (*b, C), s)), _first_targets_zero(_labels(rng, b))), {}),
        lambda x, y, reduction: F.nll_loss(torch_layout(x), y, reduction=reduction),
        unreduced="batch", bad_shape=_bad_target_shape, max_scale=1e30,
    ),
    Spec(
        # probabilities sigmoid(scale * z): the scale pushes them to 0 and 1 (exactly, in float32, at
        # large scales, where torch's clamp of the logs at -100 keeps the value finite)
        "binary_cross_entropy",
        lambda rng, b, s: ((_sigmoid(normal(rng, (*b, C), s)), uniform(rng, (*b, C), 0.0, 1.0)),
                           {"weight": _WEIGHT}),
        lambda x, y, reduction, weight: F.binary_cross_entropy(x, y, _t(weight), reduction=reduction),
        grad_args=(0, 1), max_scale=1e30,
    ),
    Spec(
        "binary_cross_entropy_with_logits",
        lambda rng, b, s: ((normal(rng, (*b, C), s), uniform(rng, (*b, C), 0.0, 1.0)),
                           {"weight": _WEIGHT, "pos_weight": 1 + _ALPHA}),
        lambda x, y, reduction, weight, pos_weight: F.binary_cross_entropy_with_logits(
            x, y, _t(weight), pos_weight=_t(pos_weight), reduction=reduction),
        grad_args=(0, 1), max_scale=1e30,
    ),
    Spec(
        # the target's gradient is not checked: at the (valid) zero targets t log t has no derivative
        "kl_div",
        lambda rng, b, s: ((_log_softmax(normal(rng, (*b, C), s)), _probabilities(rng, b, zeros=True)), {}),
        lambda x, t, reduction: F.kl_div(x, t, reduction=reduction),
        max_scale=1e30,
    ),
    Spec(
        "multi_margin_loss",
        lambda rng, b, s: (_logits_labels(rng, b, s), {"margin": 0.7, "weight": _WEIGHT}),
        lambda x, y, reduction, margin, weight: _per_batch(
            F.multi_margin_loss, x, y, reduction, margin=margin, weight=_t(weight)),
        unreduced="batch", bad_shape=_bad_target_shape, grad_order=1, max_scale=1e30,
    ),
    Spec(
        # rows listing 0 to C labels (with repeats) ended by -1, junk in [-1, C) after the first -1
        "multilabel_margin_loss",
        lambda rng, b, s: ((normal(rng, (*b, C), s), rng.integers(-1, C, (*b, C)).astype(np.int64)), {}),
        lambda x, y, reduction: _per_batch(F.multilabel_margin_loss, x, y, reduction),
        unreduced="batch", grad_order=1, max_scale=1e30,
    ),
    Spec(
        "soft_margin_loss",
        lambda rng, b, s: ((normal(rng, (*b, C), s), np.where(rng.uniform(size=(*b, C)) < 0.5, 1.0, -1.0)), {}),
        lambda x, y, reduction: F.soft_margin_loss(x, y, reduction=reduction),
        max_scale=1e30,
    ),
    Spec(
        "multilabel_soft_margin_loss",
        lambda rng, b, s: ((normal(rng, (*b, C), s), uniform(rng, (*b, C), 0.0, 1.0)), {"weight": _WEIGHT}),
        lambda x, y, reduction, weight: _per_batch(F.multilabel_soft_margin_loss, x, y, reduction, weight=_t(weight)),
        unreduced="batch", grad_args=(0, 1), max_scale=1e30,
    ),
    Spec(
        "softmax_focal_loss",
        lambda rng, b, s: (_logits_labels(rng, b, s), {"gamma": 2.0, "alpha": _ALPHA, "label_smoothing": 0.1}),
        lambda x, y, reduction, gamma, alpha, label_smoothing: torch_focal(
            x, y, torch.ones(C), reduction, gamma, _t(alpha), label_smoothing),
        unreduced="batch", bad_shape=_bad_target_shape, max_scale=1e30,
    ),
    Spec(
        "poly1_cross_entropy",
        lambda rng, b, s: (_logits_labels(rng, b, s), {"epsilon": 1.0, "label_smoothing": 0.1}),
        lambda x, y, reduction, epsilon, label_smoothing: torch_poly1(
            x, y, torch.ones(C), reduction, epsilon, label_smoothing),
        unreduced="batch", bad_shape=_bad_target_shape, max_scale=1e30,
    ),
    Spec(
        # Piecewise constant: its zero gradient is the derivative of the value away from ties (which
        # random logits do not hit), so check_grads applies; it is not continuous, hence grad_order=1.
        "zero_one_loss",
        lambda rng, b, s: (_logits_labels(rng, b, s), {}),
        lambda x, y, reduction: torch_zero_one(x, y, reduction),
        unreduced="batch", bad_shape=_bad_target_shape, grad_order=1, max_scale=1e30,
    ),
]


# One value only a run-time check rejects, per loss (the property suite checks NaN value and gradient,
# and jl.checked's error): a class index out of range, a probability outside [0, 1], a negative target.
_BAD_CLASS = lambda args, kwargs: (set_value(args, 1, C + 2), kwargs)  # noqa: E731
INVALID = {
    "cross_entropy": _BAD_CLASS,
    "nll_loss": _BAD_CLASS,
    "softmax_focal_loss": _BAD_CLASS,
    "poly1_cross_entropy": _BAD_CLASS,
    "zero_one_loss": _BAD_CLASS,
    "multi_margin_loss": _BAD_CLASS,
    "multilabel_margin_loss": _BAD_CLASS,
    "binary_cross_entropy": lambda args, kwargs: (set_value(args, 0, 1.5), kwargs),
    "kl_div": lambda args, kwargs: (set_value(args, 1, -0.5), kwargs),
}
