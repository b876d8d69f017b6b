"""The `kaggle` source: the public "Grocery Sales Dataset", downloaded once and kept in a cache.

The download goes through `kagglesdk`, the client the `kaggle` package 2.x uses: one
`DatasetApiService/DownloadDataset` call that the API answers with a redirect to the archive's blob
URL. We build `kagglesdk.KaggleClient` directly instead of calling `kaggle.api`, because
`KaggleApi` (2.2.5) authenticates and prints a page of text at import, exits the process when it
finds no credentials, and ignores `KAGGLE_API_ENVIRONMENT=TEST`, which the tests use to point the
client at a fake API on http://localhost:7777.

Credentials, first found wins (the `kaggle` CLI's own order, never read from the repository):
`KAGGLE_API_TOKEN` (the token or a file holding it) or `~/.kaggle/access_token`; then
`KAGGLE_USERNAME` + `KAGGLE_KEY`, each falling back to `kaggle.json` in `KAGGLE_CONFIG_DIR`,
`~/.kaggle` or `~/.config/kaggle`.

Cache layout under `cache_dir/<owner>/<slug>/`: `files/` holds the unpacked archive and
`verified.json` records, once every check passed, the folder holding the seven CSV files and their
sizes. A later run reuses the files when the record is there and the sizes and headers still match;
otherwise (or with `force`) it downloads again.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from grocery.errors import SourceError
from grocery.interval import DataInterval
from grocery.sources.archive import find_folder, unpack
from grocery.sources.base import Delivery
from grocery.tables import TABLES

_DATASET = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*/[A-Za-z0-9_-][A-Za-z0-9_.-]*$")
_CHUNK = 1 << 20
_MARKER = "verified.json"
_CREDENTIALS_HINT = (
    "create an API token at https://www.kaggle.com/settings and export KAGGLE_API_TOKEN=<token>, "
    "or export KAGGLE_USERNAME and KAGGLE_KEY, or save kaggle.json in ~/.kaggle"
)
_STATUS_HINTS = {
    401: "Kaggle rejected the credentials; " + _CREDENTIALS_HINT,
    403: "accept the dataset's rules on its Kaggle page, or check the token's permissions",
    404: "check the dataset handle <owner>/<dataset> on kaggle.com",
    429: "Kaggle is limiting requests; wait a while and run again",
}


@dataclass(frozen=True)
class KaggleSource:
    dataset: str  # "<owner>/<dataset-slug>", e.g. "andrexibiza/grocery-sales-dataset"
    cache_dir: Path
    force: bool = False  # download again even when the cache is complete and verified

    def fetch(self, workdir: Path, interval: DataInterval) -> Delivery:
        """Deliver the seven files from the cache, downloading and verifying them first if needed.

        The interval is ignored: the dataset is one archive holding the whole history, so every
        interval gets all of it (the extract stage picks the days it needs). workdir is not used
        either; the files are delivered from the cache.
        """
        if not _DATASET.match(self.dataset):
            raise SourceError(
                f"kaggle dataset {self.dataset!r} is not an <owner>/<dataset> handle",
                hint="e.g. andrexibiza/grocery-sales-dataset",
            )
        root = self.cache_dir / self.dataset
        if not self.force:
            folder = _cached_folder(root)
            if folder is not None:
                return self._delivery(folder)
        return self._delivery(self._download(root))

    def _delivery(self, folder: Path) -> Delivery:
        return Delivery(folder=folder, description=f"kaggle {self.dataset}")

    def _download(self, root: Path) -> Path:
        """Download, unpack and verify the archive; the folder holding the seven files."""
        marker, files, unpacked = root / _MARKER, root / "files", root / "files.partial"
        archive = root / "download.zip"
        marker.unlink(missing_ok=True)  # the cache is unverified from here until the end
        for stale in (files, unpacked):  # make room: the unpacked dataset is about 600 MB
            shutil.rmtree(stale, ignore_errors=True)
        root.mkdir(parents=True, exist_ok=True)
        try:
            _download_archive(self.dataset, archive)
            what = f"kaggle {self.dataset}"
            unpack(archive, unpacked, what, hint="run again to download it anew")
            folder = find_folder(
                unpacked,
                what,
                hint="check the dataset handle, or use --input with a folder holding the seven files",
            )
            for t in TABLES:
                problem = _header_problem(folder / t.file_name, t.column_names)
                if problem:
                    raise SourceError(
                        f"kaggle {self.dataset}: {t.file_name} {problem}",
                        hint="the dataset's format changed; use --input with a folder in the expected format",
                    )
            unpacked.rename(files)
        finally:
            archive.unlink(missing_ok=True)  # 540 MB: the unpacked files are what we keep
            shutil.rmtree(unpacked, ignore_errors=True)
        folder = files / folder.relative_to(unpacked)
        record = {
            "dataset": self.dataset,
            "folder": folder.relative_to(root).as_posix(),
            "sizes": {t.file_name: (folder / t.file_name).stat().st_size for t in TABLES},
            "verified_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=2) + "\n")
        tmp.replace(marker)
        return folder


def _cached_folder(root: Path) -> Path | None:
    """The cached folder when its record exists and the files still match it, else None."""
    try:
        record = json.loads((root / _MARKER).read_text())
        folder = root / record["folder"]
        sizes = record["sizes"]
        for t in TABLES:
            path = folder / t.file_name
            if path.stat().st_size != sizes[t.file_name] or _header_problem(path, t.column_names):
                return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return folder


def _download_archive(dataset: str, archive: Path) -> None:
    """Stream the dataset's zip into archive through kagglesdk; failures become SourceError."""
    try:
        import requests
        from kagglesdk import KaggleClient
        from kagglesdk.datasets.types.dataset_api_service import ApiDownloadDatasetRequest
        from kagglesdk.kaggle_env import get_endpoint, get_env
    except ImportError:
        raise SourceError(
            "the kaggle source needs the kaggle package", hint="pip install 'grocery-pipeline[kaggle]'"
        ) from None
    try:
        env = get_env()
    except Exception:  # kagglesdk raises a bare Exception for an unknown value
        raise SourceError(
            f"KAGGLE_API_ENVIRONMENT={os.environ.get('KAGGLE_API_ENVIRONMENT')!r} is not recognized",
            hint="unset it to use api.kaggle.com",
        ) from None
    endpoint = get_endpoint(env)
    credentials = _credentials()
    owner, slug = dataset.split("/")
    request = ApiDownloadDatasetRequest()
    request.owner_slug, request.dataset_slug = owner, slug
    partial = archive.with_suffix(".partial")
    try:
        with KaggleClient(env=env, **credentials) as client:
            # kagglesdk follows the redirect to the blob URL and hands back the streamed response;
            # urllib3 raises if the body ends before its Content-Length.
            response = client.datasets.dataset_api_client.download_dataset(request)
            with response, partial.open("wb") as out:
                for chunk in response.iter_content(_CHUNK):
                    out.write(chunk)
        partial.replace(archive)
    except requests.HTTPError as e:
        status = e.response.status_code if e.response is not None else 0
        reason = f" {e.response.reason}" if e.response is not None and e.response.reason else ""
        hint = _STATUS_HINTS.get(status) or (
            "Kaggle had a server error; run again later" if status >= 500 else None
        )
        raise SourceError(f"kaggle download of {dataset} failed: HTTP {status}{reason}", hint=hint) from None
    except (requests.ConnectionError, requests.Timeout) as e:
        raise SourceError(
            f"kaggle download of {dataset} failed: could not reach {endpoint} ({type(e).__name__})",
            hint="check the network connection and any HTTPS_PROXY setting",
        ) from None
    except requests.RequestException as e:
        raise SourceError(
            f"kaggle download of {dataset} broke off ({type(e).__name__})", hint="run again"
        ) from None
    finally:
        partial.unlink(missing_ok=True)


