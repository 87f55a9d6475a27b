"""Self-check cases for the classification losses."""

import numpy as np

from jaxloss._selfcheck import Case, labels, wave

_C = 5
_X = lambda: wave((6, _C), scale=3.0)  # noqa: E731
_Y = lambda: labels((6,), _C)  # noqa: E731
_W = wave((_C,), phase=2.0, scale=0.4, offset=1.0)


def _ignored() -> np.ndarray:
    y = _Y().copy()
    y[2] = -100
    return y


def _probs() -> np.ndarray:
    e = np.exp(wave((6, _C), phase=1.0))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def _unit(shape: tuple[int, ...], phase: float) -> np.ndarray:
    return (0.5 + 0.45 * wave(shape, phase=phase)).astype(np.float32)  # in [0.05, 0.95]


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(-1, keepdims=True)
    return (x - np.log(np.exp(x).sum(-1, keepdims=True))).astype(np.float32)


CASES = [
    Case("cross_entropy", "cross_entropy", lambda: (_X(), _Y()), lambda F, x, y: F.cross_entropy(x, y)),
    Case("cross_entropy/weight+ignore+smoothing", "cross_entropy", lambda: (_X(), _ignored()),
         lambda F, x, y: F.cross_entropy(x, y, F.torch.tensor(_W), label_smoothing=0.2),
         kwargs={"weight": _W, "label_smoothing": 0.2}),
    Case("cross_entropy/probabilities", "cross_entropy", lambda: (_X(), _probs()),
         lambda F, x, t: F.cross_entropy(x, t, label_smoothing=0.1), kwargs={"label_smoothing": 0.1}),
    Case("cross_entropy/axis=1", "cross_entropy", lambda: (wave((2, _C, 3), scale=2.0), labels((2, 3), _C)),
         lambda F, x, y: F.cross_entropy(x, y, reduction="none"), kwargs={"axis": 1, "reduction": "none"}),
    Case("nll_loss/weight", "nll_loss", lambda: (_log_softmax(_X()), _ignored()),
         lambda F, x, y: F.nll_loss(x, y, F.torch.tensor(_W)), kwargs={"weight": _W}),
    Case("binary_cross_entropy", "binary_cross_entropy", lambda: (_unit((4, 5), 0.0), _unit((4, 5), 1.0)),
         lambda F, x, y: F.binary_cross_entropy(x, y)),
    Case("binary_cross_entropy_with_logits/pos_weight", "binary_cross_entropy_with_logits",
         lambda: (wave((4, 5), scale=4.0), _unit((4, 5), 1.0)),
         lambda F, x, y: F.binary_cross_entropy_with_logits(x, y, pos_weight=F.torch.tensor(_W)),
         kwargs={"pos_weight": _W}),
    Case("kl_div/batchmean", "kl_div", lambda: (_log_softmax(_X()), _probs()),
         lambda F, x, t: F.kl_div(x, t, reduction="batchmean"), kwargs={"reduction": "batchmean"}),
    Case("multi_margin_loss/p=2", "multi_margin_loss", lambda: (_X(), _Y()),
         lambda F, x, y: F.multi_margin_loss(x, y, p=2, margin=0.5), kwargs={"p": 2, "margin": 0.5}),
    Case("multilabel_margin_loss", "multilabel_margin_loss",
         lambda: (_X(), np.array([[1, 3, -1, 0, 2]] * 3 + [[4, 4, 0, 1, 2]] * 3, np.int32)),
         lambda F, x, y: F.multilabel_margin_loss(x, y)),
    Case("soft_margin_loss", "soft_margin_loss", lambda: (_X(), np.sign(wave((6, _C), phase=0.3)).astype(np.float32)),
         lambda F, x, y: F.soft_margin_loss(x, y)),
    Case("multilabel_soft_margin_loss/weight", "multilabel_soft_margin_loss", lambda: (_X(), _unit((6, _C), 2.0)),
         lambda F, x, y: F.multilabel_soft_margin_loss(x, y, F.torch.tensor(_W)), kwargs={"weight": _W}),
    Case("softmax_focal_loss/gamma=2", "softmax_focal_loss", lambda: (_X(), _Y()),
         lambda F, x, y: (-(1 - F.torch.softmax(x, -1)) ** 2 * F.torch.log_softmax(x, -1)).gather(1, y[:, None]).mean(),
         kwargs={"gamma": 2.0}),
    Case("poly1_cross_entropy", "poly1_cross_entropy", lambda: (_X(), _Y()),
         lambda F, x, y: (F.cross_entropy(x, y, reduction="none")
                          + 1 - F.torch.softmax(x, -1).gather(1, y[:, None])[:, 0]).mean()),
    Case("zero_one_loss", "zero_one_loss", lambda: (_X(), _Y()),
         lambda F, x, y: (x.argmax(-1) != y).float().mean(), grad=None),
]
