"""The documentation site builds (``mkdocs build --strict``: any warning, such as a docstring
argument that is not in the signature or a broken link, fails) and documents every loss."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import jaxloss as jl

ROOT = Path(__file__).resolve().parent.parent
API_PAGE = ROOT / "docs" / "api.md"


def test_api_reference_lists_every_loss():
    documented = set(re.findall(r"^::: jaxloss\.(\w+)$", API_PAGE.read_text(), flags=re.MULTILINE))
    assert set(jl.CATALOGUE) <= documented, sorted(set(jl.CATALOGUE) - documented)
    assert documented <= set(dir(jl)), sorted(documented - set(dir(jl)))


def test_docs_site_builds_strictly(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    api = (tmp_path / "site" / "api.html").read_text()
    for name in jl.CATALOGUE:
        assert f'id="jaxloss.{name}"' in api, name
    assert "$$" not in api and ".. math::" not in api and "arithmatex" not in api  # formulas became MathML
    assert api.count("<math") >= len(jl.CATALOGUE)
    for page in (tmp_path / "site").glob("*.html"):  # opened from disk: no CDN, no server needed
        html = page.read_text()
        assert not re.findall(r"<(?:script|link)[^>]+(?:src|href)=\"(?:https?:)?//", html), page.name
        assert not re.findall(r'href="[^"#:]*/"', html), f"{page.name} links to a directory (needs a server)"


def test_public_signatures_name_real_types():
    """Every loss's parameters and result are annotated with real types (ArrayLike, jax.Array,
    Literal options), never Any (the API page shows them)."""
    import inspect

    for name, info in jl.CATALOGUE.items():
        signature = inspect.signature(info.function)
        annotations = [p.annotation for p in signature.parameters.values()] + [signature.return_annotation]
        assert all(a is not inspect.Parameter.empty and "Any" not in str(a) for a in annotations), name
