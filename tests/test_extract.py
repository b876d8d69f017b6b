"""extract: files land unchanged under raw/, with a manifest of sizes, checksums and row counts."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import zipfile
from datetime import date
from pathlib import Path

import pytest
from pipeline_support import make_context

from grocery import extract, load
from grocery.interval import DataInterval
from grocery.tables import TABLES


def test_files_land_byte_for_byte_with_a_manifest(tmp_path: Path, generated: Path) -> None:
    ctx = make_context(tmp_path / "home", generated)
    result = extract.run(ctx)
    day = date(2018, 5, 9)  # the last sales date delivered
    assert result.metrics["ingest_date"] == day.isoformat()
    manifest = extract.read_manifest(ctx, day)
    assert {f["table"] for f in manifest["files"]} == {t.name for t in TABLES}
    for entry in manifest["files"]:
        landed = ctx.lake.local_path(entry["path"])
        original = generated / entry["name"]
        assert landed.read_bytes() == original.read_bytes()
        assert entry["sha256"] == hashlib.sha256(original.read_bytes()).hexdigest()
        assert entry["bytes"] == original.stat().st_size
        assert entry["rows"] == len(original.read_text().splitlines()) - 1
        assert entry["lines"] == len(original.read_text().splitlines())
    assert landed.parent.name == "ingest_date=2018-05-09"


def test_a_csv_file_beside_the_seven_lands_as_delivered_and_is_named(tmp_path: Path, delivery: Path) -> None:
    """A delivery with a backup copy of its sales: the lake keeps it as delivered, and the summary
    says that load will not read it, rather than leave the user to wonder whose rows those were."""
    shutil.copy(delivery / "sales.csv", delivery / "sales_backup.csv")
    (delivery / "README.txt").write_text("not a CSV: not landed\n")
    ctx = make_context(tmp_path / "home", delivery)
    result = extract.run(ctx)
    assert result.metrics["files"] == 8 and result.metrics["not_loaded"] == ["sales_backup.csv"]
    assert result.summary.endswith("; not the dataset's, so kept but not loaded: sales_backup.csv")
    manifest = extract.read_manifest(ctx, date(2018, 5, 9))
    assert "sales_backup" in {f["table"] for f in manifest["files"]}
    assert load.run(ctx).metrics["tables"].keys() == {t.name for t in TABLES}
    ctx.close()


def test_extracting_the_same_date_again_replaces_it(tmp_path: Path, delivery: Path) -> None:
    ctx = make_context(tmp_path / "home", delivery)
    extract.run(ctx)
    (delivery / "sales.csv").write_text(
        (delivery / "sales.csv").read_text().splitlines()[0]
        + "\n1,1,1,1,1,0.0,0.0,2018-05-09 10:00:00.000,A\n"
    )
    extract.run(ctx)
    folder = ctx.lake.local_path("raw/sales/ingest_date=2018-05-09")
    assert [p.name for p in folder.iterdir()] == ["sales.csv"]
    assert extract.read_manifest(ctx, date(2018, 5, 9))["files"][-1]["rows"] == 1
    assert ctx.ingest_dates() == [date(2018, 5, 9)]


def test_a_daily_run_lands_under_its_own_date(tmp_path: Path) -> None:
    ctx = make_context(
        tmp_path / "home", interval=DataInterval.day(date(2018, 5, 10)), **{"source.scale": 0.001}
    )
    extract.run(ctx)
    assert ctx.ingest_dates() == [date(2018, 5, 10)]
    assert ctx.ingest_date() == date(2018, 5, 10)


def test_row_counts_ignore_blank_lines_and_a_missing_final_newline(tmp_path: Path) -> None:
    src = tmp_path / "x.csv"
    src.write_bytes(b"a,b\r\n1,2\r\n\r\n3,4\n\n\n5,6")
    copied = extract.copy_and_measure(src, tmp_path / "y.csv")
    assert (copied.bytes, copied.rows, copied.lines) == (src.stat().st_size, 3, 7)
    assert (tmp_path / "y.csv").read_bytes() == src.read_bytes()


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 8 << 20])
def test_row_counts_do_not_depend_on_where_the_reads_split_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    # Blank lines (LF and CRLF) that straddle two reads are counted once, whatever the read size.
    src = tmp_path / "x.csv"
    data = b"a,b\n1,2\r\n\r\n\n\r\n3,4\n\n\n\n5,6\r\n\r\n"
    src.write_bytes(data)
    monkeypatch.setattr(extract, "_CHUNK", chunk)
    copied = extract.copy_and_measure(src, tmp_path / "y.csv")
    assert copied == (len(data), hashlib.sha256(data).hexdigest(), 3, 11)
    assert (tmp_path / "y.csv").read_bytes() == data


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 8 << 20])
def test_row_counts_of_a_compressed_file_are_its_texts_wherever_the_reads_split_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    # Two gzip members, as `cat a.gz b.gz` makes: their texts one after the other; zero bytes after
    # a member are padding, which gzip skips.
    text = b"a,b\n1,2\r\n\r\n\n\r\n3,4\n\n\n\n5,6\r\n\r\n"
    data = gzip.compress(text[:13]) + b"\0" * 3 + gzip.compress(text[13:]) + b"\0" * 7
    assert gzip.decompress(data) == text
    src = tmp_path / "x.csv.gz"
    src.write_bytes(data)
    monkeypatch.setattr(extract, "_CHUNK", chunk)
    copied = extract.copy_and_measure(src, tmp_path / "y.csv.gz")
    assert copied == (len(data), hashlib.sha256(data).hexdigest(), 3, 11)
    assert (tmp_path / "y.csv.gz").read_bytes() == data


def test_compressed_files_land_as_delivered_and_count_the_rows_of_their_text(
    tmp_path: Path, generated: Path
) -> None:
    """A retailer's export gzip-compressed (sales.csv.gz, Customers.CSV.GZ): landed as delivered,
    its manifest's size and sha256 are the compressed file's, its rows and lines its text's."""
    folder = tmp_path / "export"
    shutil.copytree(generated, folder)
    for name, compressed in (("sales.csv", "sales.csv.gz"), ("customers.csv", "Customers.CSV.GZ")):
        (folder / compressed).write_bytes(gzip.compress((folder / name).read_bytes()))
        (folder / name).unlink()
    ctx = make_context(tmp_path / "home", folder)
    result = extract.run(ctx)
    assert result.metrics["files"] == 7
    assert result.metrics["ingest_date"] == "2018-05-09"  # the last sales date in sales.csv.gz
    landed = {f["table"]: f for f in extract.read_manifest(ctx, date(2018, 5, 9))["files"]}
    for table, compressed in (("sales", "sales.csv.gz"), ("customers", "Customers.CSV.GZ")):
        entry, data = landed[table], (folder / compressed).read_bytes()
        assert entry["name"] == compressed
        assert ctx.lake.local_path(entry["path"]).read_bytes() == data
        assert (entry["bytes"], entry["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
        lines = (generated / f"{table}.csv").read_text().splitlines()
        assert (entry["rows"], entry["lines"]) == (len(lines) - 1, len(lines))
    ctx.close()


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda data: data[: len(data) // 2], "it is cut short: its compressed data ends early"),
        (lambda data: b"SalesID,SalesPersonID\n", "it is not gzip-compressed"),
        (
            lambda data: data[:100] + bytes(100) + data[200:],
            r"its compressed data is damaged \(Error -3 [^)]*\)",
        ),
    ],
    ids=["cut short", "not compressed", "corrupt"],
)
def test_a_damaged_compressed_file_stops_extract_with_one_line_and_lands_nothing(
    tmp_path: Path, delivery: Path, damage, says: str
) -> None:
    from grocery.errors import SourceError

    sales = delivery / "sales.csv"
    (delivery / "sales.csv.gz").write_bytes(damage(gzip.compress(sales.read_bytes())))
    sales.unlink()
    ctx = make_context(tmp_path / "home", delivery, interval=DataInterval.day(date(2018, 5, 9)))
    with pytest.raises(
        SourceError, match=f"^cannot decompress {delivery / 'sales.csv.gz'}: {says} \\(a file"
    ) as raised:
        extract.run(ctx)
    assert "\n" not in str(raised.value)
    assert (
        raised.value.hint
        == "a file whose name ends in .gz must be gzip-compressed and whole; deliver it again"
    )
    assert ctx.ingest_dates() == []


def test_a_csv_that_is_no_readable_file_stops_extract_with_one_line_and_lands_nothing(
    tmp_path: Path, delivery: Path
) -> None:
    from grocery.errors import SourceError

    (delivery / "products.csv").unlink()
    (delivery / "products.csv").mkdir()  # an unpacked archive's folder, say
    ctx = make_context(tmp_path / "home", delivery, interval=DataInterval.day(date(2018, 5, 9)))
    with pytest.raises(SourceError, match=f"cannot read {delivery / 'products.csv'}: Is a directory"):
        extract.run(ctx)
    assert ctx.ingest_dates() == []
    assert not ctx.lake.exists("raw/products")


def test_an_input_folder_without_any_of_the_seven_files_stops_extract_and_lands_nothing(
    tmp_path: Path,
) -> None:
    from grocery.errors import SourceError

    wrong = tmp_path / "exports"
    (wrong / "2018").mkdir(parents=True)
    (wrong / "notes.csv").write_text("a,b\n1,2\n")  # a CSV, but none of the dataset's
    ctx = make_context(tmp_path / "home", wrong)
    with pytest.raises(
        SourceError, match=r"input folder .*exports holds none of the dataset's files \(categories.csv, "
    ) as caught:
        extract.run(ctx)
    assert not ctx.lake.exists("raw")
    assert caught.value.hint == "pass the folder of the seven CSV files, or a .zip of them, with --input"
    (wrong / "archive.zip").write_bytes(b"PK\x05\x06" + bytes(18))  # Kaggle's download, not unzipped
    with pytest.raises(SourceError) as caught:
        extract.run(ctx)
    assert caught.value.hint == f"pass the archive itself: --input {wrong / 'archive.zip'}"


def test_a_zip_archive_of_the_files_is_delivered_as_its_folder_of_them(
    tmp_path: Path, generated: Path
) -> None:
    """The dataset as Kaggle's page downloads it: a zip whose folder holds the seven files (and
    something else). Its files land, as they are in the archive, and load reads them."""
    archive = tmp_path / "grocery-sales-dataset.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("README.txt", "the dataset\n")
        z.writestr("old/categories.csv", (generated / "categories.csv").read_text())  # fewer: not this one
        for table in TABLES:
            z.write(generated / table.file_name, f"grocery/{table.file_name}")
    ctx = make_context(tmp_path / "home", archive)
    result = extract.run(ctx)
    assert result.metrics["files"] == 7 and result.metrics["ingest_date"] == "2018-05-09"
    manifest = extract.read_manifest(ctx, date(2018, 5, 9))
    assert manifest["source"] == f"path {archive}"
    for entry in manifest["files"]:
        assert ctx.lake.local_path(entry["path"]).read_bytes() == (generated / entry["name"]).read_bytes()
    assert load.run(ctx).metrics["quarantined"] == 0
    ctx.close()
    assert not list((tmp_path / "home").glob(".scratch-*"))  # the unpacked files went with the scratch folder


def test_a_zip_of_files_named_as_a_folder_may_name_them_is_delivered_too(
    tmp_path: Path, generated: Path
) -> None:
    """Inside an archive, the files are named by the rule of a folder: any case, gzip-compressed too."""
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for table in TABLES:
            data = (generated / table.file_name).read_bytes()
            if table.name == "sales":
                z.writestr("Sales.CSV.gz", gzip.compress(data))
            else:
                z.writestr(table.file_name.upper(), data)
    ctx = make_context(tmp_path / "home", archive)
    assert extract.run(ctx).metrics["files"] == 7
    assert load.run(ctx).metrics["quarantined"] == 0
    ctx.close()


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        (b"PK\x03\x04 not a whole archive", r"the archive is damaged \("),
        (None, r"the archive lacks categories.csv, .*, sales.csv \(it holds notes.txt\)"),
    ],
    ids=["damaged", "none of the files"],
)
def test_a_damaged_or_foreign_zip_stops_extract_with_one_line(
    tmp_path: Path, contents: bytes | None, message: str
) -> None:
    from grocery.errors import SourceError

    archive = tmp_path / "export.zip"
    if contents is None:
        with zipfile.ZipFile(archive, "w") as z:
            z.writestr("notes.txt", "hello\n")
    else:
        archive.write_bytes(contents)
    ctx = make_context(tmp_path / "home", archive)
    with pytest.raises(SourceError, match=f"^input archive {archive}: {message}"):
        extract.run(ctx)
    assert ctx.ingest_dates() == []


