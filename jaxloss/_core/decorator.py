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
* prefixes the loss's name to the trace-time errors its checks raise (:mod:`jaxloss._core.errors`),
  and turns two generic JAX errors into ones that name the loss and say what to do: a static
  argument passed as an array, and forward mode (``jax.jvp``, ``jax.jacfwd``) applied to a loss
  whose gradient is a reverse-only rule; and rejects numpy 64-bit integers beyond int32 when x64 is
  off (they would wrap to another class);
* under a mesh with ``Explicit`` axes (``jax.make_mesh``'s default), runs the loss with those
  axes made ``Auto`` and types its result (:mod:`jaxloss._core.meshes`), so that no loss needs
  ``jax.sharding.auto_axes`` from its caller;
* records the loss in the catalogue (:mod:`jaxloss._core.catalogue`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

from jaxloss._core.catalogue import CATALOGUE, LossInfo
from jaxloss._core.errors import naming
from jaxloss._core.meshes import on_auto_axes
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


_FORWARD_MODE = "can't apply forward-mode autodiff (jvp) to a custom_vjp function"
_NON_HASHABLE = "Non-hashable static arguments are not supported"


class Loss:
    """A jitted loss (``jax.jit`` of the decorated function; ``lower``, ``trace`` and the other
    attributes of a jitted function are its) whose generic JAX errors name the loss."""

    def __init__(self, name: str, jitted: Any, static_names: tuple[str, ...], parameters: tuple[str, ...]) -> None:
        functools.update_wrapper(self, jitted)
        self._name, self._jitted, self._static_names, self._parameters = name, jitted, static_names, parameters

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        args, kwargs = self._lists_as_arrays(args, kwargs)
        if not jax.config.read("jax_enable_x64"):
            self._check_host_integers(args, kwargs)
        try:
            return self._jitted(*args, **kwargs)
        except (TypeError, ValueError) as error:
            explained = self._explained(error, kwargs)
            if explained is error:
                raise
            raise explained from error

    def _lists_as_arrays(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Python lists and tuples given as arrays (torch code often builds targets that way) become
        arrays, as ``jnp.asarray`` would make them; static configuration is left alone."""

        def as_array(argument: str, value: Any) -> Any:
            if not isinstance(value, (list, tuple)):
                return value
            try:
                return jnp.asarray(value)
            except (TypeError, ValueError) as error:
                raise TypeError(f"{self._name}: `{argument}` is a {type(value).__name__} that is not an array "
                                f"({error}); pass an array") from error

        names = [*self._parameters[: len(args)], *(f"argument {i}" for i in range(len(self._parameters), len(args)))]
        args = tuple(as_array(name, value) for name, value in zip(names, args))
        kwargs = {k: v if k in self._static_names else as_array(k, v) for k, v in kwargs.items()}
        return args, kwargs

    def _check_host_integers(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """numpy 64-bit integers (class indices from a data loader) become int32 when x64 is off:
        a value beyond int32 would wrap to another, valid-looking class, so it is an error."""
        named = [*zip(self._parameters, args), *kwargs.items()]
        for argument, value in named:
            if isinstance(value, np.ndarray) and value.dtype.kind in "iu" and value.dtype.itemsize == 8 and value.size:
                low, high = value.min(), value.max()
                bounds = np.iinfo(np.int32)
                if low < bounds.min or high > bounds.max:
                    raise ValueError(
                        f"{self._name}: `{argument}` ({value.dtype}) holds {low if low < bounds.min else high}, beyond the int32 "
                        "range: with jax_enable_x64 off it would wrap around to another, valid-looking value; "
                        "enable x64 or pass values that fit in int32"
                    )

    def _explained(self, error: Exception, kwargs: dict[str, Any]) -> Exception:
        message = str(error)
        if _FORWARD_MODE in message:
            return TypeError(
                f"{self._name}: forward-mode differentiation (jax.jvp, jax.jacfwd, jax.linearize) is not "
                "supported: the loss's gradient is a reverse-mode rule (custom_vjp). Use reverse mode "
                "(jax.grad, jax.vjp, jax.jacrev); second derivatives work as forward-over-reverse "
                "(jax.hessian, jax.jvp of jax.grad for Hessian-vector products) and reverse-over-reverse."
            )
        if _NON_HASHABLE in message:
            arrays = [n for n in self._static_names if isinstance(kwargs.get(n), (jax.Array, np.ndarray))]
            names = ", ".join(f"`{n}`" for n in arrays) or "a static argument"
            return ValueError(
                f"{self._name}: {names} is static configuration (it selects shapes or code paths): pass a "
                f"Python value (int, float, str, bool, tuple), not an array; static arguments: "
                f"{', '.join(self._static_names)}"
            )
        return error

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._jitted, attribute)

    def __repr__(self) -> str:
        return f"<jaxloss loss {self._name}>"


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

        def body(*args: Any, **kwargs: Any) -> Any:
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

        @functools.wraps(fn)
        def traced(*args: Any, **kwargs: Any) -> Any:
            with naming(name):
                return on_auto_axes(body, *args, **kwargs)

        jitted = Loss(name, jax.jit(traced, static_argnames=static_names), static_names, tuple(params))
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
