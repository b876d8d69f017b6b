"""The `extract` stage: land the source's files in the lake unchanged, with a manifest.

Files go to `raw/<table>/ingest_date=D/<file>` byte for byte; the manifest
`raw/_manifests/ingest_date=D.json` records each file's size, sha256, row count and line count.
The ingest date D is the end of the data interval, or, for a run over everything, the last sales
date delivered. Landing the same ingest date again replaces its files.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import re
import shutil
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NamedTuple

import duckdb

from grocery import encodings
from grocery import lake as layout
from grocery.context import Context
from grocery.errors import ConfigError, SourceError, StageError
from grocery.interval import DataInterval
from grocery.sources import Delivery, open_source
from grocery.stages import StageResult
from grocery.tables import BY_NAME, SALES

_CHUNK = 8 << 20
_BLANK_LINE = re.compile(rb"\n(?=\r?\n)")
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # zlib's setting for a gzip header and trailer
_GZIP_MAGIC = b"\x1f\x8b"  # how a gzip file starts


@dataclass(frozen=True)
class LandedFile:
    table: str
    name: str
    path: str  # lake path
    bytes: int
    sha256: str
    rows: int  # data lines: non-blank lines after the header (a record with a quoted line break spans two)
    lines: int  # every line, the header and blank ones included: where load finds a quarantined row


class Measure(NamedTuple):
    bytes: int
    sha256: str
    rows: int  # as `LandedFile.rows`
    lines: int


# The warehouse state (`Warehouse.read_state`) naming, per ingest date, the landing load last loaded
# into the warehouse (`landing_fingerprint`): `grocery status` tells a landing never loaded from it.
LOADED_STATE = "load.landings"


def landing_fingerprint(files: list[dict]) -> str:
    """What a manifest's `files` hold for load: the sha256 of each file of the dataset's tables. The
    same bytes landed again have the same fingerprint; a delivery of other files, another."""
    landed = sorted(f"{f['table']}:{f.get('sha256')}" for f in files if f["table"] in BY_NAME)
    return hashlib.sha256("\n".join(landed).encode()).hexdigest()


def extract_again(day: date, manifest: dict[str, Any] | None = None) -> str:
    """The command that lands the delivery of an ingest date again: over the interval its manifest
    names (a delivery may hold several days, `--start A --end D`), or, with no manifest to read it
    from, both forms."""
    try:
        interval = DataInterval.parse(manifest["interval"]) if manifest else None
    except (KeyError, TypeError, ValueError, ConfigError):  # an older or hand-made manifest
        interval = None
    if interval is None:
        return f"`grocery extract --date {day}` (or `--start A --end {day}`, for a delivery of several days)"
    return f"`{f'grocery extract {interval.options()}'.strip()}`"


def manifest_path(day: date) -> str:
    return f"{layout.MANIFESTS}/{layout.ingest_partition(day)}.json"


def raw_dir(table: str, day: date) -> str:
    return f"{layout.RAW}/{table}/{layout.ingest_partition(day)}"


def copy_and_measure(src: Path, dst: Path) -> Measure:
    """Copy a file, then measure the copy: exactly what landed.

    The copy runs in the kernel (`shutil.copyfile` uses copy_file_range or sendfile); at full
    scale the copy and one read of it take 1.2 s, where copying through Python's buffers took 2.1 s.
    """
    shutil.copyfile(src, dst)
    return measure(dst)


def measure(path: Path) -> Measure:
    """A file's size, sha256, records and lines, from one read; records and lines of a gzip-compressed
    file (`encodings.compressed`) are those of its text, inflated as it is read. Raises one of
    `encodings.GZIP_ERRORS` when a compressed file is damaged.

    Reads alternate between two buffers: the digest of one runs in a second thread (hashlib
    releases the GIL on large buffers) while this thread reads the next and counts its lines.
    """
    digest = hashlib.sha256()
    buffers = (bytearray(_CHUNK), bytearray(_CHUNK))
    text = _Lines()
    inflate = _Inflate() if encodings.compressed(path) else None
    size = 0
    with open(path, "rb", buffering=0) as f, ThreadPoolExecutor(max_workers=1) as hasher:
        hashed = None
        for turn in itertools.count():
            buf = buffers[turn % 2]  # its previous digest finished before the last submit
            n = f.readinto(buf)
            if not n:
                break
            view = memoryview(buf)[:n]
            if hashed is not None:
                hashed.result()
            hashed = hasher.submit(digest.update, view)
            size += n
            if inflate is None:
                text.count(buf, n)
            else:
                inflated = inflate(view)
                text.count(inflated, len(inflated))
        if hashed is not None:
            hashed.result()
    if inflate is not None and size:  # an empty file is as empty compressed as not: load says so
        inflate.check_end()
    return Measure(size, digest.hexdigest(), text.records, text.lines)


class _Lines:
    """The lines, and blank lines, of a text fed to `count` in pieces."""

    def __init__(self) -> None:
        self.size = self.newlines = self.blanks = 0
        self.tail = b""  # the last two bytes before the current piece: a blank line may straddle two

    def count(self, data: bytes | bytearray, n: int) -> None:
        """Count the first `n` bytes of `data`, the text's next piece."""
        self.newlines += data.count(b"\n", 0, n)
        self.blanks += len(_BLANK_LINE.findall(data, 0, n))  # the blank lines wholly inside this piece
        # ... and those that began in the bytes before it.
        junction = self.tail + bytes(data[: min(n, 2)])
        self.blanks += sum(
            1
            for m in _BLANK_LINE.finditer(junction)
            if m.start() < len(self.tail) and _blank_end(junction, m.start()) >= len(self.tail)
        )
        self.tail = (self.tail + bytes(data[max(0, n - 2) : n]))[-2:]
        self.size += n

    @property
    def lines(self) -> int:
        return self.newlines + (1 if self.size and self.tail[-1:] != b"\n" else 0)

    @property
    def records(self) -> int:
        return max(0, self.lines - self.blanks - 1)  # the header is not a record


