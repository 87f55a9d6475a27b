"""Detection losses: sigmoid focal loss (vs optax and torchvision's formula in torch) and the
complete-IoU box loss (vs torchvision's formula in torch), forward and value + gradient w.r.t. the
predictions. The small focal row ((64, 10), value + gradient) is timed over many calls per sample."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax
import torch
import torch.nn.functional as F

import jaxloss as jl
from benchmarks._harness import KINDS, BenchCase, pair


def _torch_focal(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """torchvision's ``sigmoid_focal_loss`` (alpha=0.25, gamma=2), mean."""
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    return ((0.25 * y + 0.75 * (1 - y)) * ce * (1 - p_t) ** 2).mean()


def _torch_ciou(b1: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
    """torchvision's ``complete_box_iou_loss``, mean."""
    x1, y1, x2, y2 = b1.unbind(-1)
    x1g, y1g, x2g, y2g = b2.unbind(-1)
    iw = (torch.min(x2, x2g) - torch.max(x1, x1g)).clamp(min=0)
    ih = (torch.min(y2, y2g) - torch.max(y1, y1g)).clamp(min=0)
    inter = iw * ih
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    iou = inter / (union + 1e-7)
    cw = torch.max(x2, x2g) - torch.min(x1, x1g)
    ch = torch.max(y2, y2g) - torch.min(y1, y1g)
    rho = ((x1 + x2 - x1g - x2g) / 2) ** 2 + ((y1 + y2 - y1g - y2g) / 2) ** 2
    v = (4 / torch.pi**2) * (torch.atan((x2g - x1g) / (y2g - y1g)) - torch.atan((x2 - x1) / (y2 - y1))) ** 2
    with torch.no_grad():
        alpha = v / (1 - iou + v + 1e-7)
    return (1 - iou + rho / (cw**2 + ch**2 + 1e-7) + alpha * v).mean()


def _focal_cases(shape: tuple[int, ...], kinds: tuple[str, ...] = KINDS, calls: int = 1) -> list[BenchCase]:
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal(shape).astype(np.float32) * 3
    y_np = (rng.uniform(size=shape) < 0.1).astype(np.float32)
    return pair(
        "sigmoid_focal_loss gamma=2 mean",
        str(shape),
        lambda a, b: jl.sigmoid_focal_loss(a, b, gamma=2.0, reduction="mean"),
        (jnp.asarray(x_np), jnp.asarray(y_np)),
        lambda a, b: jnp.mean(optax.sigmoid_focal_loss(a, b, alpha=0.25, gamma=2.0)),
        _torch_focal,
        (torch.from_numpy(x_np), torch.from_numpy(y_np)),
        kinds=kinds,
        calls=calls,
    )


def _box_cases(n: int) -> list[BenchCase]:
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 100, size=(2, n, 2)).astype(np.float32)
    wh = rng.uniform(1, 50, size=(2, n, 2)).astype(np.float32)
    b = np.concatenate([xy, xy + wh], axis=-1)
    return pair(
        "complete_box_iou_loss mean",
        f"({n}, 4)",
        lambda b1, b2: jl.complete_box_iou_loss(b1, b2, reduction="mean"),
        (jnp.asarray(b[0]), jnp.asarray(b[1])),
        None,
        _torch_ciou,
        (torch.from_numpy(b[0]), torch.from_numpy(b[1])),
    )


def cases(quick: bool) -> list[BenchCase]:
    small = _focal_cases((64, 10), ("value+grad",), 200)
    if quick:
        return small + _focal_cases((64, 64)) + _box_cases(256)
    return small + _focal_cases((4096, 4096)) + _box_cases(1 << 20)
