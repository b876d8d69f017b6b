"""Progress for long work: rich status lines on a terminal, nothing when quiet (tests, Airflow logs);
and the guard that lets a run outlive whoever reads its output (`QuietWhenUnread`)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

from rich.console import Console
from rich.text import Text

from grocery.visible import visible


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

    def info(self, message: str | Text) -> None:
        """One line. A str is printed as it is, never read as rich markup (a path, a file name or a
        summary may hold "[...]"), with the characters a terminal would act on shown as escapes
        (`grocery.visible`); styles are given as a `rich.text.Text`."""
        if self.console:
            self.console.print(
                visible(message) if isinstance(message, str) else message, highlight=False, markup=False
            )

    @contextmanager
    def step(self, message: str) -> Iterator[None]:
        """Show a spinner while a step runs, then its duration; the message is plain text, as info's."""
        started = time.perf_counter()
        if self.console is None:
            yield
            return
        message = visible(message)  # a file name from the delivery may hold anything
        with self.console.status(Text(f"{message}...")):  # a str would be read as markup
            yield
        self.console.print(
            Text.assemble(
                "  ", ("done", "green"), f" {message} ", (f"({time.perf_counter() - started:.1f}s)", "dim")
            ),
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


class QuietWhenUnread:
    """A text stream that falls silent once its reader has gone, instead of failing the work.

    `grocery run 2>&1 | head` closes the pipe after a few lines, and Python raises BrokenPipeError
    at the next write: in the main thread a run would end in a traceback, and in a dbt worker thread
    (dbt's callback prints each node) dbt would wait forever for a node that never reports back.
    The first such write points the stream's file descriptor at /dev/null instead, so the run goes
    on, unwatched, to its end and its exit status; later writes, from any library, go nowhere.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._silence()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._silence()

    def _silence(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())
        finally:
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, buffer, ...
        return getattr(self._stream, name)


def quiet_when_unread() -> None:
    """Guard the process's stdout and stderr with `QuietWhenUnread` (the console script does, once)."""
    if not isinstance(sys.stdout, QuietWhenUnread):
        sys.stdout = QuietWhenUnread(sys.stdout)
    if not isinstance(sys.stderr, QuietWhenUnread):
        sys.stderr = QuietWhenUnread(sys.stderr)