def _blank_end(window: bytes, start: int) -> int:
    """Index of the last byte of the blank line found at `start` (its lookahead included)."""
    return start + (1 if window[start + 1] == ord("\n") else 2)


class _Inflate:
    """Gzip-compressed bytes, fed in pieces, to their text; a file of several gzip members (as
    `cat a.gz b.gz` makes) is their texts one after the other. Zero bytes after a member are padding,
    which gzip and Python's gzip module skip (tape archives pad files so)."""

    def __init__(self) -> None:
        self._member: Any = zlib.decompressobj(wbits=_GZIP_WBITS)  # None between members
        self._head = b""  # the file's first bytes, until they show whether it is gzip at all

    def __call__(self, data: bytes | memoryview) -> bytes:
        if len(self._head) < len(_GZIP_MAGIC):
            self._head += bytes(data[: len(_GZIP_MAGIC) - len(self._head)])
            if not _GZIP_MAGIC.startswith(self._head):
                raise gzip.BadGzipFile(f"Not a gzipped file ({self._head!r})")
        text = b""
        while data:
            if self._member is None:
                data = bytes(data).lstrip(b"\0")
                if not data:
                    break
                self._member = zlib.decompressobj(wbits=_GZIP_WBITS)
            text += self._member.decompress(data)
            if not self._member.eof:
                break
            data, self._member = self._member.unused_data, None
        return text

    def check_end(self) -> None:
        if self._member is not None:
            raise EOFError("Compressed file ended before the end-of-stream marker was reached")


def last_sales_date(sales_csv: Path | None) -> date | None:
    """The newest SalesDate in a sales file (None when there is none, or it has no readable date)."""
    if sales_csv is None or not sales_csv.exists():
        return None
    try:
        with duckdb.connect() as con:
            row = con.execute(
                "select max(try_cast(SalesDate as timestamp))::date from "
                "read_csv(?, header=true, all_varchar=true, ignore_errors=true, compression=?)",
                [str(sales_csv), "gzip" if encodings.compressed(sales_csv) else "none"],
            ).fetchone()
    except duckdb.Error:
        return None
    return row[0] if row else None


