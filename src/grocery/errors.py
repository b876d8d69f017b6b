"""Errors the pipeline raises on purpose: each says in one line what is wrong and what to do.

The CLI prints `error: <message> (<hint>)` for these and exits with the error's `exit_code` (1 unless
it says otherwise); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import signal
from pathlib import Path


class GroceryError(Exception):
    """A failure with a message for people and a hint on what to do about it."""

    exit_code = 1  # the CLI's exit status for it

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(GroceryError):
    """The pipeline spec or the command's options are invalid."""


class InputError(GroceryError):
    """Raw input cannot be used at all: a missing file, a wrong header, an empty or non-CSV file."""


class SourceError(GroceryError):
    """The source could not deliver its files (download failed, folder missing, checksum mismatch)."""


class StageError(GroceryError):
    """A stage could not complete (a failed dbt test, a reconciliation that does not add up)."""


class Interrupted(GroceryError):
    """A run stopped by a signal in the middle of a stage: Ctrl-C (SIGINT), or SIGTERM (a pod being
    deleted, an Airflow task timing out). The command exits 128 + the signal's number, as a shell
    reports a process the signal stopped: 130 or 143."""

    def __init__(self, stage: str, by: signal.Signals = signal.SIGINT) -> None:
        super().__init__(
            f"{stopped_by(by)} in the {stage} stage",
            hint="the stages before it are done; run the same command again to complete the run",
        )
        self.exit_code = 128 + by.value


def stopped_by(signum: signal.Signals) -> str:
    """How a command says a signal stopped it: "interrupted" (Ctrl-C), "terminated (SIGTERM)"."""
    return "interrupted" if signum == signal.SIGINT else f"terminated ({signum.name})"


def interrupt_behind(exc: BaseException | None) -> KeyboardInterrupt | None:
    """The Ctrl-C (or the CLI's SIGTERM, raised as one) an exception is, or that a library was
    handling when it raised its own (py4j cut off from the JVM in the middle of a call, dbt closing a
    connection still in use): found along the exception's cause and context. None for any other."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


HOME_HINT = "pass a --home you can write to, or point lake and warehouse.path in grocery.yaml at one"


def make_folder(path: Path, what: str, hint: str = HOME_HINT) -> Path:
    """Create a folder a command writes in, with its parents, or stop with one line saying why not
    (a parent that is a file, a place the user may not write)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = "a file has that name" if isinstance(exc, FileExistsError) else exc.strerror or exc
        raise ConfigError(f"cannot create {what} {path}: {reason}", hint=hint) from None
    return path
