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
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    for name in jl.CATALOGUE:
        assert f'id="jaxloss.{name}"' in api, name
    assert "$$" not in api and ".. math::" not in api  # formulas were converted for MathJax
