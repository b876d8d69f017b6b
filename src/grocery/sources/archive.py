"""A zip archive of the dataset's files, as Kaggle's page and API hand it out: unpacked, then the
folder holding the files found in it (the archive's top level or a subfolder)."""

from __future__ import annotations

import zipfile
import zlib
from collections import Counter
from pathlib import Path

from grocery.errors import SourceError
from grocery.sources.base import table_of
from grocery.tables import BY_NAME, TABLES


def is_archive(path: Path) -> bool:
    """Whether an input is a zip archive (of the dataset's files), by its name."""
    return path.suffix.lower() == ".zip"


def unpack(archive: Path, target: Path, what: str, hint: str) -> None:
    """Extract an archive; reading every member checks its CRC, so a damaged zip fails here. `what`
    names the archive in errors (e.g. "kaggle owner/slug"), `hint` says what to do about damage."""
    unreadable = f"unpack it with a tool that can, and give the folder as --input instead of {archive.name}"
    try:
        with zipfile.ZipFile(archive) as z:
            # Two members of one name: unpacking keeps the last alone, and the first would be lost.
            if twice := sorted(name for name, n in Counter(z.namelist()).items() if n > 1):
                raise SourceError(
                    f"{what}: the archive holds {', '.join(twice)} more than once",
                    hint="make the archive again with one file of each name",
                )
            z.extractall(target)  # extractall drops absolute paths and ".." from member names
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise SourceError(f"{what}: the archive is damaged ({e})", hint=hint) from None
    except NotImplementedError as e:  # Deflate64, as Windows' Explorer writes large archives, and others
        raise SourceError(
            f"{what}: the archive uses a compression Python cannot read ({e})", hint=unreadable
        ) from None
    except RuntimeError as e:  # zipfile's word for a member that needs a password (after its subclass)
        raise SourceError(f"{what}: the archive is encrypted ({e})", hint=unreadable) from None
    except OSError as e:
        raise SourceError(f"{what}: could not unpack into {target}: {e}") from None


def find_folder(unpacked: Path, what: str, hint: str, *, every_file: bool = True) -> Path:
    """The folder of an unpacked archive holding the seven files (`every_file`), or the most of them;
    a SourceError naming what is missing otherwise. A file is its table's by the rule of a delivery
    (`table_of`: any case, gzip-compressed too)."""
    tables = {
        folder: {t for p in folder.iterdir() if p.is_file() and (t := table_of(p)) in BY_NAME}
        for folder in {p.parent for p in unpacked.rglob("*")} | {unpacked}
    }
    # The most of the seven; among those, the shallowest.
    best = min(tables, key=lambda d: (-len(tables[d]), len(d.parts), str(d)))
    missing = [t.file_name for t in TABLES if t.name not in tables[best]]
    if not missing or (not every_file and tables[best]):
        return best
    found = sorted(p.relative_to(unpacked).as_posix() for p in unpacked.rglob("*") if p.is_file())
    raise SourceError(
        f"{what}: the archive lacks {', '.join(missing)} (it holds {', '.join(found[:10]) or 'nothing'})",
        hint=hint,
    )
