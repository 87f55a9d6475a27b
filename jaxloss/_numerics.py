"""Numerically careful building blocks shared by the losses.

Each one exists because the obvious JAX expression has the wrong gradient somewhere (see
TORCH_SEMANTICS.md, "JAX-side pitfalls").
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


@jax.custom_jvp
def abs_(x: jax.Array) -> jax.Array:
    """``|x|`` whose derivative at 0 is 0, as torch's (``jax.grad(jnp.abs)(0.)`` is 1)."""
    return jnp.abs(x)


@abs_.defjvp
def _abs_jvp(primals: tuple[jax.Array], tangents: tuple[jax.Array]) -> tuple[jax.Array, jax.Array]:
    (x,), (dx,) = primals, tangents
    return jnp.abs(x), jnp.sign(x) * dx


def safe_where(condition: jax.Array, x: jax.Array, safe_value: float | jax.Array) -> jax.Array:
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
