"""What a stage runs with: the spec, where home is, the data interval, the lake and the warehouse."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from grocery import lake as lake_layout
from grocery.config import PipelineSpec
from grocery.errors import StageError
from grocery.interval import DataInterval
from grocery.progress import Progress

if TYPE_CHECKING:
    from grocery.lake import Lake
    from grocery.warehouse.base import Warehouse

DEFAULT_HOME = Path(".grocery")
HOME_LOCK = ".lock"  # in the home: held by the grocery command working there, naming it
# A stage's work files in the home (extract's copy of a delivery, load's spill files) are in a
# folder named so: removed when the stage ends, or by the next run when a killed one left it.
SCRATCH_PREFIX = ".scratch-"


@dataclass
class Context:
    """Everything a stage needs; built once per command, shared by the stages it runs."""

    spec: PipelineSpec = field(default_factory=PipelineSpec)
    home: Path = DEFAULT_HOME
    interval: DataInterval = field(default_factory=DataInterval.everything)
    progress: Progress = field(default_factory=Progress.quiet)
    # The ingest date this command's extract landed (set by `grocery.extract.run`): what its load loads.
    landed: date | None = None

    def __post_init__(self) -> None:
        from grocery.warehouse import check_warehouse

        check_warehouse(self.spec.warehouse, self.home)

    @property
    def lake_uri(self) -> str:
        """Where the lake is: spec.lake, else <home>/lake (naming it creates nothing)."""
        return self.spec.lake or lake_layout.local_uri(self.home / "lake")

    @cached_property
    def lake(self) -> Lake:
        from grocery.lake import Lake

        return Lake(self.lake_uri)

    @cached_property
    def warehouse(self) -> Warehouse:
        from grocery.warehouse import open_warehouse

        return open_warehouse(self.spec.warehouse, home=self.home)

    def close(self) -> None:
        if "warehouse" in self.__dict__:
            self.warehouse.close()
            del self.__dict__["warehouse"]

    @contextlib.contextmanager
    def scratch(self, stage: str) -> Iterator[Path]:
        """A scratch folder in the home for a stage's work files, removed when the block ends."""
        from grocery.errors import make_folder

        make_folder(self.home, "the home")
        with tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{stage}-", dir=self.home) as folder:
            yield Path(folder)

    def remove_leftovers(self) -> None:
        """Remove what commands killed in the middle of their work left: the scratch folders of the
        home, and the half-swapped folders of its own lake (`Lake.remove_leftovers`). Only for the
        command that holds the home (`hold_home`): nothing else works in it then. A lake the spec
        names elsewhere is left alone: another home's command may be writing it."""
        if self.home.is_dir():
            for entry in self.home.iterdir():
                if entry.name.startswith(SCRATCH_PREFIX) and entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
        if not self.spec.lake and lake_layout.exists_without_making(self.lake_uri):
            self.lake.remove_leftovers()

    def ingest_dates(self) -> list[date]:
        """Every ingest date with a manifest in the lake, oldest first. A file that extract does not
        write (ingest_date=2018-02-30.json, notes.txt) is no delivery, and no reason to fail."""
        found = []
        for name in self.lake.listdir(lake_layout.MANIFESTS):
            day = lake_layout.partition_date(name.removesuffix(".json"), "ingest_date")
            if name.endswith(".json") and day is not None:
                found.append(day)
        return sorted(found)

    def ingest_date(self) -> date:
        """The ingest partition this run works on: the interval's end, else the one this command's
        extract landed (a run over everything lands its last sales date, which need not be the newest
        delivery), else the newest in the lake."""
        if self.interval.end is not None:
            return self.interval.end
        if self.landed is not None:
            return self.landed
        made = lake_layout.exists_without_making(self.lake_uri)  # Lake(uri) makes a local lake's folder
        landed = self.ingest_dates() if made else []
        if not landed:
            raise StageError(
                f"nothing has been extracted into {self.lake.uri() if made else self.lake_uri} yet",
                hint="run `grocery extract` first",
            )
        return landed[-1]


@contextlib.contextmanager
def hold_home(home: Path) -> Iterator[None]:
    """Work in a home alone: a second grocery command on the same home stops at once with one line,
    instead of landing, loading or deleting beside this one (DuckDB's own lock would stop it only
    at its first write to the warehouse, after extract).

    The lock is the kernel's (`flock`), so it ends with the process however the process ends. A
    home on a filesystem without locks is used without one, and so is a home this user cannot make:
    a command that writes nothing there, such as a Spark stage's driver in the Spark image's
    read-only working folder, needs none."""
    try:
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(home / HOME_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        fd = None
    try:
        if fd is not None:
            _lock(fd, home)
        yield
    finally:
        if fd is not None:
            os.close(fd)


def working_in(home: Path) -> str | None:
    """The grocery command working in a home now (as its lock file names it), or None; takes nothing."""
    try:
        fd = os.open(home / HOME_LOCK, os.O_RDONLY)
    except OSError:  # no home, or no lock file: nobody has worked there
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # granted unless a command holds it
    except BlockingIOError:
        return os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
    except OSError:  # no locks on this filesystem
        return None
    finally:
        os.close(fd)  # (closing releases a shared lock this took)
    return None


def _lock(fd: int, home: Path) -> None:
    """Take the home's lock file, open at fd, and write this command into it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
        raise StageError(
            f"another grocery command is working in {home} ({holder})",
            hint="wait for it to end, or give this one another --home",
        ) from None
    except OSError:  # no locks on this filesystem
        return
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"PID {os.getpid()}: {shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])}".encode(), 0)
