"""Registry entries for the detection losses (references from tests/test_detection.py)."""

import re

import numpy as np

from tests.registry import Spec, normal, uniform
from tests.test_detection import (
    ref_complete_box_iou_loss,
    ref_distance_box_iou_loss,
    ref_generalized_box_iou_loss,
    ref_sigmoid_focal_loss,
)


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
