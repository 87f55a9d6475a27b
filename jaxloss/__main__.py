"""``python -m jaxloss``: the catalogue of losses, then a self-check on the current backend.

Usage: ``python -m jaxloss [--list | --markdown]``; ``--help`` prints the usage, an unknown option
is an error (exit status 2). The self-check exits with status 1 if any loss fails.
"""

from __future__ import annotations

import argparse
import sys

import jaxloss
from jaxloss._core.catalogue import CATALOGUE, markdown, plain_summary


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m jaxloss",
        description="List jaxloss's losses, then check every one, jitted on the current JAX backend, "
        "against values computed by torch and stored with the package.",
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument("--list", action="store_true", help="print the catalogue only")
    what.add_argument("--markdown", action="store_true", help="print the README's table of losses (markdown)")
    return p


def main(argv: list[str]) -> int:
    options = parser().parse_args(argv)
    if options.markdown:
        print(markdown())
        return 0
    print(f"jaxloss {jaxloss.__version__}: {len(CATALOGUE)} losses\n")
    width = max(len(name) for name in CATALOGUE)
    for info in CATALOGUE.values():
        print(f"  {info.family:<18} {info.name:<{width}}  {plain_summary(info)}")
    if options.list:
        return 0
    from jaxloss import _selfcheck

    return 0 if _selfcheck.run() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
