"""The text encodings a delivery's files may be in (`source.encoding`), and how DuckDB reads each.

DuckDB reads UTF-8 files itself, and a file in any other encoding is decoded here into a UTF-8
copy, which DuckDB reads. (DuckDB's own latin-1 reader stops the whole query at a byte in 0x80-0x9F,
"File is not latin-1 encoded", and those are the bytes a spreadsheet's file holds most often.)
- latin-1 (ISO-8859-1) maps every byte to the character of the same number, 0x80-0x9F to control
  characters;
- windows-1252, what spreadsheets on Windows write, has the euro sign, curly quotes and dashes
  there. As browsers decode it (the WHATWG encoding standard), the five bytes it leaves undefined
  become the control characters of the same number.
Either way every file decodes, and no byte is lost.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from grocery.config import LATIN_1, UTF_8, WINDOWS_1252

_CODECS = {UTF_8: "utf-8-sig", LATIN_1: "latin-1", WINDOWS_1252: "cp1252"}  # Python's names
_AS_LATIN_1 = "grocery-as-latin-1"
_CHUNK = 8 << 20  # characters decoded per read


def _as_latin_1(error: UnicodeError) -> tuple[str, int]:
    """An undefined byte of windows-1252 decodes as in latin-1, to the control character of its number."""
    assert isinstance(error, UnicodeDecodeError)
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error(_AS_LATIN_1, _as_latin_1)


def _errors(encoding: str) -> str:
    """How bytes that `encoding` leaves undefined decode: as latin-1 in windows-1252, else an error."""
    return _AS_LATIN_1 if encoding == WINDOWS_1252 else "strict"


def decode(data: bytes, encoding: str) -> str:
    """Bytes of a file in `encoding` as text (a UTF-8 byte order mark left out); UnicodeDecodeError
    when they are not in it."""
    return data.decode(_CODECS[encoding], errors=_errors(encoding))


def utf_8(path: Path, encoding: str, folder: Path) -> Path:
    """The file for DuckDB to read: `path` itself when in UTF-8, else its UTF-8 copy in `folder`.
    Line breaks stay as they are, so lines keep their numbers."""
    if encoding == UTF_8:
        return path
    copy = folder / f"{path.stem}.utf-8{path.suffix}"
    with (
        open(path, encoding=_CODECS[encoding], errors=_errors(encoding), newline="") as source,
        open(copy, "w", encoding="utf-8", newline="") as target,
    ):
        while text := source.read(_CHUNK):
            target.write(text)
    return copy