def _credentials() -> dict[str, Any]:
    """KaggleClient's credential arguments, or SourceError saying how to provide them."""
    from kagglesdk.kaggle_env import get_access_token_from_env

    token, _ = get_access_token_from_env()  # KAGGLE_API_TOKEN, ~/.kaggle/access_token
    if token:
        return {"api_token": token}
    stored: dict[str, Any] = {}
    path = _kaggle_json()
    both_set = os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY")
    if path is not None and not both_set:  # the environment wins: kaggle.json only fills in
        try:
            stored = json.loads(path.read_text())
            if not isinstance(stored, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as e:
            raise SourceError(f"{path} is not valid: {e}", hint=_CREDENTIALS_HINT) from None
    username = os.environ.get("KAGGLE_USERNAME") or stored.get("username")
    key = os.environ.get("KAGGLE_KEY") or stored.get("key")
    if not (username and key):
        raise SourceError("no Kaggle credentials found", hint=_CREDENTIALS_HINT)
    return {"username": str(username), "password": str(key)}


def _kaggle_json() -> Path | None:
    """The kaggle.json the `kaggle` CLI would read, if there is one."""
    if os.environ.get("KAGGLE_CONFIG_DIR"):
        candidates = [Path(os.environ["KAGGLE_CONFIG_DIR"])]
    else:
        xdg = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
        candidates = [Path.home() / ".kaggle", Path(xdg) / "kaggle"]
    return next((d / "kaggle.json" for d in candidates if (d / "kaggle.json").is_file()), None)


def _header_problem(path: Path, expected: list[str]) -> str | None:
    """What is wrong with a file's header line (BOM and CRLF allowed), or None when it matches."""
    if not path.is_file():  # the archive holds it under another spelling (Sales.CSV, sales.csv.gz)
        return "is not in the archive under that name"
    with path.open("rb") as f:
        first = f.readline(1 << 16)
    try:
        line = first.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError:
        return "does not start with a UTF-8 header line"
    header = next(csv.reader([line]), [])
    if header != expected:
        return f"has header {','.join(header) or '(empty)'}, expected {','.join(expected)}"
    return None
