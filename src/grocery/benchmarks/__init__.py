"""Benchmarks: each measures the pipeline against a baseline run in the same process tree, same data.

Figures are printed as ratios against that baseline, because these machines are shared and noisy;
no test asserts a speed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass


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
