"""ruff, mypy and import-linter are clean (configured in pyproject.toml: ``[tool.ruff]``,
``[tool.mypy]``, ``[tool.importlinter]``).

The goal is the whole tree: ``ruff check jaxloss tests benchmarks scripts notebooks docs references`` and
``mypy`` (which checks ``jaxloss``, see ``[tool.mypy] files``). Files listed in ``PENDING`` still
have known issues and are left out for now; every other file is checked, new files included. Empty
``PENDING`` once they are fixed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINTED = ("jaxloss", "tests", "benchmarks", "scripts", "notebooks", "docs", "references")

PENDING: set[str] = set()


def _files(*suffixes: str, under: tuple[str, ...] = LINTED) -> list[str]:
    found = {str(p.relative_to(ROOT)) for d in under for p in (ROOT / d).rglob("*") if p.suffix in suffixes}
    return sorted(f for f in found - PENDING if ".ipynb_checkpoints" not in f and "__pycache__" not in f)


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, check=False)


def test_pending_files_exist():
    assert all((ROOT / f).is_file() for f in PENDING), "remove fixed or deleted files from PENDING"


def test_ruff_is_clean():
    files = _files(".py", ".ipynb")
    assert "jaxloss/_core/softmax.py" in files and "notebooks/01_tour.ipynb" in files
    result = _run("ruff", "check", "--no-fix", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean():
    if any(f.startswith("jaxloss/") for f in PENDING):
        # Pending modules are still analysed (their types are used) but their own errors are not reported.
        result = _run("mypy", "--follow-imports=silent", *_files(".py", under=("jaxloss",)))
    else:
        result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout


def test_import_contracts_hold():
    """Families import only ``jaxloss._core`` (never another family), the core imports no family,
    and every module of the package is in a layer (``exhaustive``): a new module must be placed."""
    result = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout, result.stdout
