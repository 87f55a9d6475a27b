"""Rewrite the table of losses in README.md from the package's catalogue."""

import re
from pathlib import Path

from jaxloss._api import catalogue_markdown

readme = Path(__file__).resolve().parents[1] / "README.md"
text = readme.read_text()
block = "<!-- losses-table -->\n" + catalogue_markdown() + "\n<!-- /losses-table -->"
new, count = re.subn(r"<!-- losses-table -->\n.*?<!-- /losses-table -->", lambda _: block, text, flags=re.S)
if count != 1:
    raise SystemExit("README.md has no <!-- losses-table --> block")
readme.write_text(new)
print("README.md table updated")
