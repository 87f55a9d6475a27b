"""Segmentation benchmarks: Dice and Lovasz-softmax (value and gradient) against optax and torch.

The torch contenders are smp's formulas written in torch, on torch's layout ``(N, C, H, W)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
import torch.nn.functional as F

import jaxloss as jl
from benchmarks._harness import BenchCase, temp_bytes_of


def _binary_dice_case(shape: tuple[int, ...]) -> BenchCase:
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal(shape).astype(np.float32) * 2
    y_np = (rng.uniform(size=shape) < 0.3).astype(np.float32)
    x, y = jnp.asarray(x_np), jnp.asarray(y_np)
    ours = jax.jit(jax.value_and_grad(lambda a, b: jl.dice_loss(a, b, mode="binary")))
    theirs = jax.jit(jax.value_and_grad(lambda a, b: jnp.mean(optax.losses.binary_dice_loss(a, b))))
    tx, ty = torch.from_numpy(x_np).requires_grad_(True), torch.from_numpy(y_np)

    def torch_step() -> None:
        p = torch.sigmoid(tx)
        loss = 1 - 2 * (p * ty).sum() / (p.sum() + ty.sum()).clamp_min(1e-7)
        torch.autograd.grad(loss, [tx])

    return BenchCase(f"dice_loss binary {shape} value+grad", lambda: ours(x, y), lambda: theirs(x, y), torch_step,
                     lambda: temp_bytes_of(ours, x, y))


def _multiclass_inputs(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.standard_normal(shape).astype(np.float32) * 2, rng.integers(0, shape[-1], shape[:-1]).astype(np.int32)


def _dice_case(shape: tuple[int, ...]) -> BenchCase:
    x_np, y_np = _multiclass_inputs(shape)
    x, y = jnp.asarray(x_np), jnp.asarray(y_np)
    num_classes = shape[-1]
    ours = jax.jit(jax.value_and_grad(lambda a, b: jl.dice_loss(a, b, mode="multiclass")))
    # optax's dice is per image; it takes one-hot targets
    theirs = jax.jit(jax.value_and_grad(
        lambda a, b: jnp.mean(optax.losses.dice_loss(a, jax.nn.one_hot(b, num_classes), smooth=0.0))))
    tx = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x_np, -1, 1))).requires_grad_(True)
    ty = torch.from_numpy(y_np.astype(np.int64))

    def torch_step() -> None:
        p = tx.softmax(dim=1).flatten(2)  # (N, C, P)
        t = F.one_hot(ty.flatten(1), num_classes).permute(0, 2, 1).type_as(p)
        inter, card = (p * t).sum((0, 2)), (p + t).sum((0, 2))
        loss = ((1 - 2 * inter / card.clamp_min(1e-7)) * (t.sum((0, 2)) > 0)).mean()
        torch.autograd.grad(loss, [tx])

    return BenchCase(f"dice_loss multiclass {shape} value+grad", lambda: ours(x, y), lambda: theirs(x, y), torch_step,
                     lambda: temp_bytes_of(ours, x, y))


def _lovasz_case(shape: tuple[int, ...]) -> BenchCase:
    x_np, y_np = _multiclass_inputs(shape)
    x, y = jnp.asarray(x_np), jnp.asarray(y_np)
    ours = jax.jit(jax.value_and_grad(lambda a, b: jl.lovasz_softmax_loss(a, b)))
    tx = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x_np, -1, 1))).requires_grad_(True)
    ty = torch.from_numpy(y_np.astype(np.int64))

    def torch_step() -> None:  # smp's lovasz_softmax_flat, classes="present"
        probs = tx.softmax(dim=1).movedim(1, -1).reshape(-1, shape[-1])
        labels = ty.reshape(-1)
        losses = []
        for c in range(shape[-1]):
            fg = (labels == c).type_as(probs)
            if fg.sum() == 0:
                continue
            errors_sorted, perm = torch.sort((fg - probs[:, c]).abs(), 0, descending=True)
            gt = fg[perm]
            gts = gt.sum()
            jaccard = 1 - (gts - gt.cumsum(0)) / (gts + (1 - gt).cumsum(0))
            weights = torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])
            losses.append(torch.dot(errors_sorted, weights))
        torch.autograd.grad(torch.stack(losses).mean(), [tx])

    return BenchCase(f"lovasz_softmax_loss {shape} value+grad", lambda: ours(x, y), None, torch_step,
                     lambda: temp_bytes_of(ours, x, y))


def cases(quick: bool) -> list[BenchCase]:
    if quick:
        return [_binary_dice_case((2, 16, 16, 1)), _dice_case((2, 16, 16, 5)), _lovasz_case((2, 16, 16, 5))]
    return [_binary_dice_case((16, 512, 512, 1)), _dice_case((8, 512, 512, 21)), _lovasz_case((8, 512, 512, 21))]
