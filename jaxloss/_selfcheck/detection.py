"""Self-check cases for the detection losses.

The torch side is the reference written in torch from torchvision's formulas in
``tests/test_detection.py`` (only the script that writes the stored values calls it).
"""

import importlib
from typing import Any

import numpy as np

from jaxloss._selfcheck import Case, wave


def _ref(name: str) -> Any:
    return getattr(importlib.import_module("tests.test_detection"), name)


def _logits() -> tuple[np.ndarray, ...]:
    x = wave((6, 5), scale=4.0)
    y = (wave((6, 5), phase=1.3) > 0.3).astype(np.float32)
    return x, y


def _boxes() -> tuple[np.ndarray, ...]:
    xy1, xy2 = 2 + wave((8, 2), scale=1.5), 2 + wave((8, 2), phase=0.9, scale=1.5)
    wh1, wh2 = 1.2 + wave((8, 2), phase=2.0), 1.2 + wave((8, 2), phase=3.1)
    return np.concatenate([xy1, xy1 + wh1], -1), np.concatenate([xy2, xy2 + wh2], -1)


CASES = [
    Case("sigmoid_focal_loss", "sigmoid_focal_loss", _logits,
         lambda F, x, y: _ref("ref_sigmoid_focal_loss")(x, y)),
    Case("sigmoid_focal_loss/gamma=0.5/mean", "sigmoid_focal_loss", _logits,
         lambda F, x, y: _ref("ref_sigmoid_focal_loss")(x, y, gamma=0.5, reduction="mean"),
         kwargs={"gamma": 0.5, "reduction": "mean"}),
    Case("generalized_box_iou_loss", "generalized_box_iou_loss", _boxes,
         lambda F, a, b: _ref("ref_generalized_box_iou_loss")(a, b)),
    Case("distance_box_iou_loss/mean", "distance_box_iou_loss", _boxes,
         lambda F, a, b: _ref("ref_distance_box_iou_loss")(a, b, reduction="mean"), kwargs={"reduction": "mean"}),
    Case("complete_box_iou_loss", "complete_box_iou_loss", _boxes,
         lambda F, a, b: _ref("ref_complete_box_iou_loss")(a, b)),
]
