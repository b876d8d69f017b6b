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

A delivered file may also be gzip-compressed (`sales.csv.gz`): its bytes are read decompressed, and
DuckDB reads a plain copy.
"""

from __future__ import annotations

import codecs
import gzip
import io
import shutil
import zlib
from pathlib import Path
from typing import BinaryIO

from grocery.config import LATIN_1, UTF_8, WINDOWS_1252

_CODECS = {UTF_8: "utf-8-sig", LATIN_1: "latin-1", WINDOWS_1252: "cp1252"}  # Python's names
_AS_LATIN_1 = "grocery-as-latin-1"
_CHUNK = 8 << 20  # characters decoded per read
GZIP = ".gz"  # the end of a gzip-compressed file's name
# What reading a damaged gzip file raises: not gzip at all, cut short, or corrupt inside.
GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


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


def gzip_damage(error: Exception) -> str:
    """What one of GZIP_ERRORS says of a file, in words."""
    if isinstance(error, gzip.BadGzipFile):
        return "it is not gzip-compressed"
    if isinstance(error, EOFError):
        return "it is cut short: its compressed data ends early"
    return f"its compressed data is damaged ({error})"


def compressed(path: Path) -> bool:
    """Whether a delivered file is gzip-compressed, by its name (`sales.csv.gz`, any case)."""
    return path.name.lower().endswith(GZIP)


def open_bytes(path: Path) -> BinaryIO:
    """A delivered file's bytes, decompressed when it is gzip-compressed."""
    return gzip.open(path, "rb") if compressed(path) else open(path, "rb")


def utf_8(path: Path, encoding: str, folder: Path) -> Path:
    """The file for DuckDB to read: `path` itself when plain UTF-8, else its plain UTF-8 copy in
    `folder`. Line breaks stay as they are, so lines keep their numbers. Raises one of GZIP_ERRORS
    when a compressed file is damaged."""
    if encoding == UTF_8 and not compressed(path):
        return path
    stem = path.name[: -len(GZIP)] if compressed(path) else path.name
    copy = folder / f"{Path(stem).stem}.utf-8.csv"
    with open_bytes(path) as raw:
        if encoding == UTF_8:  # only compressed: DuckDB reads the bytes as they are
            with open(copy, "wb") as target:
                shutil.copyfileobj(raw, target, _CHUNK)
            return copy
        with (
            io.TextIOWrapper(raw, encoding=_CODECS[encoding], errors=_errors(encoding), newline="") as source,
            open(copy, "w", encoding="utf-8", newline="") as target,
        ):
            while text := source.read(_CHUNK):
                target.write(text)
    return copy
