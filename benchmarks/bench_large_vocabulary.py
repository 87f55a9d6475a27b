"""Large-vocabulary cross-entropy: the chunked ``linear_cross_entropy(x, w, t)`` against the
materialised ``cross_entropy(x @ w, t)`` (jaxloss), optax's
``softmax_cross_entropy_with_integer_labels(x @ w, t)`` and torch's ``F.cross_entropy(x @ w, t)``;
value + gradient rows are w.r.t. both ``x`` and ``w``.

Per size, the jaxloss column of the rows is: ``chunked`` (``linear_cross_entropy``, gradients
recomputed chunk by chunk in the backward pass), ``grad_in_forward`` (``linear_cross_entropy(...,
grad_in_forward=True)``, Liger's scheme; value + gradient only) and ``materialised``
(``cross_entropy(x @ w)``). optax and torch are the same materialised steps in every row, so the
ratio of two rows' jaxloss times is the ratio of their ``jaxloss/optax`` columns; the temp column is
the compiled scratch memory of that row's jaxloss step. Every call takes seconds at full size, so the
rows are timed with 3 repeats, and the largest vocabulary is timed forward only.

:func:`memory_table` compares the compiled scratch memory of the value + gradient steps (compiled
only, nothing allocated) up to a 131072-word vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
import torch.nn.functional as F

import jaxloss as jl
from benchmarks._harness import BenchCase, pair, temp_bytes_of

Loss = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]


def _chunked(x: jax.Array, w: jax.Array, t: jax.Array) -> jax.Array:
    return jl.linear_cross_entropy(x, w, t)


def _grad_in_forward(x: jax.Array, w: jax.Array, t: jax.Array) -> jax.Array:
    return jl.linear_cross_entropy(x, w, t, grad_in_forward=True)


def _materialised(x: jax.Array, w: jax.Array, t: jax.Array) -> jax.Array:
    return jl.cross_entropy(x @ w, t)


def _optax(x: jax.Array, w: jax.Array, t: jax.Array) -> jax.Array:
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(x @ w, t))


def _torch(x: torch.Tensor, w: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(x @ w, t)


VARIANTS: dict[str, Loss] = {
    "linear_cross_entropy chunked": _chunked,
    "linear_cross_entropy grad_in_forward": _grad_in_forward,
    "cross_entropy(x @ w) materialised": _materialised,
}
FORWARD_VARIANTS = ("linear_cross_entropy chunked", "cross_entropy(x @ w) materialised")


def _cases(n: int, d: int, v: int, value_and_grad: bool) -> list[BenchCase]:
    """Forward rows of the chunked and materialised steps, then (if asked) value + gradient rows of all three."""
    rng = np.random.default_rng(0)
    x_np = (rng.standard_normal((n, d)) / np.sqrt(d)).astype(np.float32)
    w_np = rng.standard_normal((d, v)).astype(np.float32)
    t_np = rng.integers(0, v, n)
    args = (jnp.asarray(x_np), jnp.asarray(w_np), jnp.asarray(t_np, jnp.int32))
    torch_args = (torch.from_numpy(x_np), torch.from_numpy(w_np), torch.from_numpy(t_np))
    size = f"N={n} D={d} V={v}"

    def rows(name: str, kind: str) -> list[BenchCase]:
        return pair(name, size, VARIANTS[name], args, _optax, _torch, torch_args, grad_argnums=(0, 1), repeats=3,
                    kinds=(kind,))

    out = [case for name in FORWARD_VARIANTS for case in rows(name, "forward")]
    if value_and_grad:
        out += [case for name in VARIANTS for case in rows(name, "value+grad")]
    return out


def cases(quick: bool) -> list[BenchCase]:
    if quick:
        return _cases(64, 16, 512, value_and_grad=True) + _cases(64, 16, 2048, value_and_grad=False)
    return _cases(4096, 512, 8192, value_and_grad=True) + _cases(4096, 512, 32768, value_and_grad=False)


def memory_table(quick: bool) -> str:
    """Markdown table of the compiled temporary memory of the value + gradient (w.r.t. ``x`` and
    ``w``) of the chunked and the materialised step, from ``jax.ShapeDtypeStruct`` arguments."""
    n, d, vocabularies = (64, 16, (512, 2048)) if quick else (8192, 1024, (8192, 32768, 131072))
    mib = 2.0**20
    lines = [
        f"compiled temporary memory, value+grad(x, w): `linear_cross_entropy` (chunked) vs `cross_entropy(x @ w)` "
        f"(materialised), float32, N={n} D={d}",
        "",
        "| V | logits MiB | chunked temp MiB | materialised temp MiB | materialised/chunked |",
        "|---|---|---|---|---|",
    ]
    for v in vocabularies:
        shapes = (
            jax.ShapeDtypeStruct((n, d), jnp.float32),
            jax.ShapeDtypeStruct((d, v), jnp.float32),
            jax.ShapeDtypeStruct((n,), jnp.int32),
        )
        chunked, materialised = (
            temp_bytes_of(jax.jit(jax.value_and_grad(fn, argnums=(0, 1))), *shapes) for fn in (_chunked, _materialised)
        )
        lines.append(
            f"| {v} | {n * v * 4 / mib:.1f} | {chunked / mib:.1f} | {materialised / mib:.1f} "
            f"| {materialised / max(chunked, 1):.1f} |"
        )
    return "\n".join(lines)
