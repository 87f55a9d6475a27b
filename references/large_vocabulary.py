"""Registry entry for linear_cross_entropy (reference: torch's cross_entropy of the materialised logits)."""

import jax.numpy as jnp
import numpy as np
import torch.nn.functional as F

from references import Spec, normal, set_value

D, V = 4, 6


def _tokens(rng, batch, scale):
    x = normal(rng, (*batch, D), scale)
    w = normal(rng, (D, V))
    target = rng.integers(0, V, batch).astype(np.int64)
    return (x, w, target), {"chunk_size": 4, "label_smoothing": 0.1}  # a tail chunk (6 = 4 + 2)


def _reference(x, w, target, reduction, chunk_size, label_smoothing):
    logits = (x @ w).reshape(-1, V)
    out = F.cross_entropy(logits, target.reshape(-1), reduction=reduction, label_smoothing=label_smoothing)
    return out.reshape(target.shape) if reduction == "none" else out


def _wrong_hidden_size(args):
    x = args[0]
    return [jnp.zeros((*x.shape[:-1], D + 1), x.dtype), *args[1:]], r"`w` has shape \(4, \d+\), expected \(D, V\) with D = 5, the last axis of `x` \(3, 2, 5\)"


SPECS = [
    # vmap=False: the harness vmaps every positional argument, and `w` is shared by all tokens (the
    # per-token vmap property is tested with `w` closed over in tests/test_large_vocabulary.py).
    # grad_order=2: the custom VJP's backward pass is differentiable (second derivatives are checked).
    Spec("linear_cross_entropy", _tokens, _reference, unreduced="batch", vmap=False, grad_args=(0, 1),
         grad_order=2, max_scale=1e15, bad_shape=_wrong_hidden_size),
]


# One value only a run-time check rejects (see references/classification.py): a class beyond V.
INVALID = {"linear_cross_entropy": lambda args, kwargs: (set_value(args, 2, args[1].shape[1] + 2), kwargs)}
