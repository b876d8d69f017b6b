"""The lake: one layout in a local folder (`file://`) or a GCS bucket (`gs://`), through fsspec.

Paths inside the lake are relative strings such as `raw/sales/ingest_date=2018-05-09/sales.csv`;
`Lake.uri()` turns one into the absolute URI that DuckDB, Spark or BigQuery read. Writers build a
folder locally and publish it with `publish_dir`, which swaps a whole partition at once on a local
lake, so a reader never sees half of one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import fsspec

from grocery.errors import make_folder
from grocery.tables import Kind

RAW = "raw"
MANIFESTS = "raw/_manifests"
STAGED = "staged"
QUARANTINE = "quarantine"
EXPORTS = "exports"
ANALYTICS = "analytics"
# The hidden sibling of a file or folder a local lake replaces (`_sibling`), which a swap cut short
# leaves behind.
_SWAP_LEFTOVER = re.compile(r"\.(?P<name>.+)\.[0-9a-f]{32}\.(?P<kind>tmp|old)")


def partition(name: str, value: date | str) -> str:
    """A Hive-style partition folder name, e.g. ingest_date=2018-05-09."""
    text = value.isoformat() if isinstance(value, date) else value
    return f"{name}={text}"


_PARTITION_FOLDER = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.+)$")


def partition_folders(uri: str) -> tuple[str, list[tuple[str, str]]]:
    """The partition folders (`name=value`) directly above the files a URI names
    (`.../customer_rfm/run_date=2018-05-09/*.parquet`), as (name, value) pairs in order, and the URI
    up to them (`.../customer_rfm/`; empty without any). Only those: a folder of that form higher up,
    a home in `env=prod/` say, is where the lake is, not a column of its tables."""
    parts = uri.rpartition("/")[0].split("/")
    found: list[tuple[str, str]] = []
    while parts and (folder := _PARTITION_FOLDER.match(parts[-1])):
        found.insert(0, (folder.group(1), folder.group(2)))
        parts.pop()
    return ("/".join(parts) + "/" if found else ""), found


def partition_kind(value: str) -> Kind:
    """The type of a partition folder's value, as Hive readers infer it: a day, a number, else text."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return Kind.DATE
    return Kind.INT if value.isdigit() else Kind.TEXT


def ingest_partition(day: date) -> str:
    return partition("ingest_date", day)


def partition_date(name: str, key: str) -> date | None:
    """The day of a partition folder name such as run_date=2018-05-09 (key "run_date"); None for a
    name the pipeline does not write, such as one made by hand (run_date=latest, ingest_date=2018-02-30)."""
    value = name.removeprefix(f"{key}=")
    if value == name or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:  # no such day
        return None


def local_uri(path: Path | str) -> str:
    """The file:// URI of a local folder, with its path as written.

    A lake URI is read the way Hadoop reads it, since Spark's executors write the lake: its path is
    taken literally, with no percent-decoding (`Path.as_uri()` would write a space as "%20", which
    Hadoop then takes for those three characters, and "%20" in a folder's name as "%2520").
    """
    return "file://" + str(Path(path).resolve())


def file_path(uri: str) -> Path:
    """The folder a file:// URI names (taken literally, as Hadoop does: see `local_uri`)."""
    return Path(uri.removeprefix("file://"))


def exists_without_making(uri: str) -> bool:
    """Whether a lake has been made: its folder exists (a local lake), or always (a bucket)."""
    return not uri.startswith("file://") or file_path(uri).exists()


