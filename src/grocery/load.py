"""The `load` stage: check every raw row against the data contract, stage it, and load the warehouse.

For one ingest date, in order:
1. Every file must be there, non-empty, and start with its table's exact header; otherwise the
   stage stops before anything is written (one line naming each problem).
2. Each table is read with DuckDB as text. A line that cannot be split into the right number of
   fields is kept as it is, with DuckDB's reason; every other row is typed and checked against
   `grocery.tables` (required fields, types, ranges, allowed values, unique key, known foreign
   keys, checked against the same delivery's accepted dimension rows). Rows failing a check keep
   all their fields and every reason, joined by "; ".
3. Accepted rows are written as typed Parquet to `staged/<table>/ingest_date=D/`, rejected rows to
   `quarantine/<table>/ingest_date=D/`. Rows in must equal rows accepted plus rows quarantined.
4. The warehouse replaces the ingest date's partition of every `raw.<table>` and
   `quarantine.<table>` in one transaction: a killed load leaves the warehouse as it was, and a
   re-run gives the same warehouse, never a duplicate. Then the warehouse's state records which
   landing of the date it holds (`grocery.extract.LOADED_STATE`), for `grocery status`.
"""

from __future__ import annotations

import csv
import json
import mmap
import re
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from grocery import encodings
from grocery import lake as layout
from grocery.config import LATIN_1, UTF_8, WINDOWS_1252
from grocery.context import Context
from grocery.csv_lines import RecordStarts, parsed_record_starts, record_starts, with_lf_line_ends
from grocery.errors import InputError, StageError
from grocery.extract import LOADED_STATE, extract_again, landing_fingerprint, measure, read_manifest
from grocery.interval import DataInterval
from grocery.progress import Stopwatch
from grocery.stages import StageResult
from grocery.tables import (
    BY_NAME,
    INGEST_DATE,
    LINE_NUMBER,
    RAW_LINE,
    REASON,
    TABLES,
    Column,
    Kind,
    Table,
)
from grocery.warehouse import IngestLoad

VALIDATION_MEMORY = "1GB"
_REFERENCED = {ref for t in TABLES for _, ref, _ in t.foreign_keys()}
# Formats accepted for dates besides ISO: spreadsheet exports of the published files use DD-MM-YYYY.
_ALT_DATE_FORMAT = "%d-%m-%Y"
_EXACT_IN_DOUBLE = 2**53  # past it, a double cannot tell one integer from the next
_DUCKDB_LINE_TEXT = 10_000  # the characters of a line DuckDB keeps in its rejects table (`csv_line`)
# What DuckDB says of a file it cannot read at all; mixed line ends (LF and CRLF) are one cause.
_PARSER_STATE = "CSV Parser state machine reached an invalid state"
# What spreadsheets separate fields with besides commas: named when a header has the right columns so.
_OTHER_SEPARATORS = (";", "\t", "|")
# A bitmap of a key's range costs at most this many bits per key (the key column takes 64).
_BITMAP_BITS_PER_KEY = 64
# The most values a foreign key's bitmap of known keys spans (128 MiB; `get_bit` takes an int32 index).
_KEY_BITMAP_BITS = 2**30


@dataclass(frozen=True)
class TableReport:
    table: str
    rows_in: int
    accepted: int
    quarantined: int
    flagged: dict[str, int]
    reasons: dict[str, int]
    # Accepted rows dated outside the run's interval (`Table.dated_by`), and their first and last day.
    outside_interval: int = 0
    outside_dates: tuple[str, str] | None = None


def staged_dir(table: str, day: date) -> str:
    return f"{layout.STAGED}/{table}/{layout.ingest_partition(day)}"


def quarantine_dir(table: str, day: date) -> str:
    return f"{layout.QUARANTINE}/{table}/{layout.ingest_partition(day)}"


# -- file checks ---------------------------------------------------------------------------------


def _header_problem(path: Path, table: Table, encoding: str = UTF_8) -> str | None:
    """Why a file cannot be read as this table at all, or None."""
    try:
        with encodings.open_bytes(path) as f:
            first = f.readline(64 * 1024)
    except encodings.GZIP_ERRORS as exc:
        return f"{path.name} cannot be decompressed: {encodings.gzip_damage(exc)}"
    if not first:
        return f"{path.name} is empty"
    try:
        header = encodings.decode(first, encoding).rstrip("\r\n")
    except UnicodeDecodeError:
        return f"{path.name} is not a UTF-8 CSV file"
    expected = ",".join(table.column_names)
    if header.replace('"', "") != expected:
        shown = header if len(header) <= 120 else header[:117] + "..."
        note = _header_difference(header.replace('"', ""), table.column_names)
        return f"{path.name} has header {shown!r}, expected {expected!r} ({note})"
    return None


