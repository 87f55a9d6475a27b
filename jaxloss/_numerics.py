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


def log_cosh(x: jax.Array) -> jax.Array:
    """``log(cosh(x))`` without overflow for large ``|x|``; its derivative is ``tanh(x)``."""
    return jnp.logaddexp(x, -x) - jnp.log(2.0).astype(x.dtype)
