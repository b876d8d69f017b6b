"""What each `source.encoding` makes of a file's bytes, for DuckDB to read as UTF-8."""

from __future__ import annotations

from pathlib import Path

import pytest

from grocery import encodings

# Every byte once, each line ended as Windows ends it: the copy must keep them all, and the breaks.
EVERY_BYTE = b"".join(bytes([b]) for b in range(256) if b not in b"\r\n") + b"\r\nx\r\n"


@pytest.mark.parametrize(
    ("encoding", "euro", "undefined"),
    [("windows-1252", "\u20ac", "\x81"), ("latin-1", "\x80", "\x81")],
)
def test_a_copy_holds_every_byte_as_its_encoding_reads_it(
    tmp_path: Path, encoding: str, euro: str, undefined: str
) -> None:
    source = tmp_path / "sales.csv"
    source.write_bytes(EVERY_BYTE)
    (tmp_path / "copy").mkdir()
    copy = encodings.utf_8(source, encoding, tmp_path / "copy")
    assert copy.parent == tmp_path / "copy" and copy.suffix == ".csv"
    text = copy.read_bytes().decode("utf-8")
    assert len(text) == len(EVERY_BYTE) and text.endswith("\r\nx\r\n")
    assert text[0x80 - 2] == euro  # 0x80, after the two line-break bytes left out above it
    assert text[0x81 - 2] == undefined  # undefined in windows-1252: the control character 0x81
    assert encodings.decode(EVERY_BYTE, encoding) == text


def test_utf_8_is_read_as_it_is(tmp_path: Path) -> None:
    source = tmp_path / "sales.csv"
    source.write_bytes("\ufeffSalesID\r\n1\r\n".encode())
    assert encodings.utf_8(source, "utf-8", tmp_path) == source
    assert encodings.decode(source.read_bytes(), "utf-8") == "SalesID\r\n1\r\n"  # without the byte order mark
    with pytest.raises(UnicodeDecodeError):
        encodings.decode(b"Jos\xe9", "utf-8")