def _header_difference(header: str, expected: list[str]) -> str:
    """How a header differs from the table's, in the words that say what to fix."""
    if header.split("\r")[0] == ",".join(expected):
        return "its lines end with a carriage return alone, as old Mac files do; save it with LF or CRLF line ends"
    if separator := next((s for s in _OTHER_SEPARATORS if header.split(s) == expected), None):
        return f"its fields are separated by {separator!r}; the files are comma-separated"
    names = header.split(",")
    if names[: len(expected)] == expected and not "".join(names[len(expected) :]).strip():
        return "it ends with empty columns: a comma after the last name"
    if [n.strip().lower() for n in names] == [n.lower() for n in expected]:
        return "the names differ in case or spaces; they must be written as expected"
    if sorted(names) == sorted(expected):
        return "the same columns in another order; the files keep the dataset's order"
    differences = []
    if missing := [n for n in expected if n not in names]:
        differences.append("missing: " + ", ".join(missing))
    if unexpected := [n for n in names if n not in expected]:
        differences.append("not in the dataset: " + ", ".join(unexpected))
    return "; ".join(differences) or "a name repeats"


def check_files(files: dict[str, Path | None], encoding: str = UTF_8) -> None:
    """Stop before loading anything when any file is missing, empty, or has the wrong header."""
    problems = []
    for table in TABLES:
        path = files.get(table.name)
        if path is None:
            problems.append(f"{table.file_name} is missing")
        elif problem := _header_problem(path, table, encoding):
            problems.append(problem)
    if problems:
        raise InputError(
            "cannot load: " + "; ".join(problems),
            hint="fix the delivery and run extract and load again; nothing was loaded",
        )


# -- row checks, as SQL generated from the contract ------------------------------------------------


def _q(name: str) -> str:
    return '"' + name + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _typed(column: Column) -> str:
    """SQL that types a text field; NULL when it does not parse, or parses to no real value.

    DuckDB's casts are lenient where the contract is not: to BIGINT they round `1.5` to 2 and read
    `0x10` as 16, to DOUBLE they take `nan` and `inf`, to TIMESTAMP `infinity`. An int is read as a
    double that must be whole (`4`, `4.0`) and below 2^53, where doubles stop being exact (this costs
    less than a pattern match); a double must be finite, and so must a date or a timestamp.
    """
    v = _q(column.name)
    if column.kind is Kind.TEXT:
        return v
    if column.kind is Kind.INT:
        d = f"try_cast({v} as double)"
        return f"cast(case when {d} = trunc({d}) and abs({d}) < {_EXACT_IN_DOUBLE} then {d} end as bigint)"
    if column.kind is Kind.FLOAT:
        return f"case when isfinite(try_cast({v} as double)) then try_cast({v} as double) end"
    stamp = f"coalesce(try_cast({v} as timestamp), try_strptime({v}, {_lit(_ALT_DATE_FORMAT)}))"
    finite = f"case when isfinite({stamp}) then {stamp} end"
    return finite if column.kind is Kind.TIMESTAMP else f"cast({finite} as date)"


@dataclass(frozen=True)
class Keys:
    """A one-column table of keys (column `k`): its name, how many keys, the least and the greatest."""

    table: str
    count: int
    low: Any
    high: Any

    @classmethod
    def of(cls, con: duckdb.DuckDBPyConnection, table: str) -> Keys:
        count, low, high = con.execute(f"select count(k), min(k), max(k) from {table}").fetchone()
        return cls(table, count, low, high)

    def holding(self, value: str, kind: Kind) -> str:
        """SQL that is true when `value` is one of the keys, false otherwise (null included).

        Int keys spread over at most `_KEY_BITMAP_BITS` values are looked up in one bitmap of them.
        A join (`in`) would do too, but DuckDB does not keep the rows' order through one at full
        scale, and a row's place is its record's in the file (`_number_lines`). Other keys join.
        """
        if not self.count:
            return "false"
        if kind is Kind.INT and self.high - self.low < _KEY_BITMAP_BITS:
            bits = f"(select bitstring_agg(k, {self.low}, {self.high}) from {self.table})"
            return (
                f"case when {value} between {self.low} and {self.high} "
                f"then get_bit({bits}, cast({value} - {self.low} as integer)) = 1 else false end"
            )
        return f"coalesce({value} in (select k from {self.table}), false)"


