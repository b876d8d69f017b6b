"""Progress for long work: rich status lines on a terminal, nothing when quiet (tests, Airflow logs)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console


@dataclass
class Progress:
    console: Console | None = None

    @classmethod
    def quiet(cls) -> Progress:
        return cls(None)

    @classmethod
    def to_terminal(cls) -> Progress:
        # Lines are never cut to a width: a log (Airflow's, a pod's) keeps each one whole, for grep.
        return cls(Console(stderr=True, soft_wrap=True))

    def info(self, message: str) -> None:
        if self.console:
            self.console.print(message, highlight=False)

    @contextmanager
    def step(self, message: str) -> Iterator[None]:
        """Show a spinner while a step runs, then its duration."""
        started = time.perf_counter()
        if self.console is None:
            yield
            return
        with self.console.status(f"{message}..."):
            yield
        self.console.print(
            f"  [green]done[/green] {message} [dim]({time.perf_counter() - started:.1f}s)[/dim]",
            highlight=False,
        )


class Stopwatch:
    """Seconds per step of a stage or job: each call ends a step (it began at the previous call)."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._started = time.perf_counter()

    def __call__(self, step: str) -> None:
        now = time.perf_counter()
        self.timings[step] = round(now - self._started, 2)
        self._started = now
