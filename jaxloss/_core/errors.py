"""Trace-time errors that name the loss they come from, without hidden state.

A check deep inside a loss knows the argument and the shapes but not which loss it serves. It
raises through :func:`fail`, which marks the exception as not yet named; the loss's decorator (or
:func:`naming`, for the helpers that are not decorated losses) catches it on the way out and
prefixes the loss's name, once: a loss called inside another keeps the inner loss's name.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

_UNNAMED = "_jaxloss_unnamed"


def fail(kind: type[Exception], message: str) -> Exception:
    """An exception of type ``kind`` (``ValueError``, ``TypeError``) for :func:`naming` to name."""
    error = kind(message)
    setattr(error, _UNNAMED, True)
    return error


class ShapeWarning(UserWarning):
    """A trace-time warning about shapes that are accepted but likely a mistake (torch warns too)."""


def warn(message: str) -> None:
    """Issue a :class:`ShapeWarning` for :func:`naming` to name (once per trace, not per call)."""
    warnings.warn(message, ShapeWarning, stacklevel=2)


@contextlib.contextmanager
def naming(name: str) -> Iterator[None]:
    """Prefix ``"<name>: "`` to the message of an error raised by :func:`fail`, and of a warning
    issued by :func:`warn`, inside the block."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except (ValueError, TypeError) as error:
            if getattr(error, _UNNAMED, False):
                setattr(error, _UNNAMED, False)
                error.args = (f"{name}: {error.args[0]}", *error.args[1:])
            raise
    for w in caught:  # issued again outside the block, under the caller's filters
        named = issubclass(w.category, ShapeWarning) and not str(w.message).startswith(f"{name}: ")
        warnings.warn_explicit(f"{name}: {w.message}" if named else w.message, w.category, w.filename, w.lineno,
                               source=w.source)