def _missing_key(column: Column) -> str:
    """The column computed beside each foreign key: true when its value has no referenced row."""
    return _q("missing_" + column.name)


def _violations(column: Column, quarantined: Keys | None = None) -> list[tuple[str, str]]:
    """One (condition, reason) pair of SQL expressions per rule: the field breaks the rule when the
    condition holds. They read the field's text and its typed value (`t_` column). `quarantined`
    has the keys of the referenced table's quarantined rows, when the column is a foreign key."""
    n, text, typed = column.name, _q(column.name), _q("t_" + column.name)
    rules = []
    if column.required:  # a name of spaces alone is missing too
        empty = f"trim({text}) = ''" if column.kind is Kind.TEXT else "false"
        rules.append((f"{text} is null or {empty}", _lit(f"{n} is missing")))
    if column.kind is not Kind.TEXT:
        rules.append(
            (
                f"{text} is not null and {typed} is null",
                f"{_lit(f'{n} is not a valid {column.kind.name.lower()}: ')} || {text}",
            )
        )
    if column.min is not None:
        rules.append((f"{typed} < {column.min}", f"{_lit(f'{n} is below {column.min:g}: ')} || {text}"))
    if column.max is not None:
        rules.append((f"{typed} > {column.max}", f"{_lit(f'{n} is above {column.max:g}: ')} || {text}"))
    if column.below is not None:
        rules.append(
            (f"{typed} >= {column.below}", f"{_lit(f'{n} must be below {column.below:g}: ')} || {text}")
        )
    if column.allowed:
        allowed = ", ".join(_lit(a) for a in column.allowed)
        choices = "/".join(column.allowed)
        rules.append((f"{text} not in ({allowed})", f"{_lit(f'{n} is not one of {choices}: ')} || {text}"))
    if column.references:
        unknown = f"{_lit(f'{n} has no matching {column.references}: ')} || {text}"
        if quarantined is not None and quarantined.count:
            # The key is in the delivery, on a row load quarantined: its reason is there, not here.
            table = column.references.split(".")[0]
            cascaded = _lit(
                f"{n} matches a {table} row that was itself quarantined (quarantine.{table} has its reason): "
            )
            held = quarantined.holding(typed, column.kind)
            unknown = f"case when {held} then {cascaded} || {text} else {unknown} end"
        rules.append((_missing_key(column), unknown))
    return rules


def _checked_sql(
    table: Table, source: str, known: Mapping[str, Keys], text_of: Keys | None = None,
    quarantined: Mapping[str, Keys] | None = None,
) -> str:  # fmt: skip
    """Select every record typed (`t_` columns), with its reasons (NULL when it passes) and, only
    when it fails, its text (`x_` columns); also when its key is one of `text_of`. `known` has the
    accepted keys of each table the table's foreign keys reference (`keys_<table>`), `quarantined`
    the keys of their quarantined rows (`quarantined_keys_<table>`): a reference to one of those
    says so, not that the key is unknown.

    The rules' conditions are cheap comparisons, evaluated on every row; the reasons are strings,
    built only for the rows that break a rule (at full scale that takes a third off the check).
    """
    columns = table.columns
    # Every text column is selected as it is, beside its cast. (Left alone inside a try_cast,
    # DuckDB 2.0 would push the cast into the CSV reader, where a bad field fails the query.)
    typed_cols = [f"{_typed(c)} as {_q('t_' + c.name)}" for c in columns] + [_q(c.name) for c in columns]
    missing_keys = [
        f"{_q('t_' + c.name)} is not null and not {known[ref].holding(_q('t_' + c.name), c.kind)} "
        f"as {_missing_key(c)}"
        for c, ref, _ in table.foreign_keys()
    ]
    rejected = {c.name: (quarantined or {}).get(ref) for c, ref, _ in table.foreign_keys()}
    rules = [rule for c in columns for rule in _violations(c, rejected.get(c.name))]
    broken = " or ".join(f"({condition})" for condition, _ in rules)
    reasons = ", ".join(f"case when {condition} then {reason} end" for condition, reason in rules)
    typed_names = ", ".join(_q("t_" + c.name) for c in columns)
    # The text of a row is only kept when the row fails: accepted rows need their typed values alone.
    keep = f"{REASON} is not null"
    if text_of:
        keep += f" or {text_of.holding(_q('t_' + table.key), table.column(table.key).kind)}"
    kept = ", ".join(f"case when {keep} then {_q(c.name)} end as {_q('x_' + c.name)}" for c in columns)
    return (
        f"with typed as (select {', '.join(typed_cols)} from ({source})), "
        f"keyed as (select *{''.join(', ' + m for m in missing_keys)} from typed), "
        f"checked as (select *, case when {broken} then concat_ws('; ', {reasons}) end as {REASON} from keyed) "
        f"select {typed_names}, {REASON}, {kept} from checked"
    )


