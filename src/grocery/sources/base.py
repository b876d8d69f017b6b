"""What every source promises: the seven files, in the dataset's exact format, in one folder."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol

from grocery.interval import DataInterval


@dataclass(frozen=True)
class Delivery:
    """The files a source delivered for one data interval."""

    folder: Path  # holds <table>.csv for each of the seven tables
    description: str  # for the manifest, e.g. "generator scale=0.05 seed=42"
    # The last sales date delivered, when the source knows it without reading the files.
    last_sales_date: date | None = None


class Source(Protocol):
    def fetch(self, workdir: Path, interval: DataInterval) -> Delivery:
        """Deliver the interval's files (everything the source holds when the interval is open).

        workdir is an empty scratch folder the source may write into; a source that already has
        the files on disk (a folder, a download cache) may deliver them from where they are.
        """
        ...
