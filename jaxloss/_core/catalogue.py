"""The catalogue of losses: one row per public loss, filled by the :func:`~jaxloss._core.decorator.loss`
decorator at import time, read by ``python -m jaxloss``, the README's table and the tests."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any


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
"""Every public loss, by name, in definition order (written only by the decorator, at import)."""


def markdown() -> str:
    """The README's table of losses."""
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


def plain_summary(info: LossInfo) -> str:
    """The docstring's first line without reStructuredText markup (for the command line)."""
    return re.sub(r":\w+:", "", info.summary).replace("`", "").replace("\\", "")