# -- one table -------------------------------------------------------------------------------------


def _number_lines(
    con: duckdb.DuckDBPyConnection, table: Table, path: Path, day: date, lines: int | None, records: int
) -> None:
    """Create `lines_<table>(rowid, line_number)`, the file line of every rejected record DuckDB split,
    make `line_number` of `malformed_<table>` the file line of every record it could not split, and
    give each of those its whole text.

    DuckDB counts records. When each record of the file is one line and no line is blank (the file
    has as many lines as records and header: `lines` from the manifest), a split record's line is
    its position plus the header and the malformed records before it, and DuckDB's line for a
    malformed record is right. Otherwise the file is scanned for the lines its records start on
    (`_starts_as_read`), which also makes sure DuckDB read every record the file holds.
    """
    checked, malformed, n = f"checked_{table.name}", f"malformed_{table.name}", LINE_NUMBER
    # DuckDB keeps the first 10,000 characters of a line it could not split, and garbles one that is
    # not UTF-8 (a byte it cannot read takes the next with it: `1,Jos\xe9,A` became `1,Jos??A`): the
    # file has such a line as delivered.
    found = con.execute(
        f"select position, length(raw_line) >= {_DUCKDB_LINE_TEXT} or garbled as from_file from {malformed}"
    ).fetchnumpy()
    positions, from_file = found["position"], np.asarray(found["from_file"], dtype=bool)
    if lines == records + 1 and not from_file.any():
        con.execute(
            f"create or replace table lines_{table.name} as with skips as (select {n} - 2 - "
            f"(row_number() over (order by {n}) - 1) as records_before from {malformed}) "
            f"select rowid, cast(rowid + 2 + (select count(*) from skips s where s.records_before <= c.rowid) "
            f"as bigint) as {n} from {checked} c where {REASON} is not null"
        )
        return
    starts = _starts_as_read(table, path, day, records, positions)
    broken = starts.record_at(positions)
    assert broken is not None  # _starts_as_read made sure of it
    split = np.delete(np.arange(1, len(starts)), broken - 1)  # the records DuckDB split, by rowid
    rejected = con.execute(f"select rowid from {checked} where {REASON} is not null").fetchnumpy()["rowid"]
    texts = [  # a byte that is not UTF-8 shown as its value (\xe9), where DuckDB's text had "?"
        starts.text(path, int(record)).decode("utf-8", errors="backslashreplace") if read else None
        for record, read in zip(broken, from_file, strict=True)
    ]
    numbered = {
        "split": pa.table(
            {"rowid": rejected, n: starts.first_line[split[np.asarray(rejected, dtype=np.int64)]]}
        ),
        "broken": pa.table(
            {"position": positions, n: starts.first_line[broken], "raw_line": pa.array(texts, pa.string())}
        ),
    }
    for name, numbers in numbered.items():
        con.register(f"numbered_{name}", numbers)
    try:
        con.execute(f"create or replace table lines_{table.name} as select * from numbered_split")
        con.execute(
            f"update {malformed} m set {n} = b.{n}, raw_line = coalesce(b.raw_line, m.raw_line) "
            f"from numbered_broken b where b.position = m.position"
        )
    finally:
        for name in numbered:
            con.unregister(f"numbered_{name}")


def _starts_as_read(table: Table, path: Path, day: date, records: int, positions: np.ndarray) -> RecordStarts:
    """Where the file's records start, as DuckDB parted them: found by quote parity, or else by a
    parse. Stops the stage when neither finds the records DuckDB read (`positions`: the lines of its
    malformed ones): DuckDB lost some, a record longer than it can read, such as one a quote left open
    takes to the end of a large file."""
    for scan in (record_starts, parsed_record_starts):
        try:
            starts = scan(path)
        except csv.Error:  # the parse found no CSV records where the scan's do not match
            continue
        if len(starts) == records + 1 and starts.record_at(positions) is not None:
            return starts
    detail = ""
    if len(starts) > 1:
        begin, end, spans = starts.extent(starts.longest())
        line = int(starts.first_line[starts.longest()])
        detail = f"; its longest, on line {line:,}, is {(end - begin) / 2**20:,.1f} MiB" + (
            f" over {spans:,} lines (a quote opened there may never close)" if spans > 1 else ""
        )
    raise InputError(
        f"cannot load {table.file_name}: DuckDB read {records:,} records where the file holds "
        f"{len(starts) - 1:,}{detail}",
        hint=f"fix the file, deliver it again and run `grocery extract --date {day}`, then load; nothing was loaded",
    )


