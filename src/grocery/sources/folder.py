"""The `path` source: a folder that holds the seven CSV files (a retailer's own export), or a zip
archive of them (the dataset as Kaggle's page downloads it).

A folder with some of them is delivered as it is, and `load` names the missing ones; a folder with
none of them is the wrong folder, and nothing is landed from it. An archive is unpacked into the
extract's scratch folder, and the folder in it holding the most of the files is delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grocery.errors import SourceError
from grocery.interval import DataInterval
from grocery.sources.archive import find_folder, is_archive, unpack
from grocery.sources.base import Delivery
from grocery.tables import TABLES

_HINT = "pass the folder of the seven CSV files, or a .zip of them, with --input"


@dataclass(frozen=True)
class FolderSource:
    path: Path

    def fetch(self, workdir: Path, interval: DataInterval) -> Delivery:
        description = f"path {self.path.resolve()}"
        if self.path.is_file() and is_archive(self.path):
            unpacked = workdir / "unpacked"
            what = f"input archive {self.path}"
            unpack(self.path, unpacked, what, hint="download or copy the archive again")
            folder = find_folder(unpacked, what, hint=_HINT, every_file=False)
            return Delivery(folder=folder, description=description)
        if not self.path.is_dir():
            raise SourceError(
                f"input folder {self.path} does not exist",
                hint="pass a folder holding the seven CSV files, or a .zip of them, with --input",
            )
        expected = [table.file_name for table in TABLES]
        delivery = Delivery(folder=self.path, description=description)
        if not {table.name for table in TABLES} & delivery.files().keys():
            archives = sorted(self.path.glob("*.zip"))  # the dataset as Kaggle's page downloads it
            raise SourceError(
                f"input folder {self.path} holds none of the dataset's files ({', '.join(expected)})",
                hint=f"pass the archive itself: --input {archives[0]}" if archives else _HINT,
            )
        return delivery
