"""Benchmarks: each measures the pipeline against a baseline run in the same process tree, same data.

Figures are printed as ratios against that baseline, because these machines are shared and noisy;
no test asserts a speed. With `--repeat N` a benchmark measures N times, one after the other, and
judges the median of each ratio; the report shows the run with the median main ratio and every
run's ratios, so the spread is visible.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

R = TypeVar("R")


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss_bytes: int
    stdout: str


def run_measured(args: list[str], env: dict[str, str] | None = None) -> Measured:
    """Run a command, returning its wall time and the peak resident memory of it and its descendants."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=err, text=True, env={**os.environ, **(env or {})})
        # wait4 gives this child's own resource usage (its waited-for descendants included on Linux).
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            sys.stderr.write(err.read()[-4000:])
            raise RuntimeError(f"{' '.join(args)} failed with exit code {proc.returncode}")
        return Measured(seconds, usage.ru_maxrss * 1024, out.read())


def grocery_command(*args: str) -> list[str]:
    """The grocery CLI of this interpreter, as a command line."""
    return [sys.executable, "-m", "grocery.cli", *args]


def format_seconds(figures: dict[str, float]) -> str:
    """Named durations for a report line, e.g. `extract 3.7s, load 14.5s`."""
    return ", ".join(f"{name} {seconds:.1f}s" for name, seconds in figures.items())


def verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


def median_run(runs: Sequence[R], key: Callable[[R], float]) -> R:
    """The run whose key is the median (the lower of the two middle ones for an even count)."""
    return sorted(runs, key=key)[(len(runs) - 1) // 2]


def spread(values: Sequence[float], digits: int = 2) -> str:
    """`4.10` for one value; `4.10 (median of 3.77, 4.10, 4.81)` for several, in the order measured."""
    median = f"{statistics.median(values):.{digits}f}"
    if len(values) == 1:
        return median
    return f"{median} (median of {', '.join(f'{v:.{digits}f}' for v in values)})"
