"""Rewrite the generated blocks of README.md: the table of losses (from the package's catalogue)
and the latest benchmark results (from ``benchmarks/results/cpu.md``, written by
``python -m benchmarks.run --out benchmarks/results/cpu.md --png benchmarks/results/cpu.png``)."""

import re
from pathlib import Path

from jaxloss._core.catalogue import markdown as catalogue_markdown

root = Path(__file__).resolve().parents[1]
readme = root / "README.md"
text = readme.read_text()
blocks = {
    "losses-table": catalogue_markdown(),
    "benchmark-results": (root / "benchmarks" / "results" / "cpu.md").read_text().strip(),
}
for marker, content in blocks.items():
    block = f"<!-- {marker} -->\n{content}\n<!-- /{marker} -->"
    text, count = re.subn(rf"<!-- {marker} -->\n.*?<!-- /{marker} -->", lambda _: block, text, flags=re.S)
    if count != 1:
        raise SystemExit(f"README.md has no <!-- {marker} --> block")
readme.write_text(text)
print("README.md tables updated")
