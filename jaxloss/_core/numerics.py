"""Numerically careful building blocks shared by the losses.

Each one exists because the obvious JAX expression has the wrong gradient somewhere (see
TORCH_SEMANTICS.md, "JAX-side pitfalls").
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

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


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def clamp_min0(z: jax.Array, gradient_at_zero: bool) -> jax.Array:
    """``max(z, 0)`` with torch's derivatives: 1 where ``z > 0``, ``gradient_at_zero`` at 0
    (``torch.clamp_min`` passes it, the ``z > 0`` test of torch's hinge kernels does not;
    ``jnp.maximum`` halves it), and 0 where ``z`` is NaN, whose value stays NaN (torch's masks
    ``z >= 0`` and ``z > 0`` are False there, so no gradient goes through)."""
    return jnp.where(z < 0, 0.0, z)


@clamp_min0.defjvp
def _clamp_min0_jvp(gradient_at_zero: bool, primals: tuple[jax.Array], tangents: tuple[jax.Array]) -> tuple[jax.Array, jax.Array]:
    (z,), (dz,) = primals, tangents
    passes = z >= 0 if gradient_at_zero else z > 0
    return clamp_min0(z, gradient_at_zero), jnp.where(passes, dz, 0.0)


def safe_where(condition: ArrayLike, x: ArrayLike, safe_value: ArrayLike) -> jax.Array:
    """``x`` where ``condition`` holds, else ``safe_value``: the first half of the double-where trick.

    Feed the result to a function that is NaN/inf (or has a NaN/inf derivative) at the excluded
    points, then select with ``jnp.where(condition, f(...), other)``: the excluded branch then
    contributes a zero gradient instead of NaN.
    """
    return jnp.where(condition, x, safe_value)


def _log_cosh_series(terms: int) -> tuple[float, ...]:
    """Taylor coefficients ``c_n`` of ``log(cosh(x)) = sum_n c_n x^(2n)``, n = 1..terms.

    Integrating ``tanh(x) = sum_n 2^(2n) (2^(2n) - 1) B_(2n) x^(2n-1) / (2n)!`` gives
    ``c_n = 2^(2n) (2^(2n) - 1) B_(2n) / ((2n)! 2n)`` (1/2, -1/12, 1/45, ...), with the Bernoulli
    numbers ``B`` computed exactly in rationals.
    """
    bernoulli: list[Fraction] = [Fraction(1)]
    for m in range(1, 2 * terms + 1):
        bernoulli.append(-sum((math.comb(m + 1, k) * bernoulli[k] for k in range(m)), Fraction(0)) / (m + 1))
    return tuple(
        float(4**n * (4**n - 1) * bernoulli[2 * n] / (math.factorial(2 * n) * 2 * n)) for n in range(1, terms + 1)
    )


# Below |x| = 1/2 the series reaches the dtype's precision in 7 terms (float32) or 16 (float64): its
# truncation error is under 2e-8 and 6e-18 relative (checked against 60-digit mpmath).
_LOG_COSH_SERIES_F32, _LOG_COSH_SERIES_F64 = _log_cosh_series(7), _log_cosh_series(16)


def log_cosh(x: jax.Array) -> jax.Array:
    """``log(cosh(x))``, accurate to about one ulp for every ``x`` and without overflow.

    For ``|x| < 1/2`` its Taylor series in ``x^2`` (exact ``x^2/2`` for tiny ``x``; a few
    multiply-adds), elsewhere ``|x| - log 2 + log1p(exp(-2|x|))`` (no overflow of ``cosh``, no
    cancellation worth a bit). Both branches are finite everywhere and so are their derivatives,
    so plain autodiff gives ``tanh(x)`` (the series' derivative is tanh's series) to the same
    accuracy, in forward and reverse mode and to any order; a ``custom_jvp`` with ``tanh`` measured
    1.4x slower at small shapes on XLA:CPU.
    """
    a = jnp.abs(x)
    s = jnp.square(jnp.minimum(a, 0.5))
    series = jnp.zeros_like(s)
    for c in reversed(_LOG_COSH_SERIES_F64 if x.dtype == jnp.float64 else _LOG_COSH_SERIES_F32):
        series = series * s + c
    far = a - jnp.log(2.0).astype(x.dtype) + jnp.log1p(jnp.exp(-2 * a))
    return jnp.where(a < 0.5, series * s, far)


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