class Lake:
    """A lake rooted at a `file://` or `gs://` URI."""

    def __init__(self, uri: str, storage_options: dict[str, Any] | None = None) -> None:
        if "://" not in uri:
            uri = local_uri(uri)
        self.protocol, _, rest = uri.partition("://")
        if self.protocol not in ("file", "gs"):
            raise ValueError(f"lake URI must start with file:// or gs://, got {uri!r}")
        self.root = (str(file_path(uri)) if self.protocol == "file" else rest).rstrip("/")
        options = dict(storage_options or {})
        if self.protocol == "gs":
            # Endpoint and credentials from the environment (grocery.cloud): Google's by default.
            from grocery.cloud import gcs_storage_options

            options = {**gcs_storage_options(), **options}
        self.fs = fsspec.filesystem(self.protocol, **options)
        if self.is_local:
            make_folder(Path(self.root), "the lake")

    def __repr__(self) -> str:
        return f"Lake({self.uri()!r})"

    @property
    def is_local(self) -> bool:
        return self.protocol == "file"

    def _path(self, rel: str) -> str:
        return f"{self.root}/{rel}".rstrip("/") if rel else self.root

    def uri(self, rel: str = "") -> str:
        """The absolute URI of a lake path (file:///... or gs://...)."""
        return f"{self.protocol}://{self._path(rel)}"

    def local_path(self, rel: str = "") -> Path:
        """The filesystem path of a lake path; only for a local lake."""
        if not self.is_local:
            raise ValueError(f"{self.uri(rel)} is not on the local filesystem")
        return Path(self._path(rel))

    def exists(self, rel: str) -> bool:
        return self.fs.exists(self._path(rel))

    def listdir(self, rel: str) -> list[str]:
        """Names directly under a lake folder, sorted; empty when it does not exist."""
        path = self._path(rel)
        if not self.fs.exists(path):
            return []
        return sorted(Path(p.rstrip("/")).name for p in self.fs.ls(path, detail=False))

    def files(self, rel: str, suffix: str = "") -> list[str]:
        """Lake paths of every file below a folder whose name ends with suffix, sorted."""
        base = self._path(rel)
        if not self.fs.exists(base):
            return []
        found = self.fs.find(base)
        prefix = self.root + "/"
        return sorted(p[len(prefix) :] if p.startswith(prefix) else p for p in found if p.endswith(suffix))

    def read_bytes(self, rel: str) -> bytes:
        return self.fs.cat_file(self._path(rel))

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write a file whole: a reader sees the old content or the new, never a part."""
        path = self._path(rel)
        if self.is_local:
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = _sibling(target, "tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        else:
            self.fs.pipe_file(path, data)

    def read_json(self, rel: str) -> Any:
        return json.loads(self.read_bytes(rel))

    def write_json(self, rel: str, value: Any) -> None:
        self.write_bytes(rel, (json.dumps(value, indent=2, sort_keys=True, default=str) + "\n").encode())

    def remove(self, rel: str) -> None:
        path = self._path(rel)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    @contextmanager
    def local_copy(self, rel: str) -> Iterator[Path]:
        """A local path holding a lake file or folder: the file itself on a local lake, a download otherwise."""
        if self.is_local:
            yield self.local_path(rel)
            return
        tmp = Path(_scratch_dir())
        try:
            target = tmp / Path(rel).name
            self.fs.get(self._path(rel), str(target), recursive=True)
            yield target
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @contextmanager
    def staging_dir(self, rel: str) -> Iterator[Path]:
        """A local scratch folder to build `rel` in; published to the lake when the block succeeds."""
        if self.is_local:
            target = self.local_path(rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            scratch = _sibling(target, "tmp")
        else:
            scratch = Path(_scratch_dir()) / "out"
        scratch.mkdir(parents=True)
        try:
            yield scratch
            self.publish_dir(scratch, rel)
        finally:
            shutil.rmtree(scratch if self.is_local else scratch.parent, ignore_errors=True)

    def remove_leftovers(self) -> None:
        """Remove from a local lake what a swap cut short left beside what it replaced: the new file
        or folder being written (`write_bytes`, `staging_dir`), or the old folder `publish_dir` had
        moved aside, which goes back in place when it was killed before the new one came. What the
        stages replace is at most three deep (raw/sales/ingest_date=D), so no deeper level is read.
        Only while no other command writes the lake (the home's lock held)."""
        if not self.is_local:
            return
        level = [self.local_path("")]
        for _ in range(3):
            below = []
            for folder in level:
                with os.scandir(folder) as entries:
                    for entry in entries:
                        folder_entry = entry.is_dir(follow_symlinks=False)
                        if leftover := _SWAP_LEFTOVER.fullmatch(entry.name):
                            replaced = Path(folder, leftover["name"])
                            if leftover["kind"] == "old" and not replaced.exists():
                                os.replace(entry.path, replaced)  # killed between the two renames
                            elif folder_entry:
                                shutil.rmtree(entry.path, ignore_errors=True)
                            else:
                                Path(entry.path).unlink(missing_ok=True)
                        elif folder_entry and not entry.name.startswith("."):
                            below.append(entry.path)
            level = below

    @contextmanager
    def written_in_place(self, rel: str) -> Iterator[str]:
        """The URI of a hidden folder beside `rel` in the lake, for a writer that writes the lake
        itself (Spark's executors), put in place of `rel` when the block succeeds and removed
        otherwise: a writer stopped halfway leaves `rel` as it was. (Spark's own overwrite deleted
        the old folder first.) On GCS, which cannot rename, the objects are copied into place."""
        sibling_rel = _sibling(Path(rel), "tmp").as_posix()
        if self.is_local:
            sibling = self.local_path(sibling_rel)
            sibling.parent.mkdir(parents=True, exist_ok=True)
            try:
                yield self.uri(sibling_rel)
                self.publish_dir(sibling, rel)
            finally:
                shutil.rmtree(sibling, ignore_errors=True)
            return
        try:
            yield self.uri(sibling_rel)
            source, dest = self._path(sibling_rel), self._path(rel)
            new_names = {found[len(source) + 1 :] for found in self.fs.find(source)}
            for found in sorted(new_names):
                self.fs.copy(f"{source}/{found}", f"{dest}/{found}")
            self._drop_all_but(dest, new_names)
        finally:
            if self.fs.exists(self._path(sibling_rel)):
                self.fs.rm(self._path(sibling_rel), recursive=True)

    def _drop_all_but(self, dest: str, names: set[str]) -> None:
        """Delete the objects below `dest` (a GCS path) whose names below it are not in `names`."""
        if self.fs.exists(dest):
            for existing in self.fs.find(dest):
                if existing[len(dest) + 1 :] not in names:
                    self.fs.rm_file(existing)

    def publish_dir(self, local_dir: Path, rel: str) -> None:
        """Replace the lake folder `rel` by the content of local_dir.

        On a local lake the new folder is renamed into place, so the swap is atomic for readers. On
        GCS, objects are uploaded first and the old objects that the new folder does not hold are
        deleted after, so a reader sees the old files, then the new ones.
        """
        if self.is_local:
            target = self.local_path(rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            old = _sibling(target, "old")
            if target.exists():
                os.replace(target, old)
            try:
                os.replace(local_dir, target)
            except OSError:  # another filesystem: copy next to the target first, then rename
                sibling = _sibling(target, "tmp")
                shutil.copytree(local_dir, sibling)
                os.replace(sibling, target)
            shutil.rmtree(old, ignore_errors=True)
            return
        dest = self._path(rel)
        new_names = {str(p.relative_to(local_dir)) for p in local_dir.rglob("*") if p.is_file()}
        for name in sorted(new_names):
            self.fs.put_file(str(local_dir / name), f"{dest}/{name}")
        self._drop_all_but(dest, new_names)


def _sibling(target: Path, kind: str) -> Path:
    """A hidden sibling of `target` for replacing it: "tmp", the new one being written, or "old",
    the old one moved aside (`Lake.remove_leftovers` knows them by this name)."""
    return target.with_name(f".{target.name}.{uuid.uuid4().hex}.{kind}")


def _scratch_dir() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="grocery-lake-")
