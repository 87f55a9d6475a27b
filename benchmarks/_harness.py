"""Timing and table helpers shared by the benchmark modules.

Each ``bench_<family>.py`` module defines ``cases(quick: bool) -> list[BenchCase]``. Timings are
medians over repeats; the contenders of one case are timed interleaved (jaxloss, optax, torch,
jaxloss, ...) so that a busy machine slows them alike and the ratios stay meaningful.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax


@dataclasses.dataclass
class BenchCase:
    """One row: each contender is a zero-argument callable doing the whole measured step."""

    name: str
    jaxloss: Callable[[], Any]
    optax: Callable[[], Any] | None = None
    torch: Callable[[], Any] | None = None
    temp_bytes: Callable[[], int] | None = None  # compiled temporary memory of the jaxloss step


def _block(out: Any) -> None:
    for leaf in jax.tree_util.tree_leaves(out):
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()


def measure(fns: dict[str, Callable[[], Any]], repeats: int = 7, warmup: int = 2) -> dict[str, float]:
    """Median seconds per call of each function, timed interleaved, plus ``"<name> first"``: the
    first call, which for a jitted step includes tracing and compilation."""
    first: dict[str, float] = {}
    for name, fn in fns.items():
        start = time.perf_counter()
        _block(fn())
        first[f"{name} first"] = time.perf_counter() - start
        for _ in range(warmup - 1):
            _block(fn())
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            _block(fn())
            samples[name].append(time.perf_counter() - start)
    return {**{k: statistics.median(v) for k, v in samples.items()}, **first}


def temp_bytes_of(jitted: Any, *args: Any, **kwargs: Any) -> int:
    """Temporary (scratch) bytes of the compiled function, from XLA's memory analysis."""
    return int(jitted.lower(*args, **kwargs).compile().memory_analysis().temp_size_in_bytes)


def run_cases(cases: list[BenchCase], repeats: int) -> list[dict[str, Any]]:
    rows = []
    for case in cases:
        fns = {"jaxloss": case.jaxloss}
        if case.optax is not None:
            fns["optax"] = case.optax
        if case.torch is not None:
            fns["torch"] = case.torch
        t = measure(fns, repeats=repeats)
        rows.append(
            {
                "case": case.name,
                **t,
                "temp": case.temp_bytes() if case.temp_bytes is not None else None,
            }
        )
        print(format_row(rows[-1]), flush=True)
    return rows


HEADER = (
    "| case | jaxloss ms | optax ms | torch ms | jaxloss/optax | jaxloss/torch | jaxloss temp MiB | jaxloss compile ms |\n"
    "|---|---|---|---|---|---|---|---|"
)


def format_row(r: dict[str, Any]) -> str:
    def ms(k: str) -> str:
        return f"{r[k] * 1e3:.2f}" if k in r else "—"

    def ratio(k: str) -> str:
        return f"{r['jaxloss'] / r[k]:.2f}" if k in r else "—"

    temp = "—" if r.get("temp") is None else f"{r['temp'] / 2**20:.1f}"
    compile_ms = f"{max(r['jaxloss first'] - r['jaxloss'], 0.0) * 1e3:.0f}"  # first call minus a steady call
    return (
        f"| {r['case']} | {ms('jaxloss')} | {ms('optax')} | {ms('torch')} | {ratio('optax')} | {ratio('torch')} "
        f"| {temp} | {compile_ms} |"
    )


def write_chart(rows: list[dict[str, Any]], path: Any, title: str) -> None:
    """A PNG bar chart of jaxloss's time relative to optax and torch for each case (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["case"] for r in rows]
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(rows) + 1.5))
    for offset, other in ((-0.2, "optax"), (0.2, "torch")):
        values = [r["jaxloss"] / r[other] if other in r else float("nan") for r in rows]
        ax.barh([i + offset for i in range(len(rows))], values, height=0.4, label=f"jaxloss / {other}")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yticks(range(len(rows)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("time ratio (< 1: jaxloss faster)")
    ax.set_title(title, fontsize=8)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
