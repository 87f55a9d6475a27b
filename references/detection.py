"""Registry entries for the detection losses, and their torch references written from
torchvision's published formulas (torchvision.ops semantics; also used by tests/test_detection.py)."""

import re

import numpy as np
import torch
import torch.nn.functional as F

from references import Spec, normal, uniform

# --- torch references (torchvision.ops semantics) ------------------------------------------------


def _t_reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return loss.mean() if loss.numel() > 0 else 0.0 * loss.sum()
    return loss.sum() if reduction == "sum" else loss


def ref_sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0, reduction="none", pos_weight=None):
    p = torch.sigmoid(x)
    # BCE-with-logits written out, so that pos_weight can be differentiated too
    pw = 1.0 if pos_weight is None else pos_weight
    ce = -(pw * y * F.logsigmoid(x) + (1 - y) * F.logsigmoid(-x))
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return _t_reduce(loss, reduction)


def _t_inter_union(b1, b2):
    x1, y1, x2, y2 = b1.unbind(-1)
    x1g, y1g, x2g, y2g = b2.unbind(-1)
    xk1, yk1 = torch.max(x1, x1g), torch.max(y1, y1g)
    xk2, yk2 = torch.min(x2, x2g), torch.min(y2, y2g)
    inter = torch.zeros_like(x1)
    m = (yk2 > yk1) & (xk2 > xk1)
    inter[m] = (xk2[m] - xk1[m]) * (yk2[m] - yk1[m])
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    return inter, union


def _t_enclosing(b1, b2):
    x1, y1, x2, y2 = b1.unbind(-1)
    x1g, y1g, x2g, y2g = b2.unbind(-1)
    return torch.min(x1, x1g), torch.min(y1, y1g), torch.max(x2, x2g), torch.max(y2, y2g)


def ref_generalized_box_iou_loss(b1, b2, reduction="none", eps=1e-7):
    inter, union = _t_inter_union(b1, b2)
    iou = inter / (union + eps)
    xc1, yc1, xc2, yc2 = _t_enclosing(b1, b2)
    area_c = (xc2 - xc1) * (yc2 - yc1)
    return _t_reduce(1 - (iou - (area_c - union) / (area_c + eps)), reduction)


def _t_diou(b1, b2, eps=1e-7):
    inter, union = _t_inter_union(b1, b2)
    iou = inter / (union + eps)
    xc1, yc1, xc2, yc2 = _t_enclosing(b1, b2)
    diag = (xc2 - xc1) ** 2 + (yc2 - yc1) ** 2 + eps
    x1, y1, x2, y2 = b1.unbind(-1)
    x1g, y1g, x2g, y2g = b2.unbind(-1)
    centres = ((x2 + x1) / 2 - (x1g + x2g) / 2) ** 2 + ((y2 + y1) / 2 - (y1g + y2g) / 2) ** 2
    return 1 - iou + centres / diag, iou


def ref_distance_box_iou_loss(b1, b2, reduction="none", eps=1e-7):
    return _t_reduce(_t_diou(b1, b2, eps)[0], reduction)


def ref_complete_box_iou_loss(b1, b2, reduction="none", eps=1e-7):
    diou, iou = _t_diou(b1, b2)  # torchvision calls it without eps
    x1, y1, x2, y2 = b1.unbind(-1)
    x1g, y1g, x2g, y2g = b2.unbind(-1)
    v = (4 / torch.pi**2) * torch.pow(torch.atan((x2g - x1g) / (y2g - y1g)) - torch.atan((x2 - x1) / (y2 - y1)), 2)
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return _t_reduce(diou + alpha * v, reduction)


# --- registry entries ------------------------------------------------------------------------------



def _logits(rng, batch, scale):
    return (normal(rng, batch, scale), (rng.uniform(size=batch) < 0.3).astype(np.float64)), {}


def _boxes(rng, batch, scale):
    def one():
        xy = normal(rng, (*batch, 2), scale)
        return np.concatenate([xy, xy + uniform(rng, (*batch, 2), 0.2, 2.0) * scale], axis=-1)

    return (one(), one()), {}


def _fewer_boxes(args):
    """A real mismatch: boxes2 has one box fewer along the last box axis (both keep their (..., 4))."""
    b1, b2 = args[0], args[1][..., :-1, :]
    return [b1, b2, *args[2:]], re.escape(f"`boxes1` {tuple(b1.shape)}, `boxes2` {tuple(b2.shape)}")


SPECS = [
    Spec("sigmoid_focal_loss", _logits, lambda x, y, reduction: ref_sigmoid_focal_loss(x, y, reduction=reduction),
         grad_args=(0, 1), max_scale=1e30),
    Spec("generalized_box_iou_loss", _boxes, ref_generalized_box_iou_loss, unreduced="batch", grad_args=(0, 1),
         grad_order=1, max_scale=1e15, bad_shape=_fewer_boxes),
    Spec("distance_box_iou_loss", _boxes, ref_distance_box_iou_loss, unreduced="batch", grad_args=(0, 1),
         grad_order=1, max_scale=1e15, bad_shape=_fewer_boxes),
    # check_grads=False: as in torchvision, the aspect weight alpha = v / (1 - IoU + v + eps) is
    # held constant (stop_gradient, documented), so the gradient is not the derivative of the value.
    Spec("complete_box_iou_loss", _boxes, ref_complete_box_iou_loss, unreduced="batch", grad_args=(0, 1),
         grad_order=1, max_scale=1e15, bad_shape=_fewer_boxes, check_grads=False),
]