def _read_csv_sql(table: Table, path: Path, rejected: str, scans: str) -> str:
    """Read a file's records as text; the lines DuckDB cannot split go to the table `rejected` (and
    DuckDB's note of the read to `scans`). (DuckDB's `ignore_errors` would skip them unrecorded, but
    it stops at a line with text after its closing quote, and reads no further.)"""
    columns = "{" + ", ".join(f"{_lit(c)}: 'VARCHAR'" for c in table.column_names) + "}"
    return (
        f"select * from read_csv({_lit(str(path))}, header=true, auto_detect=false, columns={columns}, "
        f"delim=',', quote='\"', escape='\"', store_rejects=true, rejects_table='{rejected}', "
        f"rejects_scan='{scans}')"
    )


def _read_checked(con: duckdb.DuckDBPyConnection, table: Table, path: Path, scratch: Path) -> Path:
    """Create `checked_<table>` from a file. Returns the file read: `path`, or, when the file mixes LF
    and CRLF line ends, which DuckDB cannot read, its copy in `scratch` with LF alone (lines keep
    their numbers)."""
    try:
        _create_checked(con, table, path)
        return path
    except duckdb.InvalidInputException as exc:
        if _PARSER_STATE not in str(exc):
            raise
    for scratch_table in ("rejected", "scans"):
        con.execute(f"drop table if exists {scratch_table}_{table.name}")
    copy = with_lf_line_ends(path, scratch / f"{table.name}.lf.csv")
    try:
        _create_checked(con, table, copy)
    except duckdb.InvalidInputException as exc:
        if _PARSER_STATE not in str(exc):
            raise
        raise InputError(
            f"cannot load {table.file_name}: DuckDB cannot read it as CSV ({_PARSER_STATE.lower()})"
            + _lone_return(copy),
            hint="save the file with one kind of line end and deliver it again; nothing was loaded",
        ) from None
    return copy


def _create_checked(
    con: duckdb.DuckDBPyConnection, table: Table, path: Path, text_of: Keys | None = None
) -> None:
    """`checked_<table>` (`_checked_sql`) in the file's order, so that a row's rowid is its record's
    position in the file; the lines DuckDB cannot split in `rejected_<table>`. A second read of the
    same file (`text_of`, for duplicated keys) leaves those as the first read made them."""
    again = "again_" if text_of else ""
    source = _read_csv_sql(table, path, f"rejected_{again}{table.name}", f"scans_{again}{table.name}")
    known = {ref: Keys.of(con, f"keys_{ref}") for _, ref, _ in table.foreign_keys()}
    quarantined = {ref: Keys.of(con, f"quarantined_keys_{ref}") for _, ref, _ in table.foreign_keys()}
    con.execute("set preserve_insertion_order = true")
    try:
        con.execute(
            f"create or replace table checked_{table.name} as "
            f"{_checked_sql(table, source, known, text_of, quarantined)}"
        )
    finally:
        con.execute("set preserve_insertion_order = false")
        if text_of:
            for scratch in ("rejected", "scans"):
                con.execute(f"drop table if exists {scratch}_again_{table.name}")


