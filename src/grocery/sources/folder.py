"""The `path` source: a folder that holds the seven CSV files (a retailer's own export)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grocery.errors import SourceError
from grocery.interval import DataInterval
from grocery.sources.base import Delivery


@dataclass(frozen=True)
class FolderSource:
    path: Path

    def fetch(self, workdir: Path, interval: DataInterval) -> Delivery:
        if not self.path.is_dir():
            raise SourceError(
                f"input folder {self.path} does not exist",
                hint="pass a folder holding the seven CSV files with --input",
            )
        return Delivery(folder=self.path, description=f"path {self.path.resolve()}")
