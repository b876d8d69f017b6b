"""What a stage runs with: the spec, where home is, the data interval, the lake and the warehouse."""

from __future__ import annotations

import re
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
_MANIFEST_NAME = re.compile(r"^ingest_date=(\d{4}-\d{2}-\d{2})\.json$")


@dataclass
class Context:
    """Everything a stage needs; built once per command, shared by the stages it runs."""

    spec: PipelineSpec = field(default_factory=PipelineSpec)
    home: Path = DEFAULT_HOME
    interval: DataInterval = field(default_factory=DataInterval.everything)
    progress: Progress = field(default_factory=Progress.quiet)

    @property
    def lake_uri(self) -> str:
        """Where the lake is: spec.lake, else <home>/lake (naming it creates nothing)."""
        return self.spec.lake or (self.home / "lake").resolve().as_uri()

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

    def ingest_dates(self) -> list[date]:
        """Every ingest date with a manifest in the lake, oldest first."""
        found = []
        for name in self.lake.listdir(lake_layout.MANIFESTS):
            m = _MANIFEST_NAME.match(name)
            if m:
                found.append(date.fromisoformat(m.group(1)))
        return sorted(found)

    def ingest_date(self) -> date:
        """The ingest partition this run works on: the interval's end, else the newest in the lake."""
        if self.interval.end is not None:
            return self.interval.end
        landed = self.ingest_dates()
        if not landed:
            raise StageError(
                f"nothing has been extracted into {self.lake.uri()} yet", hint="run `grocery extract` first"
            )
        return landed[-1]
