"""Self-check cases for the large-vocabulary losses: chunked against torch's materialised logits."""

import numpy as np

from jaxloss._selfcheck import Case, labels, wave

_D, _V = 5, 23  # chunk_size=8 below: two chunks of 8 columns and a tail of 7
_B = wave((_V,), phase=2.0, scale=0.5)
_CW = wave((_V,), phase=3.0, scale=0.4, offset=1.0)


def _inputs() -> tuple[np.ndarray, ...]:
    target = labels((6,), _V, step=5)
    target[4] = -100
    return wave((6, _D)), wave((_D, _V), phase=1.0, scale=0.8), target


def _torch_capped(F, x, w, t, cap=3.0, **kw):  # type: ignore[no-untyped-def]
    z = x @ w + F.torch.tensor(_B)
    return F.cross_entropy(cap * F.torch.tanh(z / cap), t, **kw)


def _torch_z_loss(F, x, w, t, z=1e-2):  # type: ignore[no-untyped-def]
    logits = x @ w
    keep = t != -100
    per_token = F.cross_entropy(logits, t, reduction="none") + z * F.torch.logsumexp(logits, -1) ** 2 * keep
    return per_token.sum() / keep.sum()


CASES = [
    Case("linear_cross_entropy/grad_x", "linear_cross_entropy", _inputs,
         lambda F, x, w, t: F.cross_entropy(x @ w, t), kwargs={"chunk_size": 8}),
    Case("linear_cross_entropy/grad_w", "linear_cross_entropy", _inputs,
         lambda F, x, w, t: F.cross_entropy(x @ w, t, reduction="sum"), kwargs={"chunk_size": 8, "reduction": "sum"},
         grad=1),
    Case("linear_cross_entropy/bias_softcap_smoothing_weight", "linear_cross_entropy", _inputs,
         lambda F, x, w, t: _torch_capped(F, x, w, t, label_smoothing=0.2, weight=F.torch.tensor(_CW)),
         kwargs={"chunk_size": 8, "bias": _B, "softcap": 3.0, "label_smoothing": 0.2, "weight": _CW}, grad=1),
    Case("linear_cross_entropy/z_loss/default_chunks", "linear_cross_entropy", _inputs, _torch_z_loss,
         kwargs={"z_loss": 1e-2}),
    Case("linear_cross_entropy/none", "linear_cross_entropy", _inputs,
         lambda F, x, w, t: F.cross_entropy(x @ w, t, reduction="none"), kwargs={"chunk_size": 8, "reduction": "none"}),
]
