"""The `path` source: a folder that holds the seven CSV files (a retailer's own export).

A folder with some of them is delivered as it is, and `load` names the missing ones; a folder with
none of them is the wrong folder, and nothing is landed from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grocery.errors import SourceError
from grocery.interval import DataInterval
from grocery.sources.base import Delivery
from grocery.tables import TABLES


@dataclass(frozen=True)
class FolderSource:
    path: Path

    def fetch(self, workdir: Path, interval: DataInterval) -> Delivery:
        if not self.path.is_dir():
            raise SourceError(
                f"input folder {self.path} does not exist",
                hint="pass a folder holding the seven CSV files with --input",
            )
        expected = [table.file_name for table in TABLES]
        delivery = Delivery(folder=self.path, description=f"path {self.path.resolve()}")
        if not {table.name for table in TABLES} & delivery.files().keys():
            archives = sorted(self.path.glob("*.zip"))  # the dataset as Kaggle's page downloads it
            raise SourceError(
                f"input folder {self.path} holds none of the dataset's files ({', '.join(expected)})",
                hint=f"unzip {archives[0].name} and pass the folder of its CSV files with --input"
                if archives
                else "pass the folder of the seven CSV files with --input",
            )
        return delivery
