"""Self-check cases for the segmentation losses.

The torch side is the reference written in torch from segmentation_models_pytorch's formulas in
``tests/test_segmentation.py`` (only the script that writes the stored values calls it). Inputs
are in torch's layout ``(N, C, H, W)``, so the losses are called with ``axis=1``.
"""

import importlib
from typing import Any

import numpy as np

from jaxloss._selfcheck import Case, labels, wave


def _ref(name: str) -> Any:
    return getattr(importlib.import_module("tests.test_segmentation"), name)


def _multiclass() -> tuple[np.ndarray, ...]:
    return wave((2, 3, 4, 5), scale=3.0), labels((2, 4, 5), 3, step=7)


def _binary() -> tuple[np.ndarray, ...]:
    return wave((2, 1, 4, 5), phase=0.4, scale=3.0), (wave((2, 1, 4, 5), phase=2.2) > 0.2).astype(np.float32)


def _overlap(kind: str, mode: str, **kw: Any) -> Any:
    return lambda F, x, y: _ref("ref_overlap")(kind, x, y, mode, **kw).mean()


CASES = [
    Case("dice_loss/multiclass", "dice_loss", _multiclass, _overlap("dice", "multiclass"),
         kwargs={"mode": "multiclass", "axis": 1}),
    Case("dice_loss/binary", "dice_loss", _binary, _overlap("dice", "binary"), kwargs={"mode": "binary"}),
    Case("jaccard_loss/multiclass/smooth", "jaccard_loss", _multiclass, _overlap("jaccard", "multiclass", smooth=1.0),
         kwargs={"mode": "multiclass", "axis": 1, "smooth": 1.0}),
    Case("tversky_loss/binary", "tversky_loss", _binary, _overlap("tversky", "binary", alpha=0.3, beta=0.7),
         kwargs={"mode": "binary", "alpha": 0.3, "beta": 0.7}),
    Case("lovasz_hinge_loss/per_image", "lovasz_hinge_loss", _binary,
         lambda F, x, y: _ref("ref_lovasz_hinge")(x, y, per_image=True), kwargs={"per_image": True}),
    Case("lovasz_softmax_loss", "lovasz_softmax_loss", _multiclass,
         lambda F, x, y: _ref("ref_lovasz_softmax")(x, y), kwargs={"axis": 1}),
]