def _lone_return(path: Path) -> str:
    """Where a file whose lines end with LF has a carriage return that ends no line, for a message."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        found = re.search(rb"\r(?!\n)", data)  # a CRLF left is a quoted field's
        if found is None:
            return ""
        line = data[: found.start()].count(b"\n") + 1
    return f": line {line:,} has a carriage return (\\r) that ends no line"


def _has_duplicates(con: duckdb.DuckDBPyConnection, checked: str, key: str, kind: Kind) -> bool:
    """Whether any key occurs twice.

    Integer keys spread over a range of at most `_BITMAP_BITS_PER_KEY` values per key (ids nearly
    always are) are set in one bitmap of that range: one pass, exact, and at full scale 0.07 s where
    `count(distinct)` takes 0.6 s. Other keys are counted distinct.
    """
    if kind is Kind.INT:
        low, high, n = con.execute(f"select min({key}), max({key}), count({key}) from {checked}").fetchone()
        if not n:
            return False
        if high - low + 1 <= _BITMAP_BITS_PER_KEY * n:
            return con.execute(
                f"select bit_count(bitstring_agg({key}, {low}, {high})) <> count({key}) from {checked}"
            ).fetchone()[0]
    return con.execute(f"select count({key}) <> count(distinct {key}) from {checked}").fetchone()[0]


def _mark_duplicates(con: duckdb.DuckDBPyConnection, table: Table, path: Path) -> None:
    """Reject every row of a key but the first that passes every other rule (when one does), keeping
    each rejected row's fields as delivered."""
    checked, key = f"checked_{table.name}", _q("t_" + table.key)
    if not _has_duplicates(con, checked, key, table.column(table.key).kind):
        return
    # The text of accepted rows was not kept: read the file again, keeping it for the duplicated
    # keys (rare; the file's order, and so each row's rowid, is the same: `Keys.holding`).
    con.execute(
        f"create or replace table duplicated_{table.name} as select {key} as k from {checked} "
        f"where {key} is not null group by 1 having count(*) > 1 and count(*) filter (where {REASON} is null) > 0"
    )
    _create_checked(con, table, path, text_of=Keys.of(con, f"duplicated_{table.name}"))
    reason = _lit(f"duplicate {table.key}, kept on its first valid row: ")
    con.execute(
        f"update {checked} set {REASON} = concat_ws('; ', {REASON}, {reason} || {_q('x_' + table.key)}) "
        f"where rowid in (select rowid from (select rowid, row_number() over "
        f"(partition by {key} order by {REASON} is not null, rowid) as n "
        f"from {checked} where {key} in (select k from duplicated_{table.name})) where n > 1)"
    )
    con.execute(f"drop table duplicated_{table.name}")


def validate_table(
    con: duckdb.DuckDBPyConnection, table: Table, path: Path, day: date, staged: Path, quarantined: Path,
    scratch: Path, interval: DataInterval | None = None, lines: int | None = None,
) -> TableReport:  # fmt: skip
    """Check one file (text in UTF-8, `encodings.utf_8`; `lines` lines long as extract landed it,
    None when not known); write its accepted and rejected rows as Parquet files. `scratch` takes
    a copy of the file, should DuckDB need one.

    Rows dated outside the interval (when the table is dated) are accepted, and counted."""
    checked = f"checked_{table.name}"
    path = _read_checked(con, table, path, scratch)
    _mark_duplicates(con, table, path)
    # Lines DuckDB could not split, one row per line with its first error (a line too long to read
    # has no column); `position` is DuckDB's line, which `_number_lines` turns into the file's.
    con.execute(
        f"create or replace table malformed_{table.name} as select cast(line as bigint) as {LINE_NUMBER}, "
        f"line as position, any_value(trim(csv_line, chr(10) || chr(13))) as raw_line, "
        f"'malformed line: ' || arg_min(error_message, coalesce(column_idx, -1)) as reason, "
        f"bool_or(error_type = 'INVALID ENCODING') as garbled "
        f"from rejected_{table.name} group by line"
    )
    flagged_sql = "".join(
        f", count(*) filter (where {REASON} is null and {_q('t_' + c)} is null)"
        for c in table.flagged_when_empty
    )
    split, accepted, malformed, *flags = con.execute(
        f"select count(*), count(*) filter (where {REASON} is null), "
        f"(select count(*) from malformed_{table.name}){flagged_sql} from {checked}"
    ).fetchone()
    _number_lines(con, table, path, day, lines, split + malformed)
    # A quote left open runs on to the end of the file: the reason says how many lines that record
    # took with it. Bytes that are not UTF-8: the reason names the settings for the encodings
    # spreadsheets write.
    spans = "len(string_split(raw_line, chr(10)))"
    not_utf8 = _lit(
        f"(set source.encoding to the files' encoding: {WINDOWS_1252}, as spreadsheets on Windows write, or {LATIN_1})"
    )
    con.execute(
        f"update malformed_{table.name} set reason = reason || "
        f"if({spans} > 1, ' (the record runs over ' || {spans} || ' lines; they are in raw_line)', '') || "
        f"if(reason ilike '%not utf-8 encoded%', ' ' || {not_utf8}, '')"
    )
    names = table.column_names
    ingest = f"date {_lit(day.isoformat())}"
    typed_out = ", ".join(f"{_q('t_' + n)} as {_q(n)}" for n in names)
    con.execute(
        f"copy (select {typed_out}, {ingest} as {INGEST_DATE} from {checked} where {REASON} is null) "
        f"to {_lit(str(staged / 'part-0.parquet'))} (format parquet, compression snappy)"
    )
    text_out = ", ".join(f"{_q('x_' + n)} as {_q(n)}" for n in names)
    nulls = ", ".join(f"null::varchar as {_q(n)}" for n in names)
    con.execute(
        f"copy (select {text_out}, n.{LINE_NUMBER}, null::varchar as {RAW_LINE}, {REASON}, {ingest} as {INGEST_DATE} "
        f"from {checked} c join lines_{table.name} n on n.rowid = c.rowid where {REASON} is not null "
        f"union all select {nulls}, {LINE_NUMBER}, raw_line, reason, {ingest} from malformed_{table.name} "
        f"order by {LINE_NUMBER}) to {_lit(str(quarantined / 'part-0.parquet'))} (format parquet, compression zstd)"
    )
    if table.name in _REFERENCED:  # the accepted keys, for the foreign-key checks of later tables
        con.execute(
            f"create or replace table keys_{table.name} as select {_q('t_' + table.key)} as k "
            f"from {checked} where {REASON} is null"
        )
        # ... and those of quarantined rows, which a reference names as such (`_violations`).
        con.execute(
            f"create or replace table quarantined_keys_{table.name} as select distinct {_q('t_' + table.key)} as k "
            f"from {checked} where {REASON} is not null and {_q('t_' + table.key)} is not null"
        )
    outside, first, last = 0, None, None
    if table.dated_by and interval is not None and not interval.is_everything:
        dated = f"cast({_q('t_' + table.dated_by)} as date)"
        outside, first, last = con.execute(
            f"select count(*), min({dated}), max({dated}) from {checked} where {REASON} is null "
            f"and {dated} not between date {_lit(str(interval.start))} and date {_lit(str(interval.end))}"
        ).fetchone()
    reasons = dict(
        con.execute(
            f"select split_part(r, ':', 1), count(*) from (select unnest(string_split({REASON}, '; ')) as r "
            f"from {checked} where {REASON} is not null) group by 1 order by 2 desc"
        ).fetchall()
    )
    if malformed:
        reasons["malformed line"] = malformed
    for scratch in ("checked", "malformed", "lines", "rejected", "scans"):
        con.execute(f"drop table if exists {scratch}_{table.name}")
    return TableReport(
        table.name, split + malformed, accepted, split - accepted + malformed,
        dict(zip(table.flagged_when_empty, flags, strict=True)), reasons,
        outside, (first.isoformat(), last.isoformat()) if outside else None,
    )  # fmt: skip


