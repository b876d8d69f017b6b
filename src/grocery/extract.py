"""The `extract` stage: land the source's files in the lake unchanged, with a manifest.

Files go to `raw/<table>/ingest_date=D/<file>` byte for byte; the manifest
`raw/_manifests/ingest_date=D.json` records each file's size, sha256 and row count. The ingest date
D is the end of the data interval, or, for a run over everything, the last sales date delivered.
Landing the same ingest date again replaces its files.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from grocery import lake as layout
from grocery.context import Context
from grocery.sources import open_source
from grocery.stages import StageResult
from grocery.tables import SALES

_CHUNK = 8 << 20
_BLANK_LINE = re.compile(rb"\n(?=\r?\n)")


@dataclass(frozen=True)
class LandedFile:
    table: str
    name: str
    path: str  # lake path
    bytes: int
    sha256: str
    rows: int  # data records: non-blank lines after the header


def manifest_path(day: date) -> str:
    return f"{layout.MANIFESTS}/{layout.ingest_partition(day)}.json"


def raw_dir(table: str, day: date) -> str:
    return f"{layout.RAW}/{table}/{layout.ingest_partition(day)}"


def copy_and_measure(src: Path, dst: Path) -> tuple[int, str, int]:
    """Copy a file, returning (bytes, sha256, records) from the same single read."""
    digest = hashlib.sha256()
    size = newlines = blanks = 0
    tail = b""
    last = b""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(_CHUNK):
            fout.write(chunk)
            digest.update(chunk)
            size += len(chunk)
            newlines += chunk.count(b"\n")
            window = tail + chunk
            if b"\n\n" in window or b"\n\r\n" in window:
                # Matches starting inside the carried-over tail were counted with the previous chunk.
                blanks += sum(1 for m in _BLANK_LINE.finditer(window) if m.start() >= len(tail))
            tail = window[-2:]
            last = chunk[-1:]
    lines = newlines + (1 if size and last != b"\n" else 0)
    records = max(0, lines - blanks - 1)  # the header is not a record
    return size, digest.hexdigest(), records


def last_sales_date(sales_csv: Path) -> date | None:
    """The newest SalesDate in a sales file (None when it has no readable date)."""
    if not sales_csv.exists():
        return None
    try:
        with duckdb.connect() as con:
            row = con.execute(
                "select max(try_cast(SalesDate as timestamp))::date from "
                "read_csv(?, header=true, all_varchar=true, ignore_errors=true)",
                [str(sales_csv)],
            ).fetchone()
    except duckdb.Error:
        return None
    return row[0] if row else None


def land(ctx: Context, folder: Path, day: date, description: str) -> list[LandedFile]:
    """Copy every CSV of a delivery folder into the lake and write the manifest."""
    landed = []
    for src in sorted(folder.glob("*.csv")):
        table = src.stem.lower()
        target = raw_dir(table, day)
        with ctx.lake.staging_dir(target) as scratch:
            size, sha, rows = copy_and_measure(src, scratch / src.name)
        landed.append(LandedFile(table, src.name, f"{target}/{src.name}", size, sha, rows))
    ctx.lake.write_json(
        manifest_path(day),
        {
            "ingest_date": day.isoformat(),
            "interval": str(ctx.interval),
            "source": description,
            "extracted_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "files": [asdict(f) for f in landed],
        },
    )
    return landed


def read_manifest(ctx: Context, day: date) -> dict:
    return ctx.lake.read_json(manifest_path(day))


def run(ctx: Context) -> StageResult:
    source = open_source(ctx.spec.source, cache_dir=ctx.home / "cache")
    ctx.home.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="extract-", dir=ctx.home))
    try:
        with ctx.progress.step(f"fetching {ctx.spec.source.kind} data for {ctx.interval}"):
            delivery = source.fetch(work, ctx.interval)
        day = (
            ctx.interval.end or delivery.last_sales_date or last_sales_date(delivery.folder / SALES.file_name)
        )
        day = day or datetime.now(UTC).date()
        with ctx.progress.step(f"landing files in {ctx.lake.uri(layout.RAW)} (ingest_date={day})"):
            landed = land(ctx, delivery.folder, day, delivery.description)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = sum(f.rows for f in landed)
    size = sum(f.bytes for f in landed)
    return StageResult(
        f"landed {len(landed)} files, {rows:,} rows, {size / 1e6:,.1f} MB for ingest_date={day}",
        {"ingest_date": day.isoformat(), "files": len(landed), "rows": rows, "bytes": size},
    )
