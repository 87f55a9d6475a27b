"""Self-check cases for the regression losses."""

import numpy as np

from jaxloss._selfcheck import Case, wave

_X = lambda: wave((4, 5))  # noqa: E731
_Y = lambda: wave((4, 5), phase=1.0, scale=1.5)  # noqa: E731
_W = wave((4, 5), phase=2.0, scale=0.4, offset=1.0)


def _pair() -> tuple[np.ndarray, ...]:
    return _X(), _Y()


CASES = [
    Case("l1_loss", "l1_loss", _pair, lambda F, x, y: F.l1_loss(x, y)),
    Case("l1_loss/weight", "l1_loss", _pair, lambda F, x, y: F.l1_loss(x, y, weight=F.torch.tensor(_W)),
         kwargs={"weight": _W}),
    Case("mse_loss/sum", "mse_loss", _pair, lambda F, x, y: F.mse_loss(x, y, reduction="sum"),
         kwargs={"reduction": "sum"}),
    Case("huber_loss/delta=0.5/weight", "huber_loss", _pair,
         lambda F, x, y: F.huber_loss(x, y, delta=0.5, weight=F.torch.tensor(_W)),
         kwargs={"delta": 0.5, "weight": _W}),
    Case("smooth_l1_loss/beta=0.7", "smooth_l1_loss", _pair, lambda F, x, y: F.smooth_l1_loss(x, y, beta=0.7),
         kwargs={"beta": 0.7}),
    Case("poisson_nll_loss/full", "poisson_nll_loss", lambda: (_X(), 2.0 + _Y()),
         lambda F, x, y: F.poisson_nll_loss(x, y, full=True), kwargs={"full": True}),
    Case("gaussian_nll_loss/row_var", "gaussian_nll_loss",
         lambda: (_X(), _Y(), 0.5 + wave((4,), phase=3.0, scale=0.3)),
         lambda F, x, y, v: F.gaussian_nll_loss(x, y, v, full=True), kwargs={"full": True}),
    Case("log_cosh_loss", "log_cosh_loss", lambda: (3 * _X(), _Y()),
         lambda F, x, y: F.torch.log(F.torch.cosh(x - y)).mean()),
    Case("quantile_loss/vector", "quantile_loss", lambda: (wave((6, 3)), wave((6,), phase=0.5)),
         lambda F, x, y: F.torch.maximum(
             F.torch.tensor([0.1, 0.5, 0.9]) * (y[:, None] - x), (F.torch.tensor([0.1, 0.5, 0.9]) - 1) * (y[:, None] - x)
         ).mean(),
         kwargs={"quantile": np.array([0.1, 0.5, 0.9], np.float32)}),
]
