"""Registry entries for the mixture-of-experts router losses, with their references in torch.

``tests/test_robust_and_router.py`` checks these references against transformers' functions (where
transformers has the loss) and against hand computations."""

import numpy as np
import torch

from references import Spec, normal, torch_reduce

E, T = 5, 3  # experts; tokens per sequence


def top_k_indicator(logits: torch.Tensor, top_k: int) -> torch.Tensor:
    """1 at the ``top_k`` largest logits of each row, 0 elsewhere."""
    return torch.zeros_like(logits).scatter(-1, logits.topk(top_k, dim=-1).indices, 1.0)


def load_balancing(logits, reduction, top_k):
    """Switch/GShard: the per-token terms E * sum_e f_e p_{t,e}, f the fraction of top-k choices."""
    p = logits.softmax(-1)
    tokens = p.shape[:-1].numel()
    fraction = top_k_indicator(logits, top_k).reshape(-1, logits.shape[-1]).sum(0) / tokens
    return torch_reduce(logits.shape[-1] * (p * fraction).sum(-1), reduction)


def router_z(logits, reduction):
    return torch_reduce(logits.logsumexp(-1).square(), reduction)


def sequence_balance(logits, reduction, top_k, affinity="sigmoid", token_mask=None):
    """DeepSeek-V3 (arXiv:2412.19437), section 2.1.2, eqs. 17-20, per sequence of ``(..., T, E)``:
    f_i = N_r / (K_r T) sum_t 1[s_{i,t} in Topk(s_t, K_r)], s' = s / sum_j s_j, P_i = mean_t s'_{i,t},
    L = sum_i f_i P_i; padding tokens (``token_mask`` False) are left out of the sums and of T."""
    s = logits.sigmoid() if affinity == "sigmoid" else logits.softmax(-1)
    s = s / s.sum(-1, keepdim=True)
    m = torch.ones(logits.shape[:-1], dtype=logits.dtype) if token_mask is None else token_mask.to(logits.dtype)
    n = m.sum(-1, keepdim=True)
    experts = logits.shape[-1]
    f = experts / (top_k * n) * (m[..., None] * top_k_indicator(logits, top_k)).sum(-2)
    p = (m[..., None] * s).sum(-2) / n
    return torch_reduce((f * p).sum(-1), reduction)


def _scalar_logits(args):
    return [np.zeros((), np.float32)], r"`router_logits` has shape \(\)"


SPECS = [
    # vmap=False, where=False: f pools every token of the call, so a token mask (or vmapping) changes
    # the other tokens' terms; masked tokens are still inert (the masked-entries property holds)
    Spec("load_balancing_loss", lambda rng, b, s: ((normal(rng, (*b, E), s),), {"top_k": 2}), load_balancing,
         unreduced="batch", vmap=False, where=False, bad_shape=_scalar_logits),
    Spec("router_z_loss", lambda rng, b, s: ((normal(rng, (*b, E), s),), {}), router_z, unreduced="batch",
         bad_shape=_scalar_logits),
    Spec("sequence_balance_loss", lambda rng, b, s: ((normal(rng, (*b, T, E), s),), {"top_k": 2}), sequence_balance,
         unreduced="batch", bad_shape=_scalar_logits),
]