def test_file_names_in_another_case_are_their_tables(tmp_path: Path, generated: Path) -> None:
    """An export from a system whose file names ignore case: Sales.csv and Customers.CSV are the
    sales and customers files, landed under their tables as delivered; both spellings at once are refused."""
    from grocery.errors import SourceError

    folder = tmp_path / "export"
    shutil.copytree(generated, folder)
    (folder / "sales.csv").rename(folder / "Sales.csv")
    (folder / "customers.csv").rename(folder / "Customers.CSV")
    ctx = make_context(tmp_path / "home", folder)
    result = extract.run(ctx)
    assert (
        result.metrics["files"] == 7 and result.metrics["ingest_date"] == "2018-05-09"
    )  # read from Sales.csv
    landed = {f["table"]: f["name"] for f in extract.read_manifest(ctx, date(2018, 5, 9))["files"]}
    assert landed["sales"] == "Sales.csv" and landed["customers"] == "Customers.CSV"
    assert load.run(ctx).metrics["quarantined"] == 0
    ctx.close()

    (folder / "sales.csv").write_bytes((folder / "Sales.csv").read_bytes())
    with pytest.raises(SourceError, match=r"holds both Sales.csv and sales.csv") as caught:
        extract.run(make_context(tmp_path / "home2", folder))
    assert caught.value.hint == "keep one of them, as sales.csv or sales.csv.gz, and extract again"


