"""The parity harness: run a jaxloss function and a torch function on the same inputs and compare.

Values are compared, and so are gradients: a vector-Jacobian product with the same random cotangent
in both frameworks, with respect to every floating input listed in ``grad``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

from references import to_torch


def _cotangent(shape: tuple[int, ...], dtype: Any, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def assert_parity(
    jl_fn: Callable[..., Any],
    torch_fn: Callable[..., Any],
    *arrays: Any,
    grad: Sequence[int] = (0,),
    rtol: float = 1e-5,
    atol: float = 1e-6,
    grad_rtol: float | None = None,
    grad_atol: float | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Check ``jl_fn(*arrays)`` against ``torch_fn(*arrays)``, values and gradients.

    ``arrays`` are numpy arrays (or Python scalars), given unchanged to both functions (as jax and
    torch arrays). ``grad`` lists the positions of the arrays to differentiate; torch must be able to
    differentiate them too. Returns the two values as numpy arrays.
    """
    arrays = tuple(np.asarray(a) for a in arrays)
    jx = [jnp.asarray(a) for a in arrays]
    tx = [to_torch(a, requires_grad=i in grad) for i, a in enumerate(arrays)]

    def jl_of(*diff: jax.Array) -> jax.Array:
        full = list(jx)
        for i, d in zip(grad, diff):
            full[i] = d
        return jl_fn(*full)

    j_out, vjp = jax.vjp(jl_of, *(jx[i] for i in grad))
    t_out = torch_fn(*tx)
    j_val, t_val = np.asarray(j_out), t_out.detach().numpy()
    assert j_val.shape == t_val.shape, f"shape: jaxloss {j_val.shape}, torch {t_val.shape}"
    np.testing.assert_allclose(j_val, t_val, rtol=rtol, atol=atol, err_msg="values differ from torch")
    if grad:
        cot = _cotangent(j_val.shape, j_val.dtype, seed)
        j_grads = vjp(jnp.asarray(cot))
        t_grads = torch.autograd.grad(t_out, [tx[i] for i in grad], torch.from_numpy(cot), allow_unused=True)
        for i, jg, tg in zip(grad, j_grads, t_grads):
            tg_np = np.zeros_like(arrays[i]) if tg is None else tg.numpy()
            np.testing.assert_allclose(
                np.asarray(jg),
                tg_np,
                rtol=grad_rtol if grad_rtol is not None else rtol,
                atol=grad_atol if grad_atol is not None else atol,
                err_msg=f"gradient w.r.t. argument {i} differs from torch",
            )
    return j_val, t_val


def rand(shape: Sequence[int], seed: int, low: float = -2.0, high: float = 2.0, dtype: Any = np.float32) -> np.ndarray:
    """Uniform random floats, reproducible from ``seed``."""
    return np.random.default_rng(seed).uniform(low, high, size=tuple(shape)).astype(dtype)


def randn(shape: Sequence[int], seed: int, scale: float = 1.0, dtype: Any = np.float32) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(tuple(shape)) * scale).astype(dtype)


def randint(shape: Sequence[int], seed: int, high: int, low: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(low, high, size=tuple(shape)).astype(np.int64)


def assert_finite(*trees: Any) -> None:
    for leaf in jax.tree_util.tree_leaves(trees):
        assert np.all(np.isfinite(np.asarray(leaf, dtype=np.float64))), f"non-finite values: {leaf}"
