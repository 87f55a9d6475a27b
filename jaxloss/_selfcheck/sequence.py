"""Self-check cases for the sequence losses (CTC).

torch's CTC backward returns the gradient with respect to ``log_probs`` plus ``exp(log_probs)`` on
each sample's frames (it assumes a ``log_softmax`` before it); jaxloss returns the true gradient.
The torch side of each case subtracts that term (a zero-valued correction whose gradient is
``-exp(log_probs)``), so that the stored gradient is the true one.
"""

from typing import Any

import numpy as np

from jaxloss._selfcheck import Case, labels, wave


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    return (x - np.log(np.exp(x).sum(axis=-1, keepdims=True))).astype(np.float32)


def _batch(n: int, t: int, c: int, s: int, blank: int = 0) -> tuple[np.ndarray, ...]:
    log_probs = _log_softmax(wave((n, t, c), scale=2.0))
    targets = labels((n, s), c - 1, step=2)
    targets = (targets + (targets >= blank)).astype(np.int32)  # never the blank
    targets[0, 1] = targets[0, 0]  # a repeated label
    input_lengths = np.array([t - i % 3 for i in range(n)], np.int32)
    target_lengths = np.array([s - i % (s + 1) for i in range(n)], np.int32)
    return log_probs, targets, input_lengths, target_lengths


def _torch_ctc(F: Any, log_probs: Any, targets: Any, input_lengths: Any, target_lengths: Any, **kwargs: Any) -> Any:
    """torch's ctc_loss on batch-major log-probabilities, with the true gradient (see above)."""
    torch = F.torch
    value = F.ctc_loss(log_probs.transpose(0, 1), targets, input_lengths, target_lengths, **kwargs)
    per_sample = F.ctc_loss(log_probs.detach().transpose(0, 1), targets, input_lengths, target_lengths, reduction="none")
    frames = (torch.arange(log_probs.shape[1])[None, :] < input_lengths[:, None])[..., None]
    extra = (log_probs.exp() * frames).sum(dim=(1, 2)) * torch.isfinite(per_sample)
    extra = extra - extra.detach()  # value 0, gradient exp(log_probs) on the frames
    reduction = kwargs.get("reduction", "mean")
    if reduction == "none":
        return value - extra
    if reduction == "sum":
        return value - extra.sum()
    return value - (extra / target_lengths.clamp(min=1)).mean()


def _impossible() -> tuple[np.ndarray, ...]:
    log_probs, targets, input_lengths, target_lengths = _batch(3, 5, 4, 4)
    input_lengths[1], target_lengths[1] = 2, 4
    return log_probs, targets, input_lengths, target_lengths


CASES = [
    Case("ctc_loss/none", "ctc_loss", lambda: _batch(4, 9, 5, 3),
         lambda F, *a: _torch_ctc(F, *a, reduction="none"), kwargs={"reduction": "none"}),
    Case("ctc_loss/mean", "ctc_loss", lambda: _batch(4, 9, 5, 3), lambda F, *a: _torch_ctc(F, *a)),
    Case("ctc_loss/blank=2/sum", "ctc_loss", lambda: _batch(3, 12, 6, 4, blank=2),
         lambda F, *a: _torch_ctc(F, *a, blank=2, reduction="sum"), kwargs={"blank": 2, "reduction": "sum"}),
    Case("ctc_loss/zero_infinity", "ctc_loss", _impossible,
         lambda F, *a: _torch_ctc(F, *a, zero_infinity=True, reduction="none"),
         kwargs={"zero_infinity": True, "reduction": "none"}),
    Case("ctc_loss/long", "ctc_loss", lambda: _batch(2, 120, 8, 30),
         lambda F, *a: _torch_ctc(F, *a, reduction="none"), kwargs={"reduction": "none"}),
]
