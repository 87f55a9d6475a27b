"""How a function becomes a jaxloss loss: jit, static configuration, half precision, naming.

Every public loss is written as a plain function of arrays and keyword-only configuration and then
decorated with :func:`loss`, which

* jits it with ``reduction`` (and the other names listed in ``static``) as static arguments, so
  ``jl.l1_loss.lower(x, y)`` and ``jl.l1_loss.trace(...)`` work as for any ``jax.jit`` function;
* applies the half-precision policy: ``float16``/``bfloat16`` arrays are computed in ``float32`` and
  the result is returned in the dtype the inputs promote to (so gradients come back in the input
  dtype);
* for elementwise losses, computes arrays shaped ``(..., 1)`` without their size-1 minor axis and
  reshapes the result back (XLA:CPU vectorises along the minor axis; see
  :func:`jaxloss._core.numerics.drop_unit_minor_axis`);
* for elementwise losses, replaces the entries a ``where=`` mask drops by 0 in every array argument
  before the formula (:func:`jaxloss._core.reduction.inert`), so that whatever they hold reaches
  neither the value nor the gradient;
* prefixes the loss's name to the trace-time errors its checks raise (:mod:`jaxloss._core.errors`);
* records the loss in the catalogue (:mod:`jaxloss._core.catalogue`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import jax
import jax.numpy as jnp

from jaxloss._core.catalogue import CATALOGUE, LossInfo
from jaxloss._core.errors import naming
from jaxloss._core.numerics import drop_unit_minor_axis
from jaxloss._core.reduction import inert

F = TypeVar("F", bound=Callable[..., Any])

HALF = (jnp.dtype(jnp.float16), jnp.dtype(jnp.bfloat16))


def _is_half(x: Any) -> bool:
    return isinstance(x, jax.Array) and x.dtype in HALF


def _upcast(x: Any) -> Any:
    return x.astype(jnp.float32) if _is_half(x) else x


def _result_dtype(args: tuple[Any, ...]) -> Any:
    floats = [a for a in args if isinstance(a, jax.Array) and jnp.issubdtype(a.dtype, jnp.floating)]
    return jnp.result_type(*floats) if floats else None


def _drop_unit_minor_axis(
    args: tuple[Any, ...], kwargs: dict[str, Any], static_names: tuple[str, ...]
) -> tuple[tuple[Any, ...], dict[str, Any], tuple[int, ...] | None]:
    """Apply :func:`drop_unit_minor_axis` to the array arguments of rank >= 1 of an elementwise loss."""
    positions = [i for i, a in enumerate(args) if isinstance(a, jax.Array) and a.ndim >= 1]
    names = [k for k, v in kwargs.items() if k not in static_names and isinstance(v, jax.Array) and v.ndim >= 1]
    arrays, full_shape = drop_unit_minor_axis(*(args[i] for i in positions), *(kwargs[k] for k in names))
    if full_shape is None:
        return args, kwargs, None
    new_args = list(args)
    for i, a in zip(positions, arrays[: len(positions)]):
        new_args[i] = a
    return tuple(new_args), {**kwargs, **dict(zip(names, arrays[len(positions):]))}, full_shape


def _inert_masked(
    args: tuple[Any, ...], kwargs: dict[str, Any], static_names: tuple[str, ...]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """An elementwise loss's array arguments with the entries that ``where`` drops replaced by 0
    (:func:`jaxloss._core.reduction.inert`): a masked entry holding NaN or inf then reaches neither
    the value nor the gradient."""
    keep = kwargs["where"]
    args = tuple(inert(keep, a) if isinstance(a, jax.Array) else a for a in args)
    kwargs = {k: inert(keep, v) if k not in (*static_names, "where") and isinstance(v, jax.Array) else v
              for k, v in kwargs.items()}
    return args, kwargs


def loss(
    *,
    counterpart: str,
    static: tuple[str, ...] = (),
    stable_form: str = "—",
    custom_gradient: bool = False,
    half_precision_upcast: bool = True,
    elementwise: bool = False,
) -> Callable[[F], F]:
    """Turn ``fn`` into a public jaxloss loss (see the module docstring).

    Args:
      counterpart: the torch (or peer library) function this loss matches, for the catalogue.
      static: keyword arguments, besides ``reduction``, that are static under ``jit`` (strings,
        integers that change shapes or branches, callables).
      stable_form: the numerically stable form to prefer (e.g. the logits version), for the catalogue.
      custom_gradient: whether the loss defines its own gradient (``custom_vjp``/``custom_jvp``).
      half_precision_upcast: compute ``float16``/``bfloat16`` inputs in ``float32``. A loss that
        manages precision itself (to avoid a float32 copy of a large input) sets this to False.
      elementwise: the unreduced loss is elementwise in its array arguments (its shape is theirs).
        When every array argument of rank >= 1 has the same shape ``(..., 1)``, the loss is then
        computed on them without that axis and its unreduced result reshaped back.
    """

    def decorate(fn: F) -> F:
        name = fn.__name__
        params = inspect.signature(fn).parameters
        static_names = tuple(n for n in ("reduction", *static) if n in params)
        missing = [n for n in static if n not in params]
        if missing:
            raise TypeError(f"{name}: static arguments {missing} are not parameters")

        @functools.wraps(fn)
        def traced(*args: Any, **kwargs: Any) -> Any:
            with naming(name):
                out_dtype = _result_dtype(args)
                if half_precision_upcast:
                    args = tuple(_upcast(a) for a in args)
                    kwargs = {k: v if k in static_names else _upcast(v) for k, v in kwargs.items()}
                if elementwise and kwargs.get("where") is not None:
                    args, kwargs = _inert_masked(args, kwargs, static_names)
                full_shape = None
                if elementwise:
                    args, kwargs, full_shape = _drop_unit_minor_axis(args, kwargs, static_names)
                out = fn(*args, **kwargs)
                if full_shape is not None and out.shape == full_shape[:-1]:
                    out = out.reshape(full_shape)
                if half_precision_upcast and out_dtype is not None and out_dtype in HALF:
                    out = jax.tree_util.tree_map(
                        lambda o: o.astype(out_dtype) if jnp.issubdtype(o.dtype, jnp.floating) else o, out
                    )
                return out

        jitted = jax.jit(traced, static_argnames=static_names)
        doc = inspect.getdoc(fn) or ""
        CATALOGUE[name] = LossInfo(
            name=name,
            family=fn.__module__.rsplit(".", 1)[-1].lstrip("_"),
            counterpart=counterpart,
            stable_form=stable_form,
            custom_gradient=custom_gradient,
            supports_where="where" in params,
            elementwise=elementwise,
            summary=doc.splitlines()[0] if doc else "",
            function=jitted,
        )
        return jitted  # type: ignore[return-value]

    return decorate
