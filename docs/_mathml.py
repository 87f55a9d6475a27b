"""An mkdocs hook for the docs build: the formulas that ``pymdownx.arithmatex`` marks in the built
pages become MathML (``latex2mathml``), which browsers render natively, so the site needs no
JavaScript and no network (it works opened from disk)."""

from __future__ import annotations

import html
import re
from typing import Any

from latex2mathml.converter import convert

_BLOCK = re.compile(r'<div class="arithmatex">\s*\\\[(.*?)\\\]\s*</div>', re.DOTALL)
_INLINE = re.compile(r'<span class="arithmatex">\\\((.*?)\\\)</span>', re.DOTALL)


def on_post_page(output: str, **kwargs: Any) -> str:
    output = _BLOCK.sub(lambda m: convert(html.unescape(m.group(1)).strip(), display="block"), output)
    return _INLINE.sub(lambda m: convert(html.unescape(m.group(1)).strip()), output)
