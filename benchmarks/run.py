"""Run the benchmark matrix and print markdown tables.

Usage: ``python -m benchmarks.run [--quick] [--repeats N] [--out FILE] [--png FILE] [FAMILY ...]``
(families are the ``bench_<family>.py`` modules here; all by default). Every loss gets a forward and a
value+grad row. ``--out`` writes the markdown (a title line naming the machine and versions, the
timing table, then the tables of the modules that define ``memory_table``), ``--png`` a chart of the
time ratios. The compile column is the first call of the jitted jaxloss step minus a steady-state call.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.metadata
import os
import pkgutil
import platform
import time
from pathlib import Path

import jax

from benchmarks._harness import HEADER, format_row, run_cases, write_chart


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def title(repeats: int) -> str:
    """One line naming the machine, the versions, the date and the number of timed calls."""
    device = jax.devices()[0]
    versions = ", ".join(f"{p} {_version(p)}" for p in ("jax", "jaxlib", "torch", "optax"))
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"jaxloss benchmarks on {_cpu_model()} ({os.cpu_count()} cores, {platform.machine()}), "
        f"jax device {device.platform.upper()} ({device.device_kind}); {versions}; {date}; "
        f"median of {repeats} timed calls per contender"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("families", nargs="*")
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats (CI smoke test)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown tables here")
    parser.add_argument("--png", type=Path, default=None, help="also write a PNG chart of the ratios here")
    args = parser.parse_args()
    start = time.perf_counter()
    here = Path(__file__).parent
    names = sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    families = args.families or names
    repeats = args.repeats or (2 if args.quick else 7)
    heading = title(repeats)
    print(heading)
    print(HEADER, flush=True)
    rows = []
    memory_tables = []
    for family in families:
        module = importlib.import_module(f"benchmarks.bench_{family}")
        rows += run_cases(module.cases(args.quick), repeats)
        if hasattr(module, "memory_table"):
            memory_tables.append(module.memory_table(args.quick))
    fewer = [f"{r['case']} ({r['repeats']})" for r in rows if r["repeats"] < repeats]
    notes = [f"Timed with fewer calls (slow cases): {', '.join(fewer)}."] if fewer else []
    small = [r for r in rows if r["calls"] > 1]
    if small:
        notes.append(
            f"Small shapes ({len(small)} rows: (64, 10), N=64, ...): each timed sample is "
            f"{', '.join(sorted({str(r['calls']) for r in small}, key=int))} consecutive calls (time per call "
            f"shown), median of {max(r['repeats'] for r in small)} samples."
        )
    for text in notes + memory_tables:
        print("\n" + text, flush=True)
    if args.png:
        write_chart(rows, args.png, heading)
    wall = f"Total wall time: {time.perf_counter() - start:.0f} s."
    print("\n" + wall)
    if args.out:
        table = HEADER + "\n" + "\n".join(format_row(r) for r in rows)
        args.out.write_text("\n\n".join([heading, table, *notes, *memory_tables, wall]) + "\n")


if __name__ == "__main__":
    main()
