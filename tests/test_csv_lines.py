"""Where a CSV file's records start, checked against Python's csv reader."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
import pytest

from grocery import csv_lines
from grocery.csv_lines import parsed_record_starts, record_starts, with_lf_line_ends


def _reader_starts(path: Path) -> list[int]:
    """The line each record starts on, as Python's csv reader sees it (blank lines are empty rows)."""
    starts = []
    with open(path, newline="", encoding="latin-1") as f:
        reader = csv.reader(f)
        before = 0
        for row in reader:
            if row:
                starts.append(before + 1)
            before = reader.line_num
    return starts


def _field(rng: random.Random) -> str:
    return rng.choice(["1", "a b", '"x,y"', '"two\nlines"', '"say ""hi"""', '"\r\n"', "", '"a\n\nb"'])


def _messy_csv(rng: random.Random) -> bytes:
    """A header, records with quoted commas, quotes and line breaks, blank lines (LF and CRLF) between
    them, and a last line with or without its line break."""
    lines = ["a,b,c"]
    for _ in range(rng.randint(0, 40)):
        lines.append(",".join(_field(rng) for _ in range(3)))
        lines.extend([""] * rng.choice([0, 0, 0, 1, 2]))
    end = rng.choice(["\n", "\r\n"])
    text = end.join(lines) + rng.choice(["", end])
    return text.encode()


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 32 << 20])
def test_records_start_where_the_csv_reader_starts_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(csv_lines, "_CHUNK", chunk)
    rng = random.Random(chunk)
    path = tmp_path / "x.csv"
    for _ in range(60):
        data = _messy_csv(rng)
        path.write_bytes(data)
        for scan in (record_starts, parsed_record_starts):
            starts = scan(path)
            assert starts.first_line.tolist() == _reader_starts(path), data
            assert len(starts) == len(_reader_starts(path))
            assert starts.lines == data.count(b"\n") + (not data.endswith(b"\n") and bool(data))


def test_a_file_of_blank_lines_or_none_has_no_records(tmp_path: Path) -> None:
    for data in (b"", b"\n\n", b"\r\n"):
        path = tmp_path / "x.csv"
        path.write_bytes(data)
        assert len(record_starts(path)) == 0


def test_a_record_is_found_at_its_position_among_records_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b'a,b\n1,"x\n\ny"\n\n\n2,z\n')  # the record 2,z is on line 7
    starts = record_starts(path)
    assert starts.first_line.tolist() == [1, 2, 7]
    # Counted: the header, record 1, the two blank lines between the records, record 2.
    assert starts.record_at(np.array([2, 5])).tolist() == [1, 2]
    assert starts.record_at(np.array([3])) is None  # a blank line
    assert starts.record_at(np.array([6])) is None  # past the end


def test_a_literal_quote_parts_records_as_a_csv_reader_does(tmp_path: Path) -> None:
    """Counting quotes takes `12" thin` for an opening quote; the parse reads it as CSV readers do."""
    path = tmp_path / "x.csv"
    path.write_bytes(b'a,b\n1,Pizza 12" thin\n\n2,"two\nlines"\n3,x')
    assert parsed_record_starts(path).first_line.tolist() == _reader_starts(path) == [1, 2, 4, 6]
    assert record_starts(path).first_line.tolist() != [1, 2, 4, 6]


def test_a_record_has_its_bytes_and_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b'a,b\r\n1,"x\r\ny"\r\n\r\n2,z')
    for scan in (record_starts, parsed_record_starts):
        starts = scan(path)
        assert [starts.text(path, record) for record in range(len(starts))] == [b"a,b", b'1,"x\r\ny"', b"2,z"]
        assert [starts.extent(record)[2] for record in range(len(starts))] == [1, 2, 1]


@pytest.mark.parametrize("chunk", [1, 2, 3, 32 << 20])
def test_line_ends_become_lf_and_a_quoted_field_keeps_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(csv_lines, "_CHUNK", chunk)
    path = tmp_path / "x.csv"
    path.write_bytes(b'a,b\r\n1,"x\r\ny"\n2,z\r\n3,"\r"\r\n4,w\r')
    copy = with_lf_line_ends(path, tmp_path / "lf.csv")
    assert copy.read_bytes() == b'a,b\n1,"x\r\ny"\n2,z\n3,"\r"\n4,w\r'
