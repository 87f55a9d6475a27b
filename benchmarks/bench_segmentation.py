"""Segmentation losses: Dice (binary, multiclass) and Lovasz-softmax, forward and value + gradient
w.r.t. the logits, against optax (Dice) and torch.

The torch contenders are smp's formulas written in torch, on torch's layout ``(N, C, H, W)``.
Lovasz-softmax at full size is slow (tens of seconds a call), so it is timed with 3 repeats. The
small Dice rows ((4, 32, 32, 1) binary, (4, 32, 32, 4) multiclass; value + gradient) are timed over
many calls per sample.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
import torch.nn.functional as F

import jaxloss as jl
from benchmarks._harness import KINDS, BenchCase, pair


def _torch_binary_dice(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(x)
    return 1 - 2 * (p * y).sum() / (p.sum() + y.sum()).clamp_min(1e-7)


def _torch_dice(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """smp's multiclass Dice: ``x`` is (N, C, H, W) logits, ``y`` (N, H, W) class indices."""
    p = x.softmax(dim=1).flatten(2)  # (N, C, P)
    t = F.one_hot(y.flatten(1), x.shape[1]).permute(0, 2, 1).type_as(p)
    inter, card = (p * t).sum((0, 2)), (p + t).sum((0, 2))
    return ((1 - 2 * inter / card.clamp_min(1e-7)) * (t.sum((0, 2)) > 0)).mean()


def _torch_lovasz(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """smp's ``lovasz_softmax_flat`` with ``classes="present"``, on (N, C, H, W) logits."""
    num_classes = x.shape[1]
    probs = x.softmax(dim=1).movedim(1, -1).reshape(-1, num_classes)
    labels = y.reshape(-1)
    losses = []
    for c in range(num_classes):
        fg = (labels == c).type_as(probs)
        if fg.sum() == 0:
            continue
        errors_sorted, perm = torch.sort((fg - probs[:, c]).abs(), 0, descending=True)
        gt = fg[perm]
        gts = gt.sum()
        jaccard = 1 - (gts - gt.cumsum(0)) / (gts + (1 - gt).cumsum(0))
        weights = torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])
        losses.append(torch.dot(errors_sorted, weights))
    return torch.stack(losses).mean()


def _binary_dice_cases(shape: tuple[int, ...], kinds: tuple[str, ...] = KINDS, calls: int = 1) -> list[BenchCase]:
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal(shape).astype(np.float32) * 2
    y_np = (rng.uniform(size=shape) < 0.3).astype(np.float32)
    return pair(
        "dice_loss binary",
        str(shape),
        lambda a, b: jl.dice_loss(a, b, mode="binary"),
        (jnp.asarray(x_np), jnp.asarray(y_np)),
        lambda a, b: jnp.mean(optax.losses.binary_dice_loss(a, b)),
        _torch_binary_dice,
        (torch.from_numpy(x_np), torch.from_numpy(y_np)),
        kinds=kinds,
        calls=calls,
    )


def _multiclass(shape: tuple[int, ...]) -> tuple[tuple[jax.Array, jax.Array], tuple[torch.Tensor, torch.Tensor]]:
    """Logits (channels last) and class indices, for jax and (channels first) for torch."""
    rng = np.random.default_rng(1)
    x_np = rng.standard_normal(shape).astype(np.float32) * 2
    y_np = rng.integers(0, shape[-1], shape[:-1]).astype(np.int32)
    jax_args = (jnp.asarray(x_np), jnp.asarray(y_np))
    torch_args = (torch.from_numpy(np.ascontiguousarray(np.moveaxis(x_np, -1, 1))), torch.from_numpy(y_np.astype(np.int64)))
    return jax_args, torch_args


def _dice_cases(shape: tuple[int, ...], kinds: tuple[str, ...] = KINDS, calls: int = 1) -> list[BenchCase]:
    args, torch_args = _multiclass(shape)
    num_classes = shape[-1]
    return pair(
        "dice_loss multiclass",
        str(shape),
        lambda a, b: jl.dice_loss(a, b, mode="multiclass"),
        args,
        # optax's dice is per image; it takes one-hot targets
        lambda a, b: jnp.mean(optax.losses.dice_loss(a, jax.nn.one_hot(b, num_classes), smooth=0.0)),
        _torch_dice,
        torch_args,
        kinds=kinds,
        calls=calls,
    )


def _lovasz_cases(shape: tuple[int, ...]) -> list[BenchCase]:
    args, torch_args = _multiclass(shape)
    return pair("lovasz_softmax_loss", str(shape), jl.lovasz_softmax_loss, args, None, _torch_lovasz, torch_args,
                repeats=3)


def cases(quick: bool) -> list[BenchCase]:
    small = _binary_dice_cases((4, 32, 32, 1), ("value+grad",), 100) + _dice_cases((4, 32, 32, 4), ("value+grad",), 100)
    if quick:
        return small + _binary_dice_cases((2, 16, 16, 1)) + _dice_cases((2, 16, 16, 5)) + _lovasz_cases((2, 16, 16, 5))
    return small + _binary_dice_cases((16, 512, 512, 1)) + _dice_cases((8, 512, 512, 21)) + _lovasz_cases((8, 512, 512, 21))
