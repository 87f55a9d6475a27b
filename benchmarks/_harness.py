"""Timing and table helpers shared by the benchmark modules.

Each ``bench_<family>.py`` module defines ``cases(quick: bool) -> list[BenchCase]``, usually built
with :func:`pair`, and may define ``memory_table(quick: bool) -> str`` (a markdown table). Timings
are medians over repeats; the contenders of one case are timed interleaved, in a new random order
each round, so that a busy machine slows them alike and the ratios stay meaningful (a fixed order
would always time the same contender right after torch, whose idle OpenMP threads keep spinning for
a while after each call and slow whatever runs next). A case at a
small shape takes microseconds a call, below the timer's resolution and the noise of one call, so
each of its timed samples runs ``calls`` calls back to back (the per-call time is the sample divided
by ``calls``): that is what a training loop does, and what the dispatch overhead adds up in.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
import textwrap
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import torch

KINDS = ("forward", "value+grad")


@dataclasses.dataclass
class BenchCase:
    """One row: each contender is a zero-argument callable doing the whole measured step."""

    name: str
    jaxloss: Callable[[], Any]
    optax: Callable[[], Any] | None = None
    torch: Callable[[], Any] | None = None
    temp_bytes: Callable[[], int] | None = None  # compiled temporary memory of the jaxloss step
    # For slow cases: time at most this many calls (and warm up with the first call only).
    repeats: int | None = None
    # For small shapes: calls per timed sample (see the module docstring).
    calls: int = 1


def pair(
    name: str,
    size: str,
    ours: Callable[..., jax.Array],
    args: Sequence[Any],
    optax: Callable[..., jax.Array] | None = None,
    torch_loss: Callable[..., torch.Tensor] | None = None,
    torch_args: Sequence[Any] = (),
    grad_argnums: int | tuple[int, ...] = 0,
    repeats: int | None = None,
    kinds: Sequence[str] = KINDS,
    calls: int = 1,
) -> list[BenchCase]:
    """The ``"<name> forward <size>"`` and ``"<name> value+grad <size>"`` rows of one loss.

    ``ours`` (jaxloss) and ``optax`` map ``args`` to a scalar loss; ``torch_loss`` maps
    ``torch_args`` (the same inputs, possibly in torch's layout) to a scalar tensor. The forward row
    times ``jax.jit(fn)(*args)`` and ``torch_loss`` under ``torch.no_grad()``; the value+grad row
    times ``jax.jit(jax.value_and_grad(fn, grad_argnums))(*args)`` and torch's forward and backward
    with respect to the ``torch_args`` at the same positions. ``kinds`` selects the rows; ``calls``
    is the number of calls per timed sample (for small shapes).
    """
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown row kinds {sorted(unknown)}; expected some of {KINDS}")
    argnums = (grad_argnums,) if isinstance(grad_argnums, int) else tuple(grad_argnums)
    rows = []
    for kind in kinds:
        torch_step: Callable[[], Any] | None = None
        if kind == "forward":
            step = jax.jit(ours)
            optax_step = None if optax is None else jax.jit(optax)
            if torch_loss is not None:
                torch_step = _torch_forward(torch_loss, torch_args)
        else:
            step = jax.jit(jax.value_and_grad(ours, argnums=grad_argnums))
            optax_step = None if optax is None else jax.jit(jax.value_and_grad(optax, argnums=grad_argnums))
            if torch_loss is not None:
                torch_step = _torch_value_and_grad(torch_loss, torch_args, argnums)
        rows.append(
            BenchCase(
                name=f"{name} {kind} {size}",
                jaxloss=_bind(step, args),
                optax=None if optax_step is None else _bind(optax_step, args),
                torch=torch_step,
                temp_bytes=_bind(temp_bytes_of, (step, *args)),
                repeats=repeats,
                calls=calls,
            )
        )
    return rows


def _bind(fn: Callable[..., Any], args: Sequence[Any]) -> Callable[[], Any]:
    return lambda: fn(*args)


def _torch_forward(loss: Callable[..., torch.Tensor], args: Sequence[Any]) -> Callable[[], torch.Tensor]:
    def run() -> torch.Tensor:
        with torch.no_grad():
            return loss(*args)

    return run


def _torch_value_and_grad(
    loss: Callable[..., torch.Tensor], args: Sequence[Any], argnums: tuple[int, ...]
) -> Callable[[], tuple[torch.Tensor, tuple[torch.Tensor, ...]]]:
    def run() -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        inputs = list(args)
        for i in argnums:  # fresh leaves (no copy), so every call builds its own graph
            inputs[i] = args[i].detach().requires_grad_(True)
        value = loss(*inputs)
        grads = torch.autograd.grad(value, [inputs[i] for i in argnums])
        return value.detach(), grads

    return run


def _block(out: Any) -> None:
    for leaf in jax.tree_util.tree_leaves(out):
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()


def measure(
    fns: dict[str, Callable[[], Any]], repeats: int = 7, warmup: int = 2, calls: int = 1
) -> dict[str, float]:
    """Median seconds per call of each function, timed interleaved, plus ``"<name> first"``: the
    first call, which for a jitted step includes tracing and compilation. Each timed sample runs
    ``calls`` calls back to back and waits for the last result."""
    first: dict[str, float] = {}
    for name, fn in fns.items():
        start = time.perf_counter()
        _block(fn())
        first[f"{name} first"] = time.perf_counter() - start
        for _ in range(warmup - 1):
            _block(fn())
    samples: dict[str, list[float]] = {k: [] for k in fns}
    order = list(fns)
    shuffle = random.Random(0).shuffle
    for _ in range(repeats):
        shuffle(order)
        for name in order:
            fn = fns[name]
            start = time.perf_counter()
            for _ in range(calls - 1):
                fn()
            _block(fn())
            samples[name].append((time.perf_counter() - start) / calls)
    return {**{k: statistics.median(v) for k, v in samples.items()}, **first}


def temp_bytes_of(jitted: Any, *args: Any, **kwargs: Any) -> int:
    """Temporary (scratch) bytes of the compiled function, from XLA's memory analysis."""
    return int(jitted.lower(*args, **kwargs).compile().memory_analysis().temp_size_in_bytes)


SMALL_REPEATS = 21
"""At least this many samples for the small-shape cases (``calls > 1``): a sample takes milliseconds,
and a microsecond-scale call needs more of them to have a stable median on a shared machine."""


def run_cases(cases: list[BenchCase], repeats: int) -> list[dict[str, Any]]:
    """Time each case (printing its row as it goes); a case's own ``repeats`` caps the global one,
    and small-shape cases take at least :data:`SMALL_REPEATS` samples (outside quick runs)."""
    rows = []
    for case in cases:
        fns = {"jaxloss": case.jaxloss}
        if case.optax is not None:
            fns["optax"] = case.optax
        if case.torch is not None:
            fns["torch"] = case.torch
        n = repeats if case.repeats is None else min(case.repeats, repeats)
        if case.calls > 1 and repeats > 2:  # not in --quick runs
            n = max(n, SMALL_REPEATS)
        t = measure(fns, repeats=n, warmup=2 if case.repeats is None else 1, calls=case.calls)
        rows.append(
            {
                "case": case.name,
                **t,
                "repeats": n,
                "calls": case.calls,
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
        if k not in r:
            return "—"
        return f"{r[k] * 1e3:.2f}" if r[k] >= 1e-3 else f"{r[k] * 1e3:.4f}"  # small shapes: microseconds

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
    ax.set_title(textwrap.fill(title, 100), fontsize=8)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
