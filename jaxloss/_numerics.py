"""Numerically careful building blocks shared by the losses.

Each one exists because the obvious JAX expression has the wrong gradient somewhere (see
TORCH_SEMANTICS.md, "JAX-side pitfalls").
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


@jax.custom_jvp
def abs_(x: jax.Array) -> jax.Array:
    """``|x|`` whose derivative at 0 is 0, as torch's (``jax.grad(jnp.abs)(0.)`` is 1)."""
    return jnp.abs(x)


@abs_.defjvp
def _abs_jvp(primals: tuple[jax.Array], tangents: tuple[jax.Array]) -> tuple[jax.Array, jax.Array]:
    (x,), (dx,) = primals, tangents
    return jnp.abs(x), jnp.sign(x) * dx


def safe_where(condition: ArrayLike, x: ArrayLike, safe_value: ArrayLike) -> jax.Array:
    """``x`` where ``condition`` holds, else ``safe_value``: the first half of the double-where trick.

    Feed the result to a function that is NaN/inf (or has a NaN/inf derivative) at the excluded
    points, then select with ``jnp.where(condition, f(...), other)``: the excluded branch then
    contributes a zero gradient instead of NaN.
    """
    return jnp.where(condition, x, safe_value)


@jax.custom_jvp
def log_cosh(x: jax.Array) -> jax.Array:
    """``log(cosh(x))``, accurate for tiny ``|x|`` and without overflow for large ``|x|``.

    ``log1p(2 sinh(x/2)^2)`` near 0 (no cancellation: ``x^2/2`` for ``x = 1e-5``), and
    ``|x| + log1p(exp(-2|x|)) - log 2`` elsewhere (no overflow of ``cosh``). Derivative ``tanh(x)``.
    """
    a = jnp.abs(x)
    near = jnp.log1p(2 * jnp.square(jnp.sinh(0.5 * jnp.minimum(a, 1.0))))
    far = a + jnp.log1p(jnp.exp(-2 * a)) - jnp.log(2.0).astype(x.dtype)
    return jnp.where(a < 1, near, far)


@log_cosh.defjvp
def _log_cosh_jvp(primals: tuple[jax.Array], tangents: tuple[jax.Array]) -> tuple[jax.Array, jax.Array]:
    (x,), (dx,) = primals, tangents
    return log_cosh(x), jnp.tanh(x) * dx


def varying_like(a: jax.Array, *like: jax.Array) -> jax.Array:
    """``a`` typed as varying over every ``shard_map`` mesh axis that any of ``like`` varies over.

    Inside ``jax.shard_map`` each value records the mesh axes it varies over, and control flow and
    custom derivatives require exact types: a ``lax.cond`` whose branches differ, a ``scan``/
    ``fori_loop`` whose initial carry is a replicated constant while the step's result varies, or a
    replicated argument of a ``custom_vjp`` (class weights) whose cotangent comes back per device,
    are all type errors. Cast such a constant or replicated argument with ``varying_like(a, x)``
    (``x`` a per-device input) before that construct; JAX then also inserts the ``psum`` that the
    cotangent of a replicated argument needs. A no-op outside ``shard_map``.
    """

    def axes(v: jax.Array) -> frozenset[str]:
        manual = getattr(jax.typeof(v), "manual_axis_type", None)
        return frozenset() if manual is None else frozenset(manual.varying)

    missing = frozenset().union(*(axes(v) for v in like)) - axes(a)
    return jax.lax.pcast(a, tuple(sorted(missing)), to="varying") if missing else a


def drop_unit_minor_axis(*arrays: jax.Array) -> tuple[tuple[jax.Array, ...], tuple[int, ...] | None]:
    """``arrays`` without a trailing size-1 axis, when they all share one shape ``(..., 1)``.

    A speed measure, not a semantic one. XLA:CPU vectorises elementwise code along the minor
    (last) axis, so arrays shaped ``(N, 1)`` -- a model's single output column, a binary mask
    ``(N, H, W, 1)`` -- run transcendental-heavy fusions and reductions 5-30x slower than the same
    values shaped ``(N,)`` (measured on jax 0.10: ``binary_cross_entropy_with_logits`` on
    ``(4194304, 1)`` took 120-240 ms, on ``(4194304,)`` 5 ms). The reshape is a free bitcast; the
    ``optimization_barrier`` keeps XLA from moving it back past the elementwise code. On GPU/TPU it
    changes nothing measurable.

    Returns the reshaped arrays and the common shape to restore (``None``, with the arrays
    unchanged, unless every array has the same shape of rank >= 2 ending in 1).
    """
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        return arrays, None
    (shape,) = shapes
    if len(shape) < 2 or shape[-1] != 1:
        return arrays, None
    return tuple(jax.lax.optimization_barrier(tuple(a.reshape(shape[:-1]) for a in arrays))), shape
