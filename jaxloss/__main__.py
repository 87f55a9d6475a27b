"""``python -m jaxloss``: the catalogue of losses, then a self-check on the current backend.

Options: ``--list`` (catalogue only), ``--markdown`` (the README's table of losses).
"""

from __future__ import annotations

import sys

import jaxloss
from jaxloss._core.catalogue import CATALOGUE, markdown


def main(argv: list[str]) -> int:
    if "--markdown" in argv:
        print(markdown())
        return 0
    print(f"jaxloss {jaxloss.__version__}: {len(CATALOGUE)} losses\n")
    width = max(len(name) for name in CATALOGUE)
    for info in CATALOGUE.values():
        print(f"  {info.family:<16} {info.name:<{width}}  {info.summary}")
    if "--list" in argv:
        return 0
    from jaxloss import _selfcheck

    return 0 if _selfcheck.run() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