# -- the stage -------------------------------------------------------------------------------------


def _landed_files(ctx: Context, day: date, stack: ExitStack) -> dict[str, Path | None]:
    """The landed file of each table (None when the delivery had none), local: the file itself on a
    local lake, a download otherwise. A file the manifest lists and the lake lacks stops the stage."""
    manifest = read_manifest(ctx, day)
    by_table = {f["table"]: f for f in manifest["files"] if f["table"] in BY_NAME}
    if lost := [entry["path"] for entry in by_table.values() if not ctx.lake.exists(entry["path"])]:
        raise StageError(
            f"the lake lacks {', '.join(ctx.lake.uri(path) for path in lost)}, which extract landed "
            f"for ingest_date={day}",
            hint=f"run {extract_again(day, manifest)} again, then load",
        )
    files: dict[str, Path | None] = {}
    for table in TABLES:
        entry = by_table.get(table.name)
        files[table.name] = stack.enter_context(ctx.lake.local_copy(entry["path"])) if entry else None
    return files


def run(ctx: Context) -> StageResult:
    ctx.warehouse.check_lake(ctx.lake.uri())  # before any work: this lake and warehouse must go together
    day = ctx.ingest_date()
    if not ctx.lake.exists(f"{layout.MANIFESTS}/{layout.ingest_partition(day)}.json"):
        raise StageError(
            f"no extract for ingest_date={day} in {ctx.lake.uri()}",
            hint=f"run `grocery extract --date {day}` first",
        )
    manifest = {f["table"]: f for f in read_manifest(ctx, day)["files"]}
    reports: list[TableReport] = []
    loads: list[IngestLoad] = []
    lap = Stopwatch()  # seconds per table checked, and for the warehouse load

    with ExitStack() as stack:
        files = _landed_files(ctx, day, stack)
        encoding = ctx.spec.source.encoding
        check_files(files, encoding)
        scratch = stack.enter_context(ctx.scratch("load"))
        # In memory, spilling to the scratch folder past the limit: far faster than an on-disk database.
        con = stack.enter_context(
            duckdb.connect(config={"memory_limit": VALIDATION_MEMORY, "temp_directory": str(scratch)})
        )
        for table in TABLES:
            with (
                ctx.progress.step(f"checking {table.file_name}"),
                ctx.lake.staging_dir(staged_dir(table.name, day)) as staged,
                ctx.lake.staging_dir(quarantine_dir(table.name, day)) as quarantined,
            ):
                report = validate_table(
                    con, table, _readable(files[table.name], encoding, scratch), day, staged,
                    quarantined, scratch, ctx.interval, (manifest.get(table.name) or {}).get("lines"),
                )  # fmt: skip
            lap(table.name)
            _check_unchanged(files[table.name], manifest.get(table.name), report)
            reports.append(report)
            for schema, folder in (("raw", staged_dir), ("quarantine", quarantine_dir)):
                loads.append(
                    IngestLoad(schema, table, day, ctx.lake.uri(f"{folder(table.name, day)}/*.parquet"))
                )
    with ctx.progress.step(f"loading the warehouse (ingest_date={day})"):
        ctx.warehouse.replace_ingest(loads)
        _record_landing(ctx, day, list(manifest.values()))
    lap("warehouse")
    rows_in = sum(r.rows_in for r in reports)
    accepted = sum(r.accepted for r in reports)
    quarantined = sum(r.quarantined for r in reports)
    undated = sum(r.flagged.get("SalesDate", 0) for r in reports)
    notes = _outside_note(reports, ctx.interval) + _quarantine_note(reports)
    return StageResult(
        f"{rows_in:,} rows in = {accepted:,} accepted + {quarantined:,} quarantined "
        f"({undated:,} sales without a date kept) for ingest_date={day}{notes}",
        {
            "ingest_date": day.isoformat(),
            "rows_in": rows_in,
            "accepted": accepted,
            "quarantined": quarantined,
            "sales_without_date": undated,
            "sales_outside_interval": sum(r.outside_interval for r in reports),
            "tables": {r.table: r.__dict__ for r in reports},
            "step_seconds": lap.timings,
        },
    )