def land(ctx: Context, delivery: Delivery, scratch: Path) -> tuple[date, list[LandedFile]]:
    """Copy every CSV of a delivery into the lake under its ingest date, and write the manifest.

    Files are copied and measured into a local scratch folder while the ingest date is worked out
    alongside (reading the newest sales date takes a full scan when the source does not know it),
    then each table's folder is published into the lake at once.
    """
    files = delivery.files()
    with ThreadPoolExecutor(max_workers=1) as pool:
        day_future = pool.submit(_ingest_day, ctx, delivery, files.get(SALES.name))
        measured = []
        for table, src in files.items():
            table_dir = scratch / table
            table_dir.mkdir(parents=True)
            try:
                measured.append((src, table_dir, copy_and_measure(src, table_dir / src.name)))
            except encodings.GZIP_ERRORS as exc:  # before OSError: BadGzipFile is one
                raise SourceError(
                    f"cannot decompress {src}: {encodings.gzip_damage(exc)}",
                    hint="a file whose name ends in .gz must be gzip-compressed and whole; deliver it again",
                ) from None
            except OSError as exc:  # a folder named like a file, a file this user may not read, ...
                raise SourceError(
                    f"cannot read {src}: {exc.strerror or exc}",
                    hint="each of the delivery's CSV files must be a readable file; fix it and extract again",
                ) from None
        day = day_future.result()
    landed = []
    for src, table_dir, copied in measured:
        target = raw_dir(table_dir.name, day)
        ctx.lake.publish_dir(table_dir, target)
        landed.append(LandedFile(table_dir.name, src.name, f"{target}/{src.name}", *copied))
    ctx.lake.write_json(
        manifest_path(day),
        {
            "ingest_date": day.isoformat(),
            "interval": str(ctx.interval),
            "source": delivery.description,
            "extracted_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "files": [asdict(f) for f in landed],
        },
    )
    return day, landed


def _ingest_day(ctx: Context, delivery: Delivery, sales_csv: Path | None) -> date:
    """The interval's end; for a run over everything, the last sales date delivered (today if none)."""
    return (
        ctx.interval.end or delivery.last_sales_date or last_sales_date(sales_csv) or datetime.now(UTC).date()
    )


def read_manifest(ctx: Context, day: date) -> dict:
    """The manifest extract wrote for an ingest date; a StageError when it cannot be read as one."""
    path = manifest_path(day)
    try:
        manifest = ctx.lake.read_json(path)
        if not all(isinstance(f, dict) and {"table", "path"} <= f.keys() for f in manifest["files"]):
            raise ValueError("a file's entry lacks its table or path")
    except (ValueError, KeyError, TypeError) as exc:  # not JSON, or not a manifest
        raise StageError(
            f"the manifest {ctx.lake.uri(path)} is damaged ({type(exc).__name__}: {exc})",
            hint=f"run {extract_again(day)} again: it lands the delivery and writes the manifest anew",
        ) from None
    return manifest


def run(ctx: Context) -> StageResult:
    source = open_source(ctx.spec.source, cache_dir=ctx.home / "cache")
    with ctx.scratch("extract") as work:
        with ctx.progress.step(f"fetching {ctx.spec.source.kind} data for {ctx.interval}"):
            delivery = source.fetch(work / "delivery", ctx.interval)
        with ctx.progress.step(f"landing files in {ctx.lake.uri(layout.RAW)}"):
            day, landed = land(ctx, delivery, work / "landing")
    rows = sum(f.rows for f in landed)
    size = sum(f.bytes for f in landed)
    # A delivery's other CSV files (a backup copy, an extra report) land too, as delivered; load reads the seven.
    others = sorted(f.name for f in landed if f.table not in BY_NAME)
    note = f"; not the dataset's, so kept but not loaded: {', '.join(others)}" if others else ""
    ctx.landed = day
    return StageResult(
        f"landed {len(landed)} files, {rows:,} rows, {size / 1e6:,.1f} MB for ingest_date={day}{note}",
        {
            "ingest_date": day.isoformat(),
            "files": len(landed),
            "rows": rows,
            "bytes": size,
            "not_loaded": others,
        },
    )