def _zip_with_flags(archive: Path, folder: Path, *, flags: int = 0, method: int | None = None) -> None:
    """A zip of the seven files whose members say they are encrypted (`flags` 1) or compressed by
    another method (9: Deflate64), as other tools write them; Python's zipfile writes neither."""
    with zipfile.ZipFile(archive, "w") as z:
        for table in TABLES:
            z.write(folder / table.file_name, table.file_name)
    data = bytearray(archive.read_bytes())
    for signature, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local headers, central directory
        start = data.find(signature)
        while start >= 0:
            data[start + at] |= flags
            if method is not None:
                data[start + at + 2 : start + at + 4] = method.to_bytes(2, "little")
            start = data.find(signature, start + 4)
    archive.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("make", "message", "hint"),
    [
        (
            lambda archive, folder: _zip_with_flags(archive, folder, flags=1),
            r"the archive is encrypted \(",
            "unpack it with a tool that can, and give the folder as --input instead of export.zip",
        ),
        (
            lambda archive, folder: _zip_with_flags(archive, folder, method=9),
            r"the archive uses a compression Python cannot read \(",
            "unpack it with a tool that can, and give the folder as --input instead of export.zip",
        ),
        (
            lambda archive, folder: _zip_twice(archive, folder),
            r"the archive holds data/sales.csv more than once \(",
            "make the archive again with one file of each name",
        ),
    ],
    ids=["encrypted", "deflate64", "a name twice"],
)
def test_a_zip_that_cannot_be_unpacked_whole_stops_extract_with_one_line(
    tmp_path: Path, generated: Path, make, message: str, hint: str
) -> None:
    from grocery.errors import SourceError

    archive = tmp_path / "export.zip"
    make(archive, generated)
    ctx = make_context(tmp_path / "home", archive)
    with pytest.raises(SourceError, match=f"^input archive {archive}: {message}") as caught:
        extract.run(ctx)
    assert caught.value.hint == hint
    assert ctx.ingest_dates() == []


