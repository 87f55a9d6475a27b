"""Trace-time argument checks shared by every loss.

Each check raises at trace time (when the loss is called or lowered), and its message names the
argument, what was seen and what was expected; the loss's decorator adds the loss's name
(:mod:`jaxloss._core.errors`). Shape and rank checks go through chex's assertions; their
``AssertionError`` is re-raised as a ``ValueError`` with jaxloss's message (dtype problems are
``TypeError``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np

from jaxloss._core.errors import fail, warn


def _via_chex(assertion: Callable[[], None], message: str) -> None:
    try:
        assertion()
    except AssertionError as e:
        raise fail(ValueError, message) from e


def _array(name: str, x: Any) -> jax.Array:
    try:
        return jnp.asarray(x)
    except TypeError as e:
        raise fail(TypeError, f"`{name}` must be an array, got {type(x).__name__}") from e


def floating(**arrays: Any) -> tuple[jax.Array, ...]:
    """Return the arrays, checking that each has a floating dtype."""
    out = []
    for name, x in arrays.items():
        x = _array(name, x)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise fail(TypeError, f"`{name}` must have a floating dtype, got {x.dtype}")
        out.append(x)
    return tuple(out)


def integer(**arrays: Any) -> tuple[jax.Array, ...]:
    """Return the arrays, checking that each has an integer dtype (class indices, lengths)."""
    out = []
    for name, x in arrays.items():
        x = _array(name, x)
        if not jnp.issubdtype(x.dtype, jnp.integer):
            hint = f" (cast it, e.g. `{name}.astype(jnp.int32)`)" if jnp.issubdtype(x.dtype, jnp.floating) else ""
            raise fail(TypeError, f"`{name}` must have an integer dtype (class indices), got {x.dtype}{hint}")
        out.append(x)
    return tuple(out)


def numeric(**arrays: Any) -> tuple[jax.Array, ...]:
    """Return the arrays, checking that each has an integer or floating dtype (labels such as +-1,
    which ``bool`` cannot hold)."""
    out = []
    for name, x in arrays.items():
        x = _array(name, x)
        if not (jnp.issubdtype(x.dtype, jnp.integer) or jnp.issubdtype(x.dtype, jnp.floating)):
            raise fail(TypeError, f"`{name}` must have an integer or floating dtype (labels 1 and -1), got {x.dtype}")
        out.append(x)
    return tuple(out)


def shape(name: str, x: jax.Array, expected: Sequence[int | None]) -> None:
    """Check ``x.shape`` against ``expected`` (``None`` matches any size)."""
    _via_chex(
        lambda: chex.assert_shape(x, tuple(expected)),
        f"`{name}` has shape {tuple(x.shape)}, expected {tuple('*' if e is None else e for e in expected)}",
    )


def rank(name: str, x: jax.Array, expected: int | set[int]) -> None:
    """Check the number of dimensions of ``x``."""
    want = expected if isinstance(expected, set) else {expected}
    _via_chex(
        lambda: chex.assert_rank(x, want),
        f"`{name}` has shape {tuple(x.shape)} (rank {x.ndim}), expected rank "
        + " or ".join(str(r) for r in sorted(want)),
    )


def same_shape(**arrays: jax.Array) -> None:
    """Check that all arrays have exactly the same shape."""
    names = list(arrays)
    seen = ", ".join(f"`{n}` {tuple(arrays[n].shape)}" for n in names)
    _via_chex(
        lambda: chex.assert_equal_shape(list(arrays.values())),
        f"{' and '.join(f'`{n}`' for n in names)} must have the same shape, got {seen}",
    )


def broadcast(**arrays: jax.Array) -> tuple[int, ...]:
    """Return the broadcast shape of the arrays, or raise naming every shape."""
    try:
        return tuple(np.broadcast_shapes(*(tuple(a.shape) for a in arrays.values())))
    except ValueError as e:
        seen = ", ".join(f"`{n}` {tuple(a.shape)}" for n, a in arrays.items())
        raise fail(ValueError, f"shapes do not broadcast: {seen}") from e


def broadcast_with_warning(input: jax.Array, target: jax.Array) -> tuple[int, ...]:
    """:func:`broadcast` of an elementwise loss's ``input`` and ``target``, warning (at trace time)
    when their shapes differ and the target is not a scalar, as torch does: a ``(N,)`` target against a ``(N, 1)`` prediction
    broadcasts to ``(N, N)`` and gives a plausible wrong number."""
    full = broadcast(input=input, target=target)
    if target.ndim and input.shape != target.shape:  # a scalar target (robust losses of residuals) is deliberate
        warn(f"`target` has shape {tuple(target.shape)}, `input` {tuple(input.shape)}: they broadcast to {full}, "
             "which is likely a mistake (reshape one of them; torch warns the same)")
    return full


def broadcastable_to(name: str, x: jax.Array, target_shape: Sequence[int], what: str) -> jax.Array:
    """Broadcast ``x`` to ``target_shape`` or raise naming both shapes."""
    target_shape = tuple(target_shape)
    try:
        fits = np.broadcast_shapes(tuple(x.shape), target_shape) == target_shape
    except ValueError:
        fits = False
    if not fits:
        raise fail(ValueError, f"`{name}` has shape {tuple(x.shape)}, which does not broadcast to {what} {target_shape}")
    return jnp.broadcast_to(x, target_shape)


def mask(where: Any, loss_shape: Sequence[int]) -> jax.Array:
    """Check a ``where=`` mask (boolean, broadcastable to the unreduced loss) and broadcast it."""
    where = _array("where", where)
    if where.dtype != jnp.bool_:
        raise fail(TypeError, f"`where` must be a boolean array, got dtype {where.dtype}")
    return broadcastable_to("where", where, loss_shape, "the unreduced loss of shape")


def normalize_axis(axis: int, ndim: int, name: str = "input") -> int:
    """Resolve a possibly negative ``axis`` for an array of rank ``ndim``."""
    if not isinstance(axis, int) or not -ndim <= axis < ndim:
        raise fail(ValueError, f"axis={axis!r} is out of range for `{name}` of rank {ndim}")
    return axis % ndim


LAYOUT_HINT = "pass axis=-1 for channels-last inputs (N, ..., C), as Flax and Haiku models produce, or axis=1 for torch's layout (N, C, d1, ...)"


def class_axis(axis: int | None, input_shape: Sequence[int], target_shape: Sequence[int] | None) -> int:
    """The class axis of an input of shape ``input_shape``, normalised: ``axis`` when given, else
    read from the target's shape, never guessed.

    Rank <= 2 (``(C,)``, ``(N, C)``) is the same in every layout: the last axis. For higher ranks a
    target of the input's shape without one axis (class indices) tells it: the last axis
    (channels-last) if the target is ``input_shape[:-1]``, axis 1 (torch's ``(N, C, d1, ...)``) if
    it is ``input_shape[:1] + input_shape[2:]``. When both readings fit (``(2, 8, 8, 8)`` with a
    ``(2, 8, 8)`` target), or the target has the input's shape (probabilities, multilabel masks),
    or there is no target, it is an error asking for ``axis=``: a torch-layout input read
    channels-last gives a plausible, wrong number.
    """
    input_shape = tuple(input_shape)
    ndim = len(input_shape)
    if axis is not None:
        return normalize_axis(axis, ndim)
    if ndim <= 2:
        return ndim - 1
    if target_shape is None or tuple(target_shape) == input_shape:
        what = "no target" if target_shape is None else "a target of the same shape"
        raise fail(ValueError, f"`input` has shape {input_shape}: with rank {ndim} and {what}, the class axis "
                   f"could be the last or axis 1; {LAYOUT_HINT}")
    target_shape = tuple(target_shape)
    classes_last, torch_layout = input_shape[:-1], input_shape[:1] + input_shape[2:]
    if target_shape == classes_last and target_shape == torch_layout:
        raise fail(ValueError, f"`input` {input_shape} with `target` {target_shape} fits both layouts (classes last, "
                   f"or torch's classes on axis 1): {LAYOUT_HINT}")
    if target_shape == classes_last:
        return ndim - 1
    if target_shape == torch_layout:
        return 1
    raise fail(ValueError, f"`target` has shape {target_shape}, which fits neither layout of `input` {input_shape}: "
               f"expected {classes_last} (classes last, axis=-1) or {torch_layout} (torch's layout, axis=1)")


def choice(name: str, value: Any, allowed: Sequence[Any]) -> None:
    """Check a static configuration value against its allowed values."""
    if value not in allowed:
        raise fail(ValueError, f"{name}={value!r} is not supported; expected one of {', '.join(map(repr, allowed))}")
