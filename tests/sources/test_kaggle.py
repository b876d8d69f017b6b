"""The kaggle source downloads through the real kagglesdk client from a fake Kaggle API on loopback.

KAGGLE_API_ENVIRONMENT=TEST points kagglesdk at http://localhost:7777, where tests/fakes/kaggle_api
serves small archives of the seven files; HOME and KAGGLE_CONFIG_DIR are temporary folders, so the
real ~/.kaggle is never read and nothing leaves the machine.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.kaggle_api import DOWNLOAD_PATH, FakeKaggle, grocery_zip, port_is_free, sample_csv

from grocery.errors import SourceError
from grocery.interval import DataInterval
from grocery.sources.kaggle import KaggleSource
from grocery.tables import PRODUCTS, SALES, TABLES

DATASET = "andrexibiza/grocery-sales-dataset"
USERNAME, KEY, TOKEN = "tester", "secret-key", "KGAT_test_token"
EVERYTHING = DataInterval.everything()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean environment: no Kaggle settings or credentials, kagglesdk aimed at the fake API."""
    for name in list(os.environ):
        if name.startswith("KAGGLE_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    (home / ".kaggle").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(home / ".kaggle"))
    monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "TEST")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    return home


@pytest.fixture
def credentials(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAGGLE_USERNAME", USERNAME)
    monkeypatch.setenv("KAGGLE_KEY", KEY)


def serve(archive: bytes) -> FakeKaggle:
    return FakeKaggle({DATASET: archive}, username=USERNAME, key=KEY, token=TOKEN)


@pytest.fixture
def fake(home: Path) -> Iterator[FakeKaggle]:
    try:
        with serve(grocery_zip()) as fake:
            yield fake
    except RuntimeError as e:  # the port is taken
        pytest.fail(str(e))


@pytest.fixture
def source(tmp_path: Path) -> KaggleSource:
    return KaggleSource(dataset=DATASET, cache_dir=tmp_path / "cache" / "kaggle")


def fetch(source: KaggleSource, tmp_path: Path):
    return source.fetch(tmp_path / "work", EVERYTHING)


def fetch_error(source: KaggleSource, tmp_path: Path) -> SourceError:
    with pytest.raises(SourceError) as caught:
        fetch(source, tmp_path)
    assert "\n" not in str(caught.value)
    return caught.value


def test_download_lands_the_seven_verified_files(fake, credentials, source, tmp_path):
    delivery = fetch(source, tmp_path)

    assert sorted(p.name for p in delivery.folder.iterdir()) == sorted(t.file_name for t in TABLES)
    for t in TABLES:
        assert (delivery.folder / t.file_name).read_bytes() == sample_csv(t)
    assert delivery.description == f"kaggle {DATASET}"
    assert delivery.last_sales_date is None
    record = json.loads((source.cache_dir / DATASET / "verified.json").read_text())
    assert record["sizes"]["sales.csv"] == len(sample_csv(TABLES[-1]))
    assert not list((source.cache_dir / DATASET).glob("*.zip"))  # the archive is not kept
    assert fake.requests == [("POST", DOWNLOAD_PATH), ("GET", f"/blobs/{DATASET}.zip?signature=fake")]


def test_second_fetch_reuses_the_cache_without_a_request(fake, credentials, source, tmp_path):
    first = fetch(source, tmp_path)
    seen = len(fake.requests)

    second = fetch(source, tmp_path)

    assert second == first
    assert len(fake.requests) == seen


def test_damaged_cache_is_downloaded_again(fake, credentials, source, tmp_path):
    delivery = fetch(source, tmp_path)
    (delivery.folder / "sales.csv").write_bytes(b"SalesID\n1\n")

    again = fetch(source, tmp_path)

    assert (again.folder / "sales.csv").read_bytes() == sample_csv(TABLES[-1])
    assert fake.requests.count(("POST", DOWNLOAD_PATH)) == 2


def test_force_downloads_again(fake, credentials, source, tmp_path):
    fetch(source, tmp_path)

    KaggleSource(source.dataset, source.cache_dir, force=True).fetch(tmp_path / "work", EVERYTHING)

    assert fake.requests.count(("POST", DOWNLOAD_PATH)) == 2


def test_archive_with_a_subfolder_bom_and_crlf_is_accepted(home, credentials, source, tmp_path):
    products = b"\xef\xbb\xbf" + sample_csv(PRODUCTS, newline="\r\n")
    with serve(grocery_zip(prefix="data/", files={"products.csv": products})):
        delivery = fetch(source, tmp_path)

    assert delivery.folder == source.cache_dir / DATASET / "files" / "data"
    assert (delivery.folder / "products.csv").read_bytes() == products


def test_token_in_the_environment_is_sent_as_bearer(home, source, tmp_path, monkeypatch):
    monkeypatch.setenv("KAGGLE_API_TOKEN", TOKEN)
    with FakeKaggle({DATASET: grocery_zip()}, token=TOKEN) as fake:
        fetch(source, tmp_path)

    assert ("POST", DOWNLOAD_PATH) in fake.requests


def test_kaggle_json_in_the_config_dir_is_used(fake, home, source, tmp_path):
    (home / ".kaggle" / "kaggle.json").write_text(json.dumps({"username": USERNAME, "key": KEY}))

    delivery = fetch(source, tmp_path)

    assert (delivery.folder / "sales.csv").is_file()


def test_a_broken_kaggle_json_is_named_unless_the_environment_has_both(
    fake, home, source, tmp_path, monkeypatch
):
    """As the kaggle CLI: KAGGLE_USERNAME and KAGGLE_KEY set, kaggle.json is not read at all."""
    (home / ".kaggle" / "kaggle.json").write_text("not json")
    monkeypatch.setenv("KAGGLE_USERNAME", USERNAME)

    error = fetch_error(source, tmp_path)
    assert error.message.startswith(f"{home / '.kaggle' / 'kaggle.json'} is not valid: ")

    monkeypatch.setenv("KAGGLE_KEY", KEY)
    assert (fetch(source, tmp_path).folder / "sales.csv").is_file()


def test_no_credentials_fail_with_a_hint_before_any_request(fake, source, tmp_path):
    error = fetch_error(source, tmp_path)

    assert error.message == "no Kaggle credentials found"
    assert "KAGGLE_API_TOKEN" in error.hint and "KAGGLE_USERNAME" in error.hint
    assert "kaggle.json" in error.hint
    assert fake.requests == []


def test_rejected_credentials_fail_with_http_401(fake, credentials, source, tmp_path, monkeypatch):
    monkeypatch.setenv("KAGGLE_KEY", "wrong")

    error = fetch_error(source, tmp_path)

    assert "HTTP 401" in error.message
    assert "KAGGLE_API_TOKEN" in error.hint


def test_unknown_dataset_fails_with_http_404(fake, credentials, tmp_path):
    error = fetch_error(KaggleSource("someone/no-such-dataset", tmp_path / "cache"), tmp_path)

    assert "HTTP 404" in error.message
    assert "someone/no-such-dataset" in error.message


def test_server_error_fails_with_http_500(fake, credentials, source, tmp_path):
    fake.fail_status = 500

    error = fetch_error(source, tmp_path)

    assert "HTTP 500" in error.message
    assert not (source.cache_dir / DATASET / "verified.json").exists()


def test_transfer_cut_short_fails_and_leaves_no_partial_file(fake, credentials, source, tmp_path):
    fake.drop_blob_midway = True

    error = fetch_error(source, tmp_path)

    assert "broke off" in error.message
    assert [p.name for p in (source.cache_dir / DATASET).iterdir()] == []


def test_unreachable_api_fails_in_one_line(home, credentials, source, tmp_path):
    if not port_is_free():
        pytest.skip("something listens on port 7777")

    error = fetch_error(source, tmp_path)

    assert "could not reach http://localhost:7777" in error.message


def flip_a_byte(archive: bytes, member: str) -> bytes:
    """The archive with one byte of a member's compressed data changed."""
    info = zipfile.ZipFile(io.BytesIO(archive)).getinfo(member)
    offset = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + info.compress_size // 2
    data = bytearray(archive)
    data[offset] ^= 0xFF
    return bytes(data)


@pytest.mark.parametrize(
    "archive",
    [
        grocery_zip()[:-200],
        b"<html>not a zip</html>",
        flip_a_byte(grocery_zip(), "sales.csv"),
    ],
    ids=["truncated", "not-a-zip", "flipped-byte"],
)
def test_damaged_archive_fails_and_leaves_no_verified_cache(home, credentials, source, tmp_path, archive):
    with serve(archive):
        error = fetch_error(source, tmp_path)

    assert "archive is damaged" in error.message
    assert not (source.cache_dir / DATASET / "verified.json").exists()
    assert not (source.cache_dir / DATASET / "files").exists()


def test_wrong_header_fails_naming_the_file(home, credentials, source, tmp_path):
    header = [*PRODUCTS.column_names[:-1], "Vitality"]
    with serve(grocery_zip(files={"products.csv": sample_csv(PRODUCTS, header=header)})):
        error = fetch_error(source, tmp_path)

    assert "products.csv has header" in error.message
    assert ",Vitality, expected" in error.message


def test_missing_file_fails_naming_it(home, credentials, source, tmp_path):
    with serve(grocery_zip(skip=["sales.csv"])):
        error = fetch_error(source, tmp_path)

    assert "lacks sales.csv" in error.message


def test_a_file_under_another_spelling_fails_naming_it(home, credentials, source, tmp_path):
    """A folder may hold Sales.CSV; the verified Kaggle cache wants the dataset's own names."""
    with serve(grocery_zip(skip=["sales.csv"], files={"Sales.CSV": sample_csv(SALES)})):
        error = fetch_error(source, tmp_path)

    assert "sales.csv is not in the archive under that name" in error.message
    assert not (source.cache_dir / DATASET / "verified.json").exists()


def test_malformed_handle_fails_without_a_request(fake, credentials, tmp_path):
    error = fetch_error(KaggleSource("grocery-sales-dataset", tmp_path / "cache"), tmp_path)

    assert "<owner>/<dataset>" in error.message
    assert fake.requests == []