def _zip_twice(archive: Path, folder: Path) -> None:
    """The seven files, and a second sales.csv of its header alone: unpacked, it would replace the first."""
    with zipfile.ZipFile(archive, "w") as z, pytest.warns(UserWarning, match="Duplicate name"):
        for table in TABLES:
            z.write(folder / table.file_name, f"data/{table.file_name}")
        z.writestr("data/sales.csv", (folder / "sales.csv").read_text().splitlines()[0] + "\n")


def test_a_file_whose_name_leaves_no_table_is_not_landed(tmp_path: Path, delivery: Path) -> None:
    """`..csv` and `...csv` would be lake folders `..` and `.`: they are no table's file."""
    (delivery / "..csv").write_text("a\n1\n")
    (delivery / "...csv").write_text("a\n1\n")
    ctx = make_context(tmp_path / "home", delivery)
    result = extract.run(ctx)
    assert result.metrics["files"] == 7 and result.metrics["not_loaded"] == []
    ctx.close()


def test_a_run_over_everything_loads_the_delivery_it_landed_not_the_newest(tmp_path: Path) -> None:
    # A daily run of 05-12, then a run over everything, whose delivery ends on 05-09: its load loaded
    # 05-12 again (the newest in the lake), and the delivery it had just landed never reached the warehouse.
    home = tmp_path / "home"
    daily = make_context(home, interval=DataInterval.day(date(2018, 5, 12)), **{"source.scale": 0.001})
    extract.run(daily)
    load.run(daily)
    daily.close()
    everything = make_context(home, **{"source.scale": 0.001})
    assert extract.run(everything).metrics["ingest_date"] == "2018-05-09"
    assert load.run(everything).metrics["ingest_date"] == "2018-05-09"
    assert set(everything.warehouse.rows_by_ingest_date()) == {date(2018, 5, 9), date(2018, 5, 12)}
    everything.close()
    # A command of its own (load alone) still loads the newest delivery.
    assert make_context(home).ingest_date() == date(2018, 5, 12)
