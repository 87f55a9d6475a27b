"""Run the benchmark matrix and print a markdown table.

Usage: ``python -m benchmarks.run [--quick] [--repeats N] [--out FILE] [--png FILE] [FAMILY ...]``
(families are the ``bench_<family>.py`` modules here; all by default). ``--out`` writes the markdown
table, ``--png`` a chart of the time ratios. The compile column is the first call of the jitted
jaxloss step minus a steady-state call.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import platform
from pathlib import Path

import jax

from benchmarks._harness import HEADER, format_row, run_cases, write_chart


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("families", nargs="*")
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats (CI smoke test)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown table here")
    parser.add_argument("--png", type=Path, default=None, help="also write a PNG chart of the ratios here")
    args = parser.parse_args()
    here = Path(__file__).parent
    names = sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    families = args.families or names
    repeats = args.repeats or (2 if args.quick else 7)
    device = jax.devices()[0]
    title = f"jaxloss benchmarks on {platform.machine()} {device.platform.upper()} ({device.device_kind}), jax {jax.__version__}, median of {repeats}"
    print(title)
    print(HEADER, flush=True)
    rows = []
    for family in families:
        module = importlib.import_module(f"benchmarks.bench_{family}")
        rows += run_cases(module.cases(args.quick), repeats)
    if args.png:
        write_chart(rows, args.png, title)
    if args.out:
        args.out.write_text(title + "\n\n" + HEADER + "\n" + "\n".join(format_row(r) for r in rows) + "\n")


if __name__ == "__main__":
    main()
