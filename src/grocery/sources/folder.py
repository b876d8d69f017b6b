"""The `path` source: a folder that holds the seven CSV files (a retailer's own export), or a zip
archive of them (the dataset as Kaggle's page downloads it).

A folder with some of them is delivered as it is, and `load` names the missing ones; a folder with
none of them is the wrong folder, and nothing is landed from it. An archive is unpacked into the
extract's scratch folder, and the folder in it holding the most of the files is delivered.

The folder (or archive) may be in Cloud Storage, `gs://bucket/prefix`: where the stages run in pods
of their own (`execution.mode: kubernetes`), a retailer's deliveries are dropped in a bucket. Its
CSV files (or the archive) are copied into the scratch folder, then read as a local folder is.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path

from grocery.errors import SourceError
from grocery.interval import DataInterval
from grocery.sources.archive import find_folder, is_archive, unpack
from grocery.sources.base import Delivery, table_of
from grocery.tables import TABLES

_HINT = "pass the folder of the seven CSV files, or a .zip of them, with --input"


@dataclass(frozen=True)
class FolderSource:
    path: Path
    shown: str | None = None  # how messages name it, when not by its path (a copy of a bucket's)

    def fetch(self, workdir: Path, interval: DataInterval) -> Delivery:
        description = f"path {self.shown or self.path.resolve()}"
        if self.path.is_file() and is_archive(self.path):
            unpacked = workdir / "unpacked"
            what = f"input archive {self.shown or self.path}"
            unpack(self.path, unpacked, what, hint="download or copy the archive again")
            folder = find_folder(unpacked, what, hint=_HINT, every_file=False)
            return Delivery(folder=folder, description=description)
        if not self.path.is_dir():
            raise SourceError(
                f"input folder {self.shown or self.path} does not exist",
                hint="pass a folder holding the seven CSV files, or a .zip of them, with --input",
            )
        expected = [table.file_name for table in TABLES]
        delivery = Delivery(folder=self.path, description=description, shown=self.shown)
        if not {table.name for table in TABLES} & delivery.files().keys():
            archives = sorted(self.path.glob("*.zip"))  # the dataset as Kaggle's page downloads it
            raise SourceError(
                f"input folder {self.shown or self.path} holds none of the dataset's files ({', '.join(expected)})",
                hint=f"pass the archive itself: --input {archives[0]}" if archives else _HINT,
            )
        return delivery


@dataclass(frozen=True)
class BucketFolderSource:
    """The `path` source on Cloud Storage: `gs://bucket/prefix`, a folder or a .zip archive."""

    uri: str

    def fetch(self, workdir: Path, interval: DataInterval) -> Delivery:
        import fsspec

        from grocery.cloud import gcs_storage_options

        fs = fsspec.filesystem("gs", **gcs_storage_options())
        path = self.uri.removeprefix("gs://").rstrip("/")
        copied = workdir / "bucket"
        copied.mkdir(parents=True, exist_ok=True)
        if fs.isfile(path):  # an archive (FolderSource says what else it is not)
            local = copied / posixpath.basename(path)
            fs.get_file(path, local)
            return FolderSource(local, shown=self.uri).fetch(workdir, interval)
        objects = fs.ls(path, detail=False) if fs.isdir(path) else []
        wanted = [p for p in objects if table_of(Path(p)) and fs.isfile(p)]
        if not wanted:
            raise SourceError(
                f"input folder {self.uri} "
                + ("holds none of the dataset's files" if objects else "does not exist"),
                hint="set source.path to the gs:// folder of the seven CSV files, or to a .zip of them",
            )
        for remote in wanted:
            fs.get_file(remote, copied / posixpath.basename(remote))
        return FolderSource(copied, shown=self.uri).fetch(workdir, interval)
