"""The README as a newcomer meets it: its demo command, run verbatim in a copy of the package, makes
a virtual environment in which the demo passes and every Python code block of the README runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()

# runs each README block in its own namespace and names the first that fails
RUNNER = """
import re, sys, traceback
blocks = re.findall(r"```python\\n(.*?)\\n```", open(sys.argv[1]).read(), flags=re.DOTALL)
for i, block in enumerate(blocks):
    try:
        exec(compile(block, f"README block {i}", "exec"), {"__name__": f"readme_block_{i}"})
    except Exception:
        print(f"README block {i} failed:\\n{block}\\n{traceback.format_exc()}")
        sys.exit(1)
print(f"{len(blocks)} README blocks ran")
"""


def test_readme_blocks_run_in_the_environment_the_demo_command_makes(tmp_path):
    demo = re.findall(r"```bash\n(.*?)\n```", README, flags=re.DOTALL)[0]
    copy = tmp_path / "jaxloss-checkout"
    copy.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, copy / name)
    shutil.copytree(ROOT / "jaxloss", copy / "jaxloss", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    # 8 CPU devices for the multi-device examples (the README says so next to them)
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    made = subprocess.run(["bash", "-euo", "pipefail", "-c", demo], cwd=copy, env=env, capture_output=True, text=True,
                          timeout=1200)
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    assert re.search(r"^\d+ passed, 0 failed", made.stdout, flags=re.MULTILINE), made.stdout[-2000:]
    python = copy / ".venv" / "bin" / "python"
    ran = subprocess.run([str(python), "-c", RUNNER, str(ROOT / "README.md")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=1200)
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-3000:]
    count = len(re.findall(r"```python\n", README))
    assert f"{count} README blocks ran" in ran.stdout


def test_the_demo_environment_has_no_test_dependencies():
    """The demo command installs jaxloss and its examples' needs, not the test suite's (torch)."""
    demo = re.findall(r"```bash\n(.*?)\n```", README, flags=re.DOTALL)[0]
    assert "torch" not in demo and "[test]" not in demo
