"""A griffe extension for the docs build: jaxloss's docstrings use a few reStructuredText
constructs (``.. math::`` blocks and ``:math:``/``:func:``-style roles); rewrite them into the
Markdown + arithmatex that mkdocstrings renders. The docstrings themselves are not changed."""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:func|class|data|mod|meth|attr|obj|exc):`~?([^`]+)`")
_MATH_ROLE = re.compile(r":math:`([^`]+)`")


def _math_blocks(text: str) -> str:
    """``.. math:: formula`` (with indented continuation lines) -> a ``$$ ... $$`` block."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith(".. math::"):
            indent = line[: len(line) - len(stripped)]
            body = [stripped[len(".. math::") :].strip()]
            i += 1
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > len(indent)):
                body.append(lines[i].strip())
                i += 1
            formula = " ".join(b for b in body if b)
            out += [f"{indent}$$", f"{indent}{formula}", f"{indent}$$", ""]
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def rest_to_markdown(text: str) -> str:
    text = _math_blocks(text)
    text = _MATH_ROLE.sub(r"$\1$", text)
    return _ROLE.sub(r"`\1`", text)


class RestToMarkdown(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rest_to_markdown(obj.docstring.value)