def _record_landing(ctx: Context, day: date, files: list[dict]) -> None:
    """Remember which landing of the ingest date the warehouse now holds (`LOADED_STATE`), for
    `grocery status`. After the load's transaction: a load stopped between the two leaves the landing
    unrecorded, and status asks for a load again, which changes nothing."""
    value = ctx.warehouse.read_state(LOADED_STATE)
    landings = json.loads(value) if value else {}
    landings[day.isoformat()] = landing_fingerprint(files)
    ctx.warehouse.write_state(LOADED_STATE, json.dumps(landings, sort_keys=True))


def _readable(path: Path | None, encoding: str, scratch: Path) -> Path:
    """The file DuckDB reads for a landed one: plain UTF-8 text (`encodings.utf_8`)."""
    assert path is not None  # check_files stops the stage on a missing file
    try:
        return encodings.utf_8(path, encoding, scratch)
    except encodings.GZIP_ERRORS as exc:
        raise InputError(
            f"cannot load: {path.name} cannot be decompressed: {encodings.gzip_damage(exc)}",
            hint="run extract again for this ingest date, then load; nothing was loaded",
        ) from None


def _check_unchanged(path: Path | None, landed: dict | None, report: TableReport) -> None:
    """Stop when a raw file is not what extract landed.

    Extract counts a file's data lines; a record whose quoted field holds a line break spans several
    (legal CSV), so only when the records read differ from the lines counted is the file read again
    for its checksum: the same bytes load as they are, other bytes stop the stage."""
    if path is None or landed is None or landed["rows"] == report.rows_in:
        return
    if measure(path).sha256 != landed["sha256"]:
        raise StageError(
            f"{path.name} changed after extract: its sha256 is not the manifest's "
            f"({report.rows_in:,} records read, {landed['rows']:,} lines landed)",
            hint="re-run extract for this ingest date, then load",
        )


def _quarantine_note(reports: list[TableReport], most: int = 3) -> str:
    """What the summary says of quarantined rows: where they are and, per table, the commonest reasons."""
    notes = [
        f"; quarantine.{r.table} has {r.quarantined:,}: "
        + ", ".join(
            f"{reason} ({n:,})"
            for reason, n in sorted(r.reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:most]
        )
        + (", ..." if len(r.reasons) > most else "")
        for r in reports
        if r.quarantined
    ]
    return "".join(notes)


def _outside_note(reports: list[TableReport], interval: DataInterval) -> str:
    """What the summary says of accepted rows dated outside the interval: kept, and modelled on their
    own days by the next transform (`grocery.transform.stale_sales_days`)."""
    notes = [
        f"; {r.outside_interval:,} {r.table} dated {r.outside_dates[0]} .. {r.outside_dates[1]}, outside "
        f"{interval}, are kept in raw.{r.table}, and the next transform models their days too"
        for r in reports
        if r.outside_interval and r.outside_dates
    ]
    return "".join(notes)
