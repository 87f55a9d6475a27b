"""Self-check cases for the embedding, ranking and metric-learning losses.

torch has no pytorch-metric-learning losses; their torch references are the ones the test suite
uses (``tests/test_embedding.py``, written from the published formulas). They are imported only by
``scripts/make_reference_values.py``, run from the repository root.
"""

import importlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from jaxloss._selfcheck import Case, labels, wave

_A = lambda: wave((6, 4))  # noqa: E731
_P = lambda: wave((6, 4), phase=1.0, scale=1.3)  # noqa: E731
_N = lambda: wave((6, 4), phase=2.5, scale=0.8, offset=0.2)  # noqa: E731
_SIGNS = np.where(wave((6,), phase=0.3) > 0, 1.0, -1.0).astype(np.float32)


def _reference(name: str) -> Callable[..., Any]:
    """A torch reference of ``tests/test_embedding.py`` (only needed when writing reference values)."""

    def call(F: Any, *tensors: Any, **kwargs: Any) -> Any:
        references = importlib.import_module("tests.test_embedding")
        return getattr(references, name)(*tensors, **kwargs)

    return call


def _batch() -> tuple[np.ndarray, np.ndarray]:
    return wave((12, 5), phase=0.4), labels((12,), 4, step=5)


CASES = [
    Case("margin_ranking_loss/margin=0.3", "margin_ranking_loss", lambda: (wave((6,)), wave((6,), phase=1.0), _SIGNS),
         lambda F, a, b, y: F.margin_ranking_loss(a, b, y, margin=0.3), kwargs={"margin": 0.3}),
    Case("hinge_embedding_loss/sum", "hinge_embedding_loss", lambda: (wave((6,), offset=0.5), _SIGNS),
         lambda F, x, y: F.hinge_embedding_loss(x, y, reduction="sum"), kwargs={"reduction": "sum"}),
    Case("cosine_embedding_loss/margin=0.2", "cosine_embedding_loss", lambda: (_A(), _P(), _SIGNS),
         lambda F, a, b, y: F.cosine_embedding_loss(a, b, y, margin=0.2), kwargs={"margin": 0.2}),
    Case("triplet_margin_loss/swap", "triplet_margin_loss", lambda: (_A(), _P(), _N()),
         lambda F, a, p, n: F.triplet_margin_loss(a, p, n, swap=True), kwargs={"swap": True}),
    Case("triplet_margin_loss/p=inf/eps=0/none", "triplet_margin_loss", lambda: (_A(), _A(), _N()),
         lambda F, a, p, n: F.triplet_margin_loss(a, p, n, p=math.inf, eps=0.0, reduction="none"),
         kwargs={"p": math.inf, "eps": 0.0, "reduction": "none"}),
    Case("triplet_margin_with_distance_loss", "triplet_margin_with_distance_loss", lambda: (_A(), _P(), _N()),
         lambda F, a, p, n: F.triplet_margin_with_distance_loss(a, p, n, margin=0.5), kwargs={"margin": 0.5}),
    Case("contrastive_loss", "contrastive_loss", _batch, _reference("torch_contrastive")),
    Case("contrastive_loss/cosine", "contrastive_loss", _batch,
         lambda F, e, y: _reference("torch_contrastive")(F, e, y, distance="cosine", pos_margin=0.8, neg_margin=0.2),
         kwargs={"distance": "cosine", "pos_margin": 0.8, "neg_margin": 0.2}),
    Case("ntxent_loss", "ntxent_loss", _batch, _reference("torch_ntxent")),
    Case("ntxent_loss/t=0.5/none", "ntxent_loss", _batch,
         lambda F, e, y: _reference("torch_ntxent")(F, e, y, temperature=0.5, reduction="none"),
         kwargs={"temperature": 0.5, "reduction": "none"}),
    Case("supervised_contrastive_loss", "supervised_contrastive_loss", _batch, _reference("torch_supcon")),
]
