"""Where each record of a CSV file starts: the file line a quarantined row points at.

A CSV reader counts records, not lines. Two things part them: a quoted field may hold line breaks,
so a record can span several lines, and blank lines between records are skipped. DuckDB reports
neither for the rows it reads, so `load` numbers a file's records itself when the file has either
(its line count differs from its record count): a record starts on a line that begins outside
quotes and is not blank. Quotes are counted, not parsed: an escaped quote (`""`) counts two and
leaves the parity as it was.

The file is read in chunks with numpy, keeping a few bytes per line.
"""

from __future__ import annotations

from dataclasses import dataclass
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

    @property
    def first_line(self) -> np.ndarray:
        """The first line of every record, the header's first."""
        return self.line[~self.blank]

    def __len__(self) -> int:
        """The number of records, the header's included."""
        return int(np.count_nonzero(~self.blank))

    def record_at(self, position: np.ndarray) -> np.ndarray | None:
        """The index of the record at each of these 1-based positions among the lines counted; None
        when one is no record (the reader parted the file otherwise than the quotes do)."""
        index = np.asarray(position, dtype=np.int64) - 1
        if np.any(index < 0) or np.any(index >= len(self.line)) or np.any(self.blank[index]):
            return None
        return np.cumsum(~self.blank)[index] - 1


def record_starts(path: Path) -> RecordStarts:
    """Scan a file once for the lines its records start on, and its blank lines."""
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
        return RecordStarts(np.empty(0, dtype=np.int64), np.empty(0, dtype=bool))
    end = np.concatenate(ends)
    if not len(end) or end[-1] != size - 1:  # the last line has no line break: it ends with the file
        end = np.append(end, size)
        odd.append(np.array([bool(quotes & 1)]))
        after_return.append(np.array([previous == _RETURN]))
    start = np.concatenate(([0], end[:-1] + 1))
    inside = np.concatenate(([False], np.concatenate(odd)[:-1]))  # the line begins within quotes
    length = end - start
    blank = (length == 0) | ((length == 1) & np.concatenate(after_return))
    outside = np.flatnonzero(~inside)
    return RecordStarts(outside + 1, blank[outside])
