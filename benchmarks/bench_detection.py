"""Detection benchmarks: sigmoid focal loss (value and gradient) against optax and torch."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch

import jaxloss as jl
from benchmarks._harness import BenchCase, temp_bytes_of


def _focal_case(shape: tuple[int, ...]) -> BenchCase:
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal(shape).astype(np.float32) * 3
    y_np = (rng.uniform(size=shape) < 0.1).astype(np.float32)
    x, y = jnp.asarray(x_np), jnp.asarray(y_np)

    ours = jax.jit(jax.value_and_grad(lambda a, b: jl.sigmoid_focal_loss(a, b, gamma=2.0, reduction="mean")))
    theirs = jax.jit(jax.value_and_grad(lambda a, b: jnp.mean(optax.sigmoid_focal_loss(a, b, alpha=0.25, gamma=2.0))))
    tx, ty = torch.from_numpy(x_np).requires_grad_(True), torch.from_numpy(y_np)

    def torch_step() -> None:
        # torchvision's formula, in torch
        p = torch.sigmoid(tx)
        ce = torch.nn.functional.binary_cross_entropy_with_logits(tx, ty, reduction="none")
        p_t = p * ty + (1 - p) * (1 - ty)
        loss = (0.25 * ty + 0.75 * (1 - ty)) * ce * (1 - p_t) ** 2
        (g,) = torch.autograd.grad(loss.mean(), [tx])

    return BenchCase(
        name=f"sigmoid_focal_loss gamma=2 mean {shape} value+grad",
        jaxloss=lambda: ours(x, y),
        optax=lambda: theirs(x, y),
        torch=torch_step,
        temp_bytes=lambda: temp_bytes_of(ours, x, y),
    )


def _box_case(n: int) -> BenchCase:
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 100, size=(2, n, 2)).astype(np.float32)
    wh = rng.uniform(1, 50, size=(2, n, 2)).astype(np.float32)
    b = np.concatenate([xy, xy + wh], axis=-1)
    b1, b2 = jnp.asarray(b[0]), jnp.asarray(b[1])
    ours = jax.jit(jax.value_and_grad(lambda a, c: jl.complete_box_iou_loss(a, c, reduction="mean")))
    t1, t2 = torch.from_numpy(b[0]).requires_grad_(True), torch.from_numpy(b[1])

    def torch_step() -> None:
        x1, y1, x2, y2 = t1.unbind(-1)
        x1g, y1g, x2g, y2g = t2.unbind(-1)
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
        loss = (1 - iou + rho / (cw**2 + ch**2 + 1e-7) + alpha * v).mean()
        torch.autograd.grad(loss, [t1])

    return BenchCase(
        name=f"complete_box_iou_loss mean ({n}, 4) value+grad",
        jaxloss=lambda: ours(b1, b2),
        torch=torch_step,
        temp_bytes=lambda: temp_bytes_of(ours, b1, b2),
    )


def cases(quick: bool) -> list[BenchCase]:
    if quick:
        return [_focal_case((64, 64)), _box_case(256)]
    return [_focal_case((4096, 4096)), _box_case(1 << 20)]
