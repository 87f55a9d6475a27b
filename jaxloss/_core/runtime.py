"""Run-time value checks: NaN in the result always, a readable error when the user asks for one.

A value known only at run time can be invalid (a class index out of range, a negative variance...).
:func:`flag_invalid` poisons the affected entries with NaN, so that no plausible number comes out,
and, when checks are turned on, adds a ``checkify`` check whose message names the loss and the
argument. Checks are traced only inside :func:`value_checks` (which :func:`checked` enters for
you): a traced check puts an error effect on the jaxpr, and a jitted function with an effect
leaves JAX's C++ dispatch fast path, about 80 us more per call on CPU (measured on jax 0.10: more
than a whole value+grad of ``cross_entropy`` at (64, 10)). The switch is a JAX user context
(:func:`jax.make_user_context`), part of the jit cache key, so a function traced without checks is
traced again, not reused, when checks are turned on.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.experimental import checkify
from jax.typing import ArrayLike

_value_checks = jax.make_user_context(default_value=False)


def flag_invalid(values: ArrayLike, bad: ArrayLike, *, loss: str, argument: str, requirement: str) -> jax.Array:
    """``values`` with NaN where ``bad`` holds, in the value **and** in the gradient of everything
    those entries depend on; inside :func:`value_checks`, also a check that raises
    ``"<loss>: `<argument>` <requirement>"`` when any entry is bad.

    The entries are multiplied by NaN rather than replaced by it: a replacement has a zero
    derivative, so a NaN loss would come with a finite gradient and a training guard that skips
    non-finite updates (``optax.apply_if_finite``) would still apply it. Masked entries are never
    bad: the losses replace their inputs by valid values first
    (:func:`jaxloss._core.reduction.inert`), so a bad value that does not count is not an error.
    """
    if _value_checks.value:
        checkify.debug_check(~jnp.any(bad), f"{loss}: `{argument}` {requirement}")
    values = jnp.asarray(values)
    return values * jnp.where(bad, jnp.nan, 1.0).astype(values.dtype)


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
