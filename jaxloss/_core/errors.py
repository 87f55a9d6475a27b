"""Trace-time errors that name the loss they come from, without hidden state.

A check deep inside a loss knows the argument and the shapes but not which loss it serves. It
raises through :func:`fail`, which marks the exception as not yet named; the loss's decorator (or
:func:`naming`, for the helpers that are not decorated losses) catches it on the way out and
prefixes the loss's name, once: a loss called inside another keeps the inner loss's name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

_UNNAMED = "_jaxloss_unnamed"


def fail(kind: type[Exception], message: str) -> Exception:
    """An exception of type ``kind`` (``ValueError``, ``TypeError``) for :func:`naming` to name."""
    error = kind(message)
    setattr(error, _UNNAMED, True)
    return error


@contextlib.contextmanager
def naming(name: str) -> Iterator[None]:
    """Prefix ``"<name>: "`` to the message of an error raised by :func:`fail` inside the block."""
    try:
        yield
    except (ValueError, TypeError) as error:
        if getattr(error, _UNNAMED, False):
            setattr(error, _UNNAMED, False)
            error.args = (f"{name}: {error.args[0]}", *error.args[1:])
        raise
