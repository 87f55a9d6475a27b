"""How a function becomes a jaxloss loss: jit, static configuration, half precision, the catalogue.

Every public loss is written as a plain function of arrays and keyword-only configuration and then
decorated with :func:`loss`.  The decorator

* jits it with ``reduction`` (and the other names listed in ``static``) as static arguments, so
  ``jl.l1_loss.lower(x, y)`` and ``jl.l1_loss.trace(...)`` work as for any ``jax.jit`` function;
* applies the half-precision policy: ``float16``/``bfloat16`` arrays are computed in ``float32`` and
  the result is returned in the dtype the inputs promote to (so gradients come back in the input
  dtype);
* for elementwise losses, computes arrays shaped ``(..., 1)`` without their size-1 minor axis and
  reshapes the result back (XLA:CPU vectorises along the minor axis; see
  :func:`jaxloss._numerics.drop_unit_minor_axis`);
* records the loss in :data:`CATALOGUE`, from which ``python -m jaxloss`` and the README table are
  generated;
* makes the loss's name known to the checks in :mod:`jaxloss._checks`, so that every error message
  names the loss without each loss having to pass its name around.

:func:`checked` is the opt-in mode that turns run-time value errors (reported by
:func:`flag_invalid`) into exceptions. Outside it the checks are not traced at all: a
``checkify`` check puts an error effect on the jaxpr, and a jitted function with an effect leaves
JAX's C++ dispatch fast path (about 80 us more per call, measured on jax 0.10 CPU: more than a whole
value+grad of ``cross_entropy`` at (64, 10)). The switch is a JAX user context
(:func:`jax.make_user_context`), which is part of the jit cache key, so a function traced without
checks is retraced, not reused, when checks are turned on.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
from jax.experimental import checkify
from jax.typing import ArrayLike

from jaxloss._numerics import drop_unit_minor_axis

F = TypeVar("F", bound=Callable[..., Any])

_HALF = (jnp.dtype(jnp.float16), jnp.dtype(jnp.bfloat16))
_current_loss: contextvars.ContextVar[str] = contextvars.ContextVar("jaxloss_current_loss", default="jaxloss")


_value_checks = jax.make_user_context(default_value=False)
"""Whether :func:`flag_invalid` traces its ``checkify`` check (True inside :func:`value_checks`)."""


def current_loss_name() -> str:
    """Name of the loss being traced (used to prefix error messages)."""
    return _current_loss.get()


@dataclasses.dataclass(frozen=True)
class LossInfo:
    """One row of the catalogue."""

    name: str
    family: str
    counterpart: str
    stable_form: str
    custom_gradient: bool
    supports_where: bool
    elementwise: bool
    summary: str
    function: Callable[..., Any]


CATALOGUE: dict[str, LossInfo] = {}
"""Every public loss, by name, in definition order."""


def _is_half(x: Any) -> bool:
    return isinstance(x, jax.Array) and x.dtype in _HALF


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
        computed on them without that axis and its unreduced result reshaped back
        (:func:`jaxloss._numerics.drop_unit_minor_axis`: XLA:CPU is many times slower on a size-1
        minor axis).
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
            token = _current_loss.set(name)
            try:
                out_dtype = _result_dtype(args)
                if half_precision_upcast:
                    args = tuple(_upcast(a) for a in args)
                    kwargs = {k: v if k in static_names else _upcast(v) for k, v in kwargs.items()}
                if elementwise:
                    args, kwargs, full_shape = _drop_unit_minor_axis(args, kwargs, static_names)
                out = fn(*args, **kwargs)
                if elementwise and full_shape is not None and out.shape == full_shape[:-1]:
                    out = out.reshape(full_shape)
                if half_precision_upcast and out_dtype is not None and out_dtype in _HALF:
                    out = jax.tree_util.tree_map(
                        lambda o: o.astype(out_dtype) if jnp.issubdtype(o.dtype, jnp.floating) else o, out
                    )
                return out
            finally:
                _current_loss.reset(token)

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


def flag_invalid(values: ArrayLike, bad: ArrayLike, *, argument: str, requirement: str) -> jax.Array:
    """Poison the entries of ``values`` where ``bad`` holds with NaN, and report it in checked mode.

    This is how run-time value errors surface (a class index out of range, a negative variance...):
    never as a plausible number. Under :func:`checked` (or :func:`value_checks`) the first such error
    raises, naming the loss and ``argument``; elsewhere no check is traced, so it costs nothing.
    """
    if _value_checks.value:
        checkify.debug_check(~jnp.any(bad), f"{current_loss_name()}: `{argument}` {requirement}")
    return jnp.where(bad, jnp.nan, values)


def value_checks() -> contextlib.AbstractContextManager[None]:
    """Trace jaxloss's run-time value checks inside this context (for ``checkify`` under ``jit``).

    jaxloss's losses trace their run-time checks (a class index out of range, a negative variance...)
    only when asked, because a traced check slows every call of a jitted function. :func:`checked`
    asks for you; to check inside your own jitted program, trace it with ``checkify.checkify`` inside
    this context. The context is part of JAX's jit cache key: a function traced outside it is traced
    again inside it, never reused without its checks.

    Example:
      >>> import jax, jax.numpy as jnp, jaxloss as jl
      >>> from jax.experimental import checkify
      >>> step = jax.jit(checkify.checkify(jl.gaussian_nll_loss, errors=checkify.user_checks))
      >>> with jl.value_checks():
      ...     err, value = step(jnp.zeros(2), jnp.ones(2), jnp.array([1.0, -1.0]))
      >>> print(err.get())
      gaussian_nll_loss: `var` must be non-negative (`check` failed)
    """
    return _value_checks(True)


def checked(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``fn`` with jaxloss's run-time value checks turned on.

    Without it, an invalid value known only at run time (for example a negative variance in
    ``gaussian_nll_loss``) gives NaN. Wrapped with ``checked``, the same call raises
    ``jax.experimental.checkify.JaxRuntimeError`` whose message names the loss and the argument.
    ``fn`` may be a jaxloss loss or any function that calls them (a whole training loss). Keyword
    arguments are bound as constants, positional arguments are traced. Call the result outside
    ``jax.jit``; to check inside a jitted program use ``jax.experimental.checkify.checkify`` with
    ``errors=checkify.user_checks``, traced inside :func:`value_checks`.

    Example:
      >>> import jax.numpy as jnp, jaxloss as jl
      >>> x = jnp.zeros(2); y = jnp.ones(2)
      >>> bool(jnp.isnan(jl.gaussian_nll_loss(x, y, jnp.array([1.0, -1.0]))))
      True
      >>> jl.checked(jl.gaussian_nll_loss)(x, y, jnp.array([1.0, -1.0]))
      Traceback (most recent call last):
      ...
      jax...JaxRuntimeError: gaussian_nll_loss: `var` must be non-negative ...
    """

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        bound = functools.partial(fn, **kwargs) if kwargs else fn
        with value_checks():
            err, out = checkify.checkify(bound, errors=checkify.user_checks)(*args)
        err.throw()
        return out

    return run


def catalogue_markdown() -> str:
    """The README's table of losses, generated from :data:`CATALOGUE`."""
    rows = [
        "| family | loss | counterpart | stable form | custom gradient | `where` |",
        "|---|---|---|---|---|---|",
    ]
    for info in CATALOGUE.values():
        rows.append(
            f"| {info.family} | `{info.name}` | {info.counterpart} | {info.stable_form} | "
            f"{'yes' if info.custom_gradient else 'no'} | {'yes' if info.supports_where else 'no'} |"
        )
    return "\n".join(rows)
