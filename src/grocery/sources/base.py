"""What every source promises: the seven files, in the dataset's exact format, in one folder."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol

from grocery.encodings import GZIP
from grocery.errors import SourceError
from grocery.interval import DataInterval


@dataclass(frozen=True)
class Delivery:
    """The files a source delivered for one data interval."""

    folder: Path  # holds <table>.csv (or <table>.csv.gz, gzip-compressed) for each of the seven tables
    description: str  # for the manifest, e.g. "generator scale=0.05 seed=42"
    # The last sales date delivered, when the source knows it without reading the files.
    last_sales_date: date | None = None
    # How messages name the folder, when not by its path (a copy of a bucket's folder).
    shown: str | None = None

    def files(self) -> dict[str, Path]:
        """The delivery's CSV files by table: a file's name, in any case, is its table's (an export
        from a system whose names ignore case may hold Sales.CSV), and it may be gzip-compressed
        (sales.csv.gz). Two files of one table are an error."""
        found: dict[str, Path] = {}
        for path in sorted(self.folder.iterdir()):
            table = table_of(path)
            if table is None:
                continue
            if table in found:
                raise SourceError(
                    f"{self.shown or self.folder} holds both {found[table].name} and {path.name}",
                    hint=f"keep one of them, as {table}.csv or {table}.csv{GZIP}, and extract again",
                )
            found[table] = path
        return found


def table_of(path: Path) -> str | None:
    """The table a CSV file holds, from its name (`Sales.CSV`, `sales.csv.gz`); None when not a CSV
    file, or when the name leaves no table (`.csv`, `..csv`: it would make no folder of the lake)."""
    name = path.name.lower().removesuffix(GZIP)
    table = name.removesuffix(".csv")
    return table if name.endswith(".csv") and table.strip(".") else None


class Source(Protocol):
    def fetch(self, workdir: Path, interval: DataInterval) -> Delivery:
        """Deliver the interval's files (everything the source holds when the interval is open).

        workdir is an empty scratch folder the source may write into; a source that already has
        the files on disk (a folder, a download cache) may deliver them from where they are.
        """
        ...
