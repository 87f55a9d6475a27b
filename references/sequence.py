"""Registry entry for the sequence loss (CTC; reference: torch's F.ctc_loss, time-major, with the
true gradient)."""

import numpy as np
import torch
import torch.nn.functional as F

from references import Spec, normal, set_value

T, C, S = 6, 4, 3  # frames, classes (blank 0 included), padded target length


def _log_softmax(x):
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def _ctc(rng, batch, scale):
    """log_softmax'ed (N, T, C) log-probabilities, padded (N, S) labels in [1, C) (blank 0 never a
    label), target lengths in [0, S] and input lengths in [L + repeats, T]: always an alignment.

    The loss is per sequence of shape (T, C); a 2-D batch shape is flattened into N (hence
    unreduced="other": "none" gives (prod(batch),), not batch).
    """
    n = int(np.prod(batch))
    log_probs = _log_softmax(normal(rng, (n, T, C), scale))
    targets = rng.integers(1, C, (n, S))  # few classes: repeated labels are common
    target_lengths = rng.integers(0, S + 1, n)
    used = np.arange(S) < target_lengths[:, None]
    repeats = np.sum(used[:, 1:] & (targets[:, 1:] == targets[:, :-1]), axis=1)
    input_lengths = rng.integers(target_lengths + repeats, T + 1)  # a repeat needs a blank between
    input_lengths[0] = T  # sample 0 sees every frame (the NaN property poisons frame 0)
    targets = np.where(used, targets, rng.integers(-5, 2 * C, (n, S)))  # padding is ignored, any value
    return (log_probs, targets.astype(np.int64), input_lengths.astype(np.int64), target_lengths.astype(np.int64)), {}


def torch_ctc(log_probs, targets, input_lengths, target_lengths, reduction):
    """torch's ``F.ctc_loss`` on batch-major ``log_probs`` (transposed to its time-major layout), with
    the true gradient.

    torch's CTC backward returns the gradient with respect to ``log_probs`` plus ``exp(log_probs)``
    on each sample's frames (it assumes a ``log_softmax`` before it); jaxloss returns the true
    gradient. A term of value 0 and gradient ``-exp(log_probs)`` on the frames of the samples whose
    loss is finite is subtracted, so that autograd through this reference gives the true gradient;
    the value is torch's, unchanged.
    """
    targets = targets.clamp(0, C - 1)  # padding is ignored by both; torch wants labels in range
    value = F.ctc_loss(log_probs.transpose(0, 1), targets, input_lengths, target_lengths, reduction=reduction)
    per_sample = F.ctc_loss(log_probs.detach().transpose(0, 1), targets, input_lengths, target_lengths, reduction="none")
    frames = (torch.arange(log_probs.shape[1])[None, :] < input_lengths[:, None])[..., None]
    extra = (log_probs.exp() * frames).sum(dim=(1, 2)) * torch.isfinite(per_sample)
    extra = extra - extra.detach()  # value 0, gradient exp(log_probs) on the frames
    if reduction == "none":
        return value - extra
    if reduction == "sum":
        return value - extra.sum()
    return value - (extra / target_lengths.clamp(min=1)).mean()


SPECS = [
    # mean_is_average=False: "mean" divides each loss by its target length (clamped to 1) first, as torch.
    # max_scale: _NEG = -1e30 stands for log(0), so an alignment whose log-probability sums below
    # -5e29 counts as impossible (inf); logits of scale 1e15 stay far from that.
    Spec("ctc_loss", _ctc, torch_ctc, unreduced="other", mean_is_average=False, max_scale=1e15),
]


# One value only a run-time check rejects (see references/classification.py): a frame count beyond T.
INVALID = {"ctc_loss": lambda args, kwargs: (set_value(args, 2, T + 5), kwargs)}
