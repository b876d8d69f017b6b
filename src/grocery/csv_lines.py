"""Where each record of a CSV file starts: the file line a quarantined row points at.

A CSV reader counts records, not lines. Two things part them: a quoted field may hold line breaks,
so a record can span several lines, and blank lines between records are skipped. DuckDB reports
neither for the rows it reads, so `load` numbers a file's records itself when the file has either
(its line count differs from its record count): a record starts on a line that begins outside
quotes and is not blank.

`record_starts` counts quotes rather than parsing them: an escaped quote (`""`) counts two and leaves
the parity as it was. It reads the file in chunks with numpy, keeping a few bytes per line, and is
right for every file whose quotes open fields, as CSV writers write them. A quote inside an unquoted
field (`Pizza 12" thin`) is a literal to a CSV reader but flips the parity: for such a file
`parsed_record_starts` parses the file with Python's csv reader, which reads it as DuckDB does.

`with_lf_line_ends` copies a file that mixes LF and CRLF line ends, which DuckDB cannot read, with LF
alone, by the same parity.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

_CHUNK = 32 << 20
_NEWLINE, _RETURN, _QUOTE = ord("\n"), ord("\r"), ord('"')


@dataclass(frozen=True)
class RecordStarts:
    """The lines of a file that begin outside quotes, in order: a record's first line, or a blank line
    between records. CSV readers count these (DuckDB's `line` of a rejected record is its 1-based
    position among them), and skip the blank ones."""

    line: np.ndarray  # each one's line in the file, 1-based
    blank: np.ndarray  # whether it is blank
    offset: np.ndarray  # the byte each one begins at; one more, the file's size
    lines: int  # the file's lines

    @cached_property
    def _records(self) -> np.ndarray:
        """Where each record is among the lines counted."""
        return np.flatnonzero(~self.blank)

    @property
    def first_line(self) -> np.ndarray:
        """The first line of every record, the header's first."""
        return self.line[self._records]

    def __len__(self) -> int:
        """The number of records, the header's included."""
        return len(self._records)

    def record_at(self, position: np.ndarray) -> np.ndarray | None:
        """The index of the record at each of these 1-based positions among the lines counted; None
        when one is no record (the reader parted the file otherwise than the quotes do)."""
        index = np.asarray(position, dtype=np.int64) - 1
        if np.any(index < 0) or np.any(index >= len(self.line)) or np.any(self.blank[index]):
            return None
        return np.cumsum(~self.blank)[index] - 1

    def extent(self, record: int) -> tuple[int, int, int]:
        """Where a record's bytes begin and end (its line break included), and how many lines it takes.
        Record 0 is the header."""
        at = int(self._records[record])
        after = self.line[at + 1] if at + 1 < len(self.line) else self.lines + 1
        return int(self.offset[at]), int(self.offset[at + 1]), int(after - self.line[at])

    def longest(self) -> int:
        """The record with the most bytes (0, the header, when it is the only one)."""
        at = self._records
        return int(np.argmax(self.offset[at + 1] - self.offset[at]))

    def text(self, path: Path, record: int) -> bytes:
        """A record's bytes as the file holds them, without the line break that ends it."""
        begin, end, _ = self.extent(record)
        with open(path, "rb") as f:
            f.seek(begin)
            data = f.read(end - begin)
        return data.removesuffix(b"\n").removesuffix(b"\r")


def _scan(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Every line of a file: where it begins, whether it is blank, whether it begins within quotes
    (by their parity), and the file's size."""
    ends: list[np.ndarray] = []  # the byte offset of every line break
    odd: list[np.ndarray] = []  # per line break: an odd number of quotes before it, in the whole file
    after_return: list[np.ndarray] = []  # per line break: the byte before it is a carriage return
    quotes = size = 0
    previous = 0  # the last byte of the chunk before
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            data = np.frombuffer(chunk, dtype=np.uint8)
            breaks = np.flatnonzero(data == _NEWLINE)
            quoted = np.flatnonzero(data == _QUOTE)
            ends.append(breaks + size)
            odd.append(((quotes + np.searchsorted(quoted, breaks)) & 1).astype(bool))
            before = np.where(breaks > 0, data[np.maximum(breaks - 1, 0)], previous)
            after_return.append(before == _RETURN)
            quotes += len(quoted)
            size += len(data)
            previous = int(data[-1])
    if not size:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=bool), np.empty(0, dtype=bool), 0
    end = np.concatenate(ends)
    if not len(end) or end[-1] != size - 1:  # the last line has no line break: it ends with the file
        end = np.append(end, size)
        odd.append(np.array([bool(quotes & 1)]))
        after_return.append(np.array([previous == _RETURN]))
    start = np.concatenate(([0], end[:-1] + 1))
    inside = np.concatenate(([False], np.concatenate(odd)[:-1]))  # the line begins within quotes
    length = end - start
    blank = (length == 0) | ((length == 1) & np.concatenate(after_return))
    return start, blank, inside, size


def record_starts(path: Path) -> RecordStarts:
    """Scan a file once for the lines its records start on, and its blank lines: by quote parity."""
    start, blank, inside, size = _scan(path)
    outside = np.flatnonzero(~inside)
    return RecordStarts(outside + 1, blank[outside], np.append(start[outside], size), len(start))


def parsed_record_starts(path: Path, encoding: str = "utf-8") -> RecordStarts:
    """The same as `record_starts`, from a parse of the file with Python's csv reader: a quote opens
    a quoted field only where the field begins. About ten times slower."""
    start, blank, _, size = _scan(path)
    first: list[int] = []
    limit = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)  # a record may be as long as the file (a quote left open)
    try:
        with open(path, "rb") as f:
            # Lines end at LF alone, as the scan's do (a text file would end them at a CR too).
            reader = csv.reader(line.decode(encoding, errors="replace") for line in f)
            before = 0  # the lines read before this record
            for _ in reader:
                first.append(before + 1)
                before = reader.line_num
    finally:
        csv.field_size_limit(limit)
    line = np.asarray(first, dtype=np.int64)
    return RecordStarts(line, blank[line - 1], np.append(start[line - 1], size), len(start))


def with_lf_line_ends(path: Path, copy: Path) -> Path:
    """A copy of a file with each CRLF outside quotes made LF: a line end, where a quoted field keeps
    its CRLF as delivered (by the quotes' parity, as `record_starts` reads them)."""
    quotes = 0  # in the file before this chunk
    with open(path, "rb") as source, open(copy, "wb") as target:
        carry = b""
        while chunk := source.read(_CHUNK):
            data = carry + chunk
            carry = b"\r" if data.endswith(b"\r") else b""  # its LF may open the next chunk
            body = np.frombuffer(data, dtype=np.uint8)[: len(data) - len(carry)]
            returns = np.flatnonzero((body[:-1] == _RETURN) & (body[1:] == _NEWLINE))
            quoted = np.flatnonzero(body == _QUOTE)
            inside = (quotes + np.searchsorted(quoted, returns)) & 1
            keep = np.ones(len(body), dtype=bool)
            keep[returns[inside == 0]] = False
            target.write(body[keep].tobytes())
            quotes += len(quoted)
        target.write(carry)
    return copy
