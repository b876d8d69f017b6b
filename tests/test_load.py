"""load: every row accepted or quarantined with its reason, nothing partial, re-runs replace."""

from __future__ import annotations

import gzip
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest
from pipeline_support import make_context

from grocery import extract, load
from grocery.errors import InputError, StageError
from grocery.tables import TABLES, table
from grocery.warehouse.duckdb import DuckDBWarehouse

DAY = date(2018, 5, 9)
HEADER = "SalesID,SalesPersonID,CustomerID,ProductID,Quantity,Discount,TotalPrice,SalesDate,TransactionNumber"


def _append(path: Path, *lines: str) -> None:
    with open(path, "a") as f:
        f.write("".join(line + "\n" for line in lines))


def _compress(path: Path, text: str | None = None) -> Path:
    """Replace a delivered file with its gzip-compressed copy (of `text` instead, when given)."""
    data = path.read_bytes() if text is None else text.encode()
    path.unlink()
    compressed = path.with_name(path.name + ".gz")
    compressed.write_bytes(gzip.compress(data) if data else b"")
    return compressed


def _extract_and_load(home: Path, folder: Path, **overrides):
    ctx = make_context(home, folder, **overrides)
    extract.run(ctx)
    result = load.run(ctx)
    ctx.close()
    return ctx, result


def _query(home: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_clean_files_are_all_accepted_and_typed(tmp_path: Path, generated: Path) -> None:
    home = tmp_path / "home"
    _, result = _extract_and_load(home, generated)
    manifest_rows = sum(f["rows"] for f in extract.read_manifest(make_context(home, generated), DAY)["files"])
    assert result.metrics["rows_in"] == manifest_rows == result.metrics["accepted"]
    assert result.metrics["quarantined"] == 0
    types = dict(
        _query(
            home,
            "select column_name, data_type from information_schema.columns where table_schema='raw' and table_name='sales'",
        )
    )
    assert (
        types["SalesDate"] == "TIMESTAMP" and types["Discount"] == "DOUBLE" and types["ingest_date"] == "DATE"
    )
    undated = _query(home, "select count(*) from raw.sales where SalesDate is null")[0][0]
    assert undated == result.metrics["sales_without_date"] > 0  # kept, flagged, counted
    # Where the time went, for the benchmark: each table checked, then the warehouse load.
    steps = result.metrics["step_seconds"]
    assert list(steps) == [*(t.name for t in TABLES), "warehouse"] and all(s >= 0 for s in steps.values())


def test_bad_rows_are_quarantined_with_their_reasons_and_nothing_is_lost(
    tmp_path: Path, delivery: Path
) -> None:
    sales = delivery / "sales.csv"
    good_rows = len(sales.read_text().splitlines()) - 1
    _append(
        sales,
        "900001,1,2,3,4,0.0,0.0,2018-05-01 10:00:00.000",  # a field short
        "900002,1,2,3,4,0.0,0.0,2018-05-01 10:00:00.000,A,extra",  # a field too many
        "900003,1,2,3,4,1.5,0.0,2018-05-01 10:00:00.000,B",  # discount out of [0, 1)
        "900004,1,2,3,four,0.0,0.0,2018-05-01 10:00:00.000,C",  # not a number
        "900005,1,999999,3,4,0.0,0.0,2018-05-01 10:00:00.000,D",  # unknown customer
        "900006,1,2,3,4,0.0,0.0,yesterday,E",  # not a timestamp
        "1,1,2,3,4,0.0,0.0,2018-05-01 10:00:00.000,F",  # SalesID 1 again
        ",1,2,3,4,0.0,0.0,2018-05-01 10:00:00.000,G",  # no key
        "900007,1,2,3,0,0.0,0.0,,H",  # quantity below 1, and no date (the date alone is fine)
    )
    home = tmp_path / "home"
    _, result = _extract_and_load(home, delivery)
    report = result.metrics["tables"]["sales"]
    assert report["rows_in"] == good_rows + 9
    assert report["accepted"] == good_rows
    assert report["quarantined"] == 9
    rows = {
        r[0] or r[2]: (r[1], r[3])
        for r in _query(home, "select SalesID, line_number, raw_line, reason from quarantine.sales")
    }
    first_bad_line = good_rows + 2
    assert rows["900001,1,2,3,4,0.0,0.0,2018-05-01 10:00:00.000"] == (
        first_bad_line,
        "malformed line: Expected Number of Columns: 9 Found: 8",
    )
    assert rows["900002,1,2,3,4,0.0,0.0,2018-05-01 10:00:00.000,A,extra"][1].startswith("malformed line:")
    assert rows["900003"] == (first_bad_line + 2, "Discount must be below 1: 1.5")
    assert rows["900004"][1] == "Quantity is not a valid int: four"
    assert rows["900005"][1] == "CustomerID has no matching customers.CustomerID: 999999"
    assert rows["900006"][1] == "SalesDate is not a valid timestamp: yesterday"
    assert rows["1"] == (first_bad_line + 6, "duplicate SalesID, kept on its first valid row: 1")
    assert rows["900007"][1] == "Quantity is below 1: 0"
    assert (
        _query(home, "select count(*) from quarantine.sales where SalesID is null and raw_line is null")[0][0]
        == 1
    )
    assert (
        _query(home, "select reason from quarantine.sales where SalesID is null and raw_line is null")[0][0]
        == "SalesID is missing"
    )
    # The same rows are in the lake's quarantine, as Parquet.
    lake_rows = duckdb.sql(
        f"select count(*) from '{home}/lake/quarantine/sales/ingest_date=2018-05-09/*.parquet'"
    ).fetchall()[0][0]
    assert lake_rows == 9


def test_each_broken_rule_is_named_with_the_fields_as_delivered(tmp_path: Path, delivery: Path) -> None:
    sales = delivery / "sales.csv"
    good_rows = len(sales.read_text().splitlines()) - 1
    _append(
        sales,
        "900001,1,2,3,4,0.0,0.0,2018-05-01 10:00:00.000",  # a field short
        "900003,1,2,3,4,1.50,0.0,2018-05-01 10:00:00.000,B",  # discount out of [0, 1)
        "900005,1,999999,3,4,0.0,0.0,2018-05-01 10:00:00.000,D",  # unknown customer
        "1,1,2,3,4,0.0,0.0,2018-05-01 10:00:00.000,F",  # SalesID 1 again
        ",1,2,3,4,0.0,0.0,2018-05-01 10:00:00.000,G",  # no key
        "900007,1,2,3,0,0.25,0.0,,H",  # quantity below 1, and no date (the date alone is fine)
        "900008,1,999999,3,0,1,0,2018-05-01 10:00:00.000,I",  # three rules broken
    )
    home = tmp_path / "home"
    _, result = _extract_and_load(home, delivery)
    report = result.metrics["tables"]["sales"]
    assert (report["rows_in"], report["accepted"], report["quarantined"]) == (good_rows + 7, good_rows, 7)
    first_bad_line = good_rows + 2
    rows = _query(
        home,
        "select line_number, SalesID, CustomerID, Discount, SalesDate, TransactionNumber, reason "
        "from quarantine.sales where raw_line is null order by line_number",
    )
    assert rows == [
        (first_bad_line + 1, "900003", "2", "1.50", "2018-05-01 10:00:00.000", "B", "Discount must be below 1: 1.50"),
        (first_bad_line + 2, "900005", "999999", "0.0", "2018-05-01 10:00:00.000", "D",
         "CustomerID has no matching customers.CustomerID: 999999"),
        (first_bad_line + 3, "1", "2", "0.0", "2018-05-01 10:00:00.000", "F", "duplicate SalesID, kept on its first valid row: 1"),
        (first_bad_line + 4, None, "2", "0.0", "2018-05-01 10:00:00.000", "G", "SalesID is missing"),
        (first_bad_line + 5, "900007", "2", "0.25", None, "H", "Quantity is below 1: 0"),
        (first_bad_line + 6, "900008", "999999", "1", "2018-05-01 10:00:00.000", "I",
         "CustomerID has no matching customers.CustomerID: 999999; Quantity is below 1: 0; Discount must be below 1: 1"),
    ]  # fmt: skip
    malformed = _query(home, "select line_number, reason from quarantine.sales where raw_line is not null")
    assert malformed == [(first_bad_line, "malformed line: Expected Number of Columns: 9 Found: 8")]
    # The summary says where they are, and why most of them are there.
    assert result.summary.endswith(
        "; quarantine.sales has 7: CustomerID has no matching customers.CustomerID (2), "
        "Discount must be below 1 (2), Quantity is below 1 (2), ..."
    )


def test_a_reference_to_a_quarantined_row_says_so_rather_than_that_the_key_is_unknown(
    tmp_path: Path, delivery: Path
) -> None:
    """City 4's row is quarantined (its country is unknown): its customers name it as quarantined,
    since cities.csv does list CityID 4, and so do those customers' sales; a key no file lists is
    still unknown."""
    cities = delivery / "cities.csv"
    header, *rows = cities.read_text().splitlines()
    rows = [",".join([*row.split(",")[:-1], "9999"]) if row.split(",")[0] == "4" else row for row in rows]
    cities.write_text("\n".join([header, *rows]) + "\n")
    _append(delivery / "customers.csv", "999001,Ann,,Nobody,999999,Nowhere 1")  # a city no file lists
    home = tmp_path / "home"
    _, result = _extract_and_load(home, delivery)
    tables = result.metrics["tables"]
    assert tables["cities"]["reasons"] == {"CountryID has no matching countries.CountryID": 1}
    city_4 = "CityID matches a cities row that was itself quarantined (quarantine.cities has its reason)"
    assert tables["customers"]["reasons"] == {city_4: tables["customers"]["quarantined"] - 1,
                                              "CityID has no matching cities.CityID": 1}  # fmt: skip
    reasons = dict(_query(home, "select CustomerID, reason from quarantine.customers"))
    assert reasons.pop("999001") == "CityID has no matching cities.CityID: 999999"
    assert reasons and set(reasons.values()) == {f"{city_4}: 4"}
    sold = _query(home, "select CustomerID, reason from quarantine.sales")
    assert sold and all(
        reason
        == "CustomerID matches a customers row that was itself quarantined "
        f"(quarantine.customers has its reason): {customer}"
        and customer in reasons
        for customer, reason in sold
    )


def test_the_real_dimension_files_are_accepted_as_published(
    tmp_path: Path, delivery: Path, real_dims: Path
) -> None:
    """CRLF line ends, Australia's code NA, DD-MM-YYYY dates, quoted names with commas."""
    for path in real_dims.glob("*.csv"):
        shutil.copy(path, delivery / path.name)
    # Keep the generated sales consistent with the real products and employees: same id ranges.
    home = tmp_path / "home"
    _, result = _extract_and_load(home, delivery)
    tables = result.metrics["tables"]
    for name, rows in {
        "categories": 11,
        "countries": 206,
        "cities": 96,
        "employees": 23,
        "products": 452,
    }.items():
        assert (tables[name]["accepted"], tables[name]["quarantined"]) == (rows, 0), name
    assert _query(home, "select CountryCode from raw.countries where CountryName = 'Australia'") == [("NA",)]
    assert _query(
        home, "select BirthDate::varchar, HireDate::varchar from raw.employees where EmployeeID = 1"
    ) == [("1981-03-07", "2011-06-20 00:00:00")]
    assert (
        _query(
            home,
            "select ProductName from raw.products where ProductName like '%,%' order by ProductID limit 1",
        )[0][0].count(",")
        >= 1
    )


@pytest.mark.parametrize(
    ("header", "difference"),
    [
        ("CategoryID;CategoryName", "its fields are separated by ';'; the files are comma-separated"),
        ("CategoryID\tCategoryName", "its fields are separated by '\\t'; the files are comma-separated"),
        ("CategoryID,CategoryName,,", "it ends with empty columns: a comma after the last name"),
        ("categoryid, CategoryName", "the names differ in case or spaces; they must be written as expected"),
        ("CategoryName,CategoryID", "the same columns in another order; the files keep the dataset's order"),
        ("CategoryID", "missing: CategoryName"),
        ("CategoryID,Category,Parent", "missing: CategoryName; not in the dataset: Category, Parent"),
        ("CategoryID,CategoryID", "missing: CategoryName"),
        (
            "CategoryID,CategoryName\r1,x\r2,y",
            "its lines end with a carriage return alone, as old Mac files do; save it with LF or CRLF line ends",
        ),
    ],
)
def test_a_wrong_header_says_how_it_differs(tmp_path: Path, header: str, difference: str) -> None:
    path = tmp_path / "categories.csv"
    path.write_text(header + "\n1,x\n")
    assert load._header_problem(path, table("categories")) == (
        f"categories.csv has header {header!r}, expected 'CategoryID,CategoryName' ({difference})"
    )


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda d: (d / "products.csv").unlink(), "products.csv is missing"),
        (lambda d: (d / "sales.csv").write_text(""), "sales.csv is empty"),
        (
            lambda d: (d / "cities.csv").write_text("id;name\n1;x\n"),
            "cities.csv has header 'id;name', expected",
        ),
        (
            lambda d: (d / "categories.csv").write_text("CategoryID;CategoryName\n1;x\n"),
            "categories.csv has header 'CategoryID;CategoryName', expected 'CategoryID,CategoryName' "
            "(its fields are separated by ';'; the files are comma-separated)",
        ),
        (
            lambda d: (d / "customers.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe"),
            "customers.csv is not a UTF-8 CSV file",
        ),
        (lambda d: _compress(d / "sales.csv", text=""), "sales.csv.gz is empty"),
        (lambda d: _compress(d / "sales.csv", text="id;name\n1;x\n"), "sales.csv.gz has header 'id;name'"),
    ],
)
def test_unusable_files_stop_the_stage_and_load_nothing(
    tmp_path: Path, delivery: Path, breakage, message: str
) -> None:
    home = tmp_path / "home"
    _extract_and_load(home, delivery)
    before = _query(home, "select count(*) from raw.sales")[0][0]
    breakage(delivery)
    ctx = make_context(home, delivery)
    extract.run(ctx)
    with pytest.raises(InputError) as info:
        load.run(ctx)
    assert message in str(info.value)
    assert "nothing was loaded" in str(info.value)
    ctx.close()
    assert _query(home, "select count(*) from raw.sales")[0][0] == before


def test_loading_the_same_ingest_date_twice_replaces_it(tmp_path: Path, generated: Path) -> None:
    home = tmp_path / "home"
    _extract_and_load(home, generated)
    counts = {t.name: _query(home, f"select count(*) from raw.{t.name}")[0][0] for t in TABLES}
    _extract_and_load(home, generated)
    assert {t.name: _query(home, f"select count(*) from raw.{t.name}")[0][0] for t in TABLES} == counts


def test_a_load_killed_halfway_leaves_the_warehouse_as_it_was(
    tmp_path: Path, delivery: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    _extract_and_load(home, delivery)
    before = {t.name: _query(home, f"select count(*) from raw.{t.name}")[0][0] for t in TABLES}
    _append(delivery / "sales.csv", "900001,1,2,3,4,0.0,0.0,2018-05-01 10:00:00.000,X")

    # The last partition of the transaction fails after the others were written inside it.
    original = DuckDBWarehouse.replace_ingest
    ctx = make_context(home, delivery)
    extract.run(ctx)
    monkeypatch.setattr(
        DuckDBWarehouse,
        "replace_ingest",
        lambda self, loads: original(self, [*loads[:-1], _broken(loads[-1])]),
    )
    with pytest.raises(duckdb.IOException):
        load.run(ctx)
    ctx.close()
    assert {t.name: _query(home, f"select count(*) from raw.{t.name}")[0][0] for t in TABLES} == before
    monkeypatch.setattr(DuckDBWarehouse, "replace_ingest", original)
    _extract_and_load(home, delivery)  # the next run completes it
    assert _query(home, "select count(*) from raw.sales")[0][0] == before["sales"] + 1


def _broken(last_load):
    from dataclasses import replace

    return replace(last_load, parquet_uri=last_load.parquet_uri.replace("*.parquet", "missing-*.parquet"))


def test_quarantine_parquet_has_the_warehouse_column_types(tmp_path: Path, delivery: Path) -> None:
    """BigQuery refuses a DOUBLE into an INT64 column: line numbers must be written as integers."""
    _append(delivery / "sales.csv", "900001,1,2,3", "900002,1,2,3,4,1.5,0.0,,X")
    home = tmp_path / "home"
    _extract_and_load(home, delivery)
    schema = duckdb.sql(
        f"describe select * from '{home}/lake/quarantine/sales/ingest_date=2018-05-09/*.parquet'"
    ).fetchall()
    types = {row[0]: row[1] for row in schema}
    assert types["line_number"] == "BIGINT"
    assert types["ingest_date"] == "DATE"
    assert {types[c] for c in ("SalesID", "reason", "raw_line")} == {"VARCHAR"}


@pytest.mark.parametrize(
    ("keys", "duplicated"),
    [
        ([3, 1, 2], False),
        ([3, 1, 2, 1], True),  # dense: the bitmap
        ([1, 10**15, 7], False),  # sparse: count(distinct)
        ([1, 10**15, 10**15], True),
        ([None, None, 5], False),  # missing keys are another rule's business
        ([None], False),
    ],
)
def test_duplicate_keys_are_found_whether_the_keys_are_dense_or_sparse(
    keys: list[int | None], duplicated: bool
) -> None:
    with duckdb.connect() as con:
        con.execute("create table checked (k bigint)")
        con.executemany("insert into checked values (?)", [[k] for k in keys])
        assert load._has_duplicates(con, "checked", "k", load.Kind.INT) is duplicated
        text = "create table texts as select cast(k as varchar) as k from checked"
        con.execute(text)
        assert load._has_duplicates(con, "texts", "k", load.Kind.TEXT) is duplicated


def test_sales_dated_outside_the_interval_are_accepted_counted_and_said(
    tmp_path: Path, generated: Path
) -> None:
    from grocery.interval import DataInterval

    home = tmp_path / "home"
    ctx = make_context(home, generated, interval=DataInterval.day(DAY))
    extract.run(ctx)
    result = load.run(ctx)
    ctx.close()
    outside, first, last = _query(
        home,
        f"select count(*), min(SalesDate::date), max(SalesDate::date) from raw.sales "
        f"where SalesDate::date <> date '{DAY}'",
    )[0]
    assert outside > 0  # the generated files hold every day up to DAY
    assert (
        result.metrics["sales_outside_interval"]
        == result.metrics["tables"]["sales"]["outside_interval"]
        == outside
    )
    assert result.metrics["accepted"] == result.metrics["rows_in"]  # accepted: the next transform models them
    assert result.summary.endswith(
        f"; {outside:,} sales dated {first} .. {last}, outside {DAY}, are kept in raw.sales, and the next "
        "transform models their days too"
    )
    # A run over everything has no outside.
    _, everything = _extract_and_load(tmp_path / "all", generated)
    assert everything.metrics["sales_outside_interval"] == 0
    assert "outside" not in everything.summary


def test_a_quoted_line_break_is_one_record_and_loads_whole(tmp_path: Path, delivery: Path) -> None:
    """Legal CSV: a quoted field may hold a line break. Extract counts lines, load reads records, and
    the file is still the one extract landed: it loads, the address whole."""
    customers = delivery / "customers.csv"
    lines = customers.read_text().splitlines()
    fields = lines[5].split(",")
    fields[-1] = f'"{fields[-1]}\nApt 2"'
    lines[5] = ",".join(fields)
    customers.write_text("\n".join(lines) + "\n")
    home = tmp_path / "home"
    _, result = _extract_and_load(home, delivery)
    assert result.metrics["quarantined"] == 0
    assert result.metrics["tables"]["customers"]["rows_in"] == len(lines) - 1
    address = _query(home, f"select Address from raw.customers where CustomerID = {fields[0]}")
    assert address == [(fields[-1].strip('"'),)]


@pytest.mark.parametrize("manifest_has_lines", [True, False])
def test_a_quarantined_row_names_the_line_it_starts_on_after_line_breaks_and_blank_lines(
    tmp_path: Path, delivery: Path, manifest_has_lines: bool
) -> None:
    """DuckDB counts records; the quarantine names the file's lines, as an editor shows them: a
    record whose quoted field holds a line break takes two, a blank line one. (A manifest written
    before extract counted lines says nothing of them: the file is scanned all the same.)"""
    customers = delivery / "customers.csv"
    header, *body = customers.read_text().splitlines()
    fields = body[4].split(",")
    body[4] = ",".join([*fields[:-1], f'"{fields[-1]}\nApt 2"'])  # two lines
    not_an_id = "abc" + body[0][body[0].index(",") :]
    nor_this = "xyz" + body[10][body[10].index(",") :]
    file_lines = [
        header, not_an_id, *body[1:6], "", "", "1,2", *body[6:10], "", nor_this, '3,"Ann', "", 'Lee",x', *body[11:]
    ]  # fmt: skip
    text = "\n".join(file_lines).replace("Ann\n\n", "Ann\r\n\r\n") + "\n"
    customers.write_text(text)
    # The line each bad record starts on, as an editor numbers them.
    editor = text.split("\n")
    expected = [
        (editor.index(not_an_id) + 1, "CustomerID is not a valid int: abc"),
        (editor.index("1,2") + 1, "malformed line"),
        (editor.index(nor_this) + 1, "CustomerID is not a valid int: xyz"),
        (editor.index('3,"Ann\r') + 1, "malformed line"),
    ]
    home = tmp_path / "home"
    ctx = make_context(home, delivery)
    extract.run(ctx)
    if not manifest_has_lines:
        manifest = extract.read_manifest(ctx, DAY)
        for entry in manifest["files"]:
            del entry["lines"]
        ctx.lake.write_json(extract.manifest_path(DAY), manifest)
    load.run(ctx)
    ctx.close()
    found = _query(home, "select line_number, reason from quarantine.customers order by line_number")
    assert [(line, reason.split(" (")[0].split(": Expected")[0]) for line, reason in found] == expected


def test_a_compressed_delivery_loads_as_its_text_does(tmp_path: Path, delivery: Path) -> None:
    """sales.csv.gz and customers.csv.gz load the rows, and quarantine the records with the lines,
    that sales.csv and customers.csv do."""
    sales = delivery / "sales.csv"
    _append(sales, "", "1,2", "900001,1,1,1,x,0.0,0.0,2018-05-09 10:00:00.000,T", "")
    plain = tmp_path / "plain"
    _, expected = _extract_and_load(plain, delivery)
    _compress(sales)
    _compress(delivery / "customers.csv")
    compressed = tmp_path / "compressed"
    _, result = _extract_and_load(compressed, delivery)
    assert result.summary == expected.summary
    assert result.metrics["tables"] == expected.metrics["tables"]
    assert result.metrics["tables"]["sales"]["quarantined"] == 2
    for sql in (
        "select * exclude (ingest_date) from quarantine.sales order by line_number",
        "select count(*), sum(Quantity), max(SalesID) from raw.sales",
        "select count(*), max(LastName) from raw.customers",
    ):
        assert _query(compressed, sql) == _query(plain, sql)


def test_a_landed_file_gone_from_the_lake_stops_the_load_with_one_line(
    tmp_path: Path, delivery: Path
) -> None:
    home = tmp_path / "home"
    ctx = make_context(home, delivery)
    extract.run(ctx)
    landed = ctx.lake.local_path(f"{extract.raw_dir('products', DAY)}/products.csv")
    landed.unlink()  # a lifecycle rule, a clean-up by hand
    with pytest.raises(StageError) as raised:
        load.run(ctx)
    ctx.close()
    assert str(raised.value) == (
        f"the lake lacks file://{landed}, which extract landed for ingest_date={DAY} "
        "(run `grocery extract` again, then load)"  # the run over everything that landed it
    )
    assert not (home / "warehouse.duckdb").exists()


def test_a_compressed_file_damaged_after_extract_stops_the_load_and_loads_nothing(
    tmp_path: Path, delivery: Path
) -> None:
    _compress(delivery / "sales.csv")
    home = tmp_path / "home"
    ctx = make_context(home, delivery)
    extract.run(ctx)
    landed = ctx.lake.local_path(f"{extract.raw_dir('sales', DAY)}/sales.csv.gz")
    landed.write_bytes(landed.read_bytes()[: landed.stat().st_size // 2])  # its header still reads
    with pytest.raises(InputError) as raised:
        load.run(ctx)
    ctx.close()
    assert str(raised.value).startswith(
        "cannot load: sales.csv.gz cannot be decompressed: it is cut short: its compressed data ends early ("
    )
    assert "nothing was loaded" in str(raised.value)
    assert (
        not (home / "warehouse.duckdb").exists()
        or not _query(home, "select count(*) from information_schema.tables where table_schema = 'raw'")[0][0]
    )
    (delivery / "sales.csv.gz").write_bytes(b"SalesID")  # not compressed at all
    assert load._header_problem(delivery / "sales.csv.gz", table("sales")) == (
        "sales.csv.gz cannot be decompressed: it is not gzip-compressed"
    )


@pytest.mark.parametrize("compressed", [False, True])
def test_a_raw_file_changed_after_extract_stops_the_load(
    tmp_path: Path, delivery: Path, compressed: bool
) -> None:
    name = _compress(delivery / "sales.csv").name if compressed else "sales.csv"
    home = tmp_path / "home"
    ctx = make_context(home, delivery)
    extract.run(ctx)
    landed = ctx.lake.local_path(f"{extract.raw_dir('sales', DAY)}/{name}")
    with load.encodings.open_bytes(landed) as f:
        text = f.read().decode().splitlines()
    shorter = ("\n".join(text[:-3]) + "\n").encode()  # three records fewer than the manifest counts
    landed.write_bytes(gzip.compress(shorter) if compressed else shorter)
    with pytest.raises(
        StageError, match=rf"{name} changed after extract: its sha256 is not the manifest's"
    ) as raised:
        load.run(ctx)
    assert "re-run extract" in (raised.value.hint or "")
    ctx.close()
    assert (
        not (home / "warehouse.duckdb").exists()
        or not _query(home, "select count(*) from information_schema.tables where table_schema = 'raw'")[0][0]
    )


def test_a_quote_left_open_is_one_malformed_record_that_says_how_far_it_ran(
    tmp_path: Path, delivery: Path
) -> None:
    """As every CSV reader does, a quote that never closes takes the lines after it into its field;
    the quarantined record keeps them all, and its reason says how many there are."""
    customers = delivery / "customers.csv"
    lines = customers.read_text().splitlines()
    lines[-3] = lines[-3].replace(",", ',"', 1)  # the third record from the end opens a quote
    customers.write_text("\n".join(lines) + "\n")
    home = tmp_path / "home"
    _, result = _extract_and_load(home, delivery)
    report = result.metrics["tables"]["customers"]
    assert report["rows_in"] == len(lines) - 3 and report["quarantined"] == 1
    [(line, reason, raw_line)] = _query(
        home, "select line_number, reason, raw_line from quarantine.customers"
    )
    assert line == len(lines) - 2  # the file's line: the header is line 1
    assert reason.startswith("malformed line: ") and reason.endswith(
        "(the record runs over 3 lines; they are in raw_line)"
    )
    assert raw_line.splitlines() == lines[-3:]


@pytest.mark.parametrize("compressed", [False, True])
def test_files_in_latin_1_load_when_the_spec_says_so(
    tmp_path: Path, delivery: Path, compressed: bool
) -> None:
    """A retailer's export in latin-1: read as UTF-8, the row with an accented name is quarantined with
    a reason that names the setting; with `source.encoding: latin-1` it loads, the name as written.
    Gzip-compressed, the same."""
    customers = delivery / "customers.csv"
    lines = customers.read_text().splitlines()
    fields = lines[5].split(",")
    fields[1] = "José"
    lines[5] = ",".join(fields)
    customers.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    if compressed:
        _compress(customers)

    home = tmp_path / "utf-8"
    _, result = _extract_and_load(home, delivery)
    assert result.metrics["tables"]["customers"]["quarantined"] == 1
    [(reason,)] = _query(home, "select reason from quarantine.customers")
    assert "not utf-8 encoded" in reason and reason.endswith(
        "(set source.encoding to the files' encoding: windows-1252, as spreadsheets on Windows write, "
        "or latin-1)"
    )
    # The line as delivered, its byte that is not UTF-8 shown as its value (DuckDB's own text of it
    # was "Jos??" with the next comma gone).
    quarantined = _query(home, "select line_number, raw_line from quarantine.customers")
    assert quarantined == [(6, lines[5].replace("José", "Jos\\xe9"))]

    home = tmp_path / "latin-1"
    _, result = _extract_and_load(home, delivery, **{"source.encoding": "latin-1"})
    assert result.metrics["quarantined"] == 0
    assert _query(home, f"select FirstName from raw.customers where CustomerID = {fields[0]}") == [("José",)]


def test_files_from_a_windows_spreadsheet_load_with_their_curly_quotes(
    tmp_path: Path, delivery: Path
) -> None:
    """windows-1252 is latin-1 with typographic characters where latin-1 has control characters:
    read as latin-1, O'Brien with a curly apostrophe loads as O<0x92>Brien. With `source.encoding:
    windows-1252` the names load as written, the file's CRLF line ends too, and a byte windows-1252
    leaves undefined loads as the control character of its number, as browsers read it."""
    customers = delivery / "customers.csv"
    lines = customers.read_text().splitlines()
    first, second = lines[5].split(","), lines[6].split(",")
    apostrophe, dash = "\u2019", "\u2013"  # as a spreadsheet types them: 0x92 and 0x96 in windows-1252
    first[1:4] = ["Zoë", "", f"O{apostrophe}Brien"]
    first[-1] = f"12 Rue de l{apostrophe}Église {dash} 2€"
    second[1] = "A\x81B"
    lines[5], lines[6] = ",".join(first), ",".join(second)
    text = "\r\n".join(lines) + "\r\n"
    customers.write_bytes(text.replace("\x81", "").encode("cp1252").replace(b"AB", b"A\x81B"))

    home = tmp_path / "windows-1252"
    _, result = _extract_and_load(home, delivery, **{"source.encoding": "windows-1252"})
    assert result.metrics["quarantined"] == 0
    assert result.metrics["tables"]["customers"]["rows_in"] == len(lines) - 1
    rows = _query(
        home,
        f"select FirstName, LastName, Address from raw.customers where CustomerID in ({first[0]}, {second[0]}) "
        "order by CustomerID",
    )
    assert rows == [(first[1], first[3], first[-1]), ("A\x81B", second[3], second[-1])]

    home = tmp_path / "latin-1"
    _extract_and_load(home, delivery, **{"source.encoding": "latin-1"})
    assert _query(home, f"select LastName from raw.customers where CustomerID = {first[0]}") == [
        ("O\x92Brien",)
    ]


def test_values_that_duckdb_would_cast_leniently_are_quarantined(tmp_path: Path, delivery: Path) -> None:
    """DuckDB's casts round `1.5` to 2, read `0x10` as 16, `nan` and `infinity` as values: the contract
    wants whole ints and finite numbers and timestamps. A whole number written `4.0` is an int."""
    sales = delivery / "sales.csv"
    _append(
        sales,
        "900001,1,2,3,1.5,0.0,0.0,2018-05-01 10:00:00.000,A",
        "0x10,1,2,3,4,0.0,0.0,2018-05-01 10:00:00.000,B",
        "900003,1,2,3,4,nan,0.0,2018-05-01 10:00:00.000,C",
        "900004,1,2,3,4,0.0,inf,2018-05-01 10:00:00.000,D",
        "900005,1,2,3,4,0.0,0.0,infinity,E",
        "900006,1,2,3,4.0,0.0,0.0,2018-05-01 10:00:00.000,F",
    )
    home = tmp_path / "home"
    _extract_and_load(home, delivery)
    reasons = dict(_query(home, "select TransactionNumber, reason from quarantine.sales"))
    assert reasons == {
        "A": "Quantity is not a valid int: 1.5",
        "B": "SalesID is not a valid int: 0x10",
        "C": "Discount is not a valid float: nan",
        "D": "TotalPrice is not a valid float: inf",
        "E": "SalesDate is not a valid timestamp: infinity",
    }
    assert _query(home, "select Quantity from raw.sales where SalesID = 900006") == [(4,)]


def test_a_duplicate_key_keeps_its_first_valid_row_and_every_row_as_delivered(
    tmp_path: Path, delivery: Path
) -> None:
    """The first row of SalesID 900001 names an unknown customer: the second, valid, is kept. A repeat
    of SalesID 1 is quarantined with its fields as written, not as their typed values print."""
    sales = delivery / "sales.csv"
    _append(
        sales,
        "900001,1,999999,3,4,0.0,0.0,2018-05-01 10:00:00.000,BAD",
        "900001,1,2,3,4,0.0,0.0,2018-05-01 10:00:00.000,GOOD",
        "1,1,2,3,04,0.10,0,01-05-2018,AGAIN",
    )
    home = tmp_path / "home"
    _extract_and_load(home, delivery)
    assert _query(home, "select TransactionNumber from raw.sales where SalesID = 900001") == [("GOOD",)]
    rows = _query(
        home,
        "select TransactionNumber, Quantity, Discount, TotalPrice, SalesDate, reason from quarantine.sales "
        "order by line_number",
    )
    assert rows == [
        (
            "BAD", "4", "0.0", "0.0", "2018-05-01 10:00:00.000",
            "CustomerID has no matching customers.CustomerID: 999999; "
            "duplicate SalesID, kept on its first valid row: 900001",
        ),
        ("AGAIN", "04", "0.10", "0", "01-05-2018", "duplicate SalesID, kept on its first valid row: 1"),
    ]  # fmt: skip


def test_a_file_that_mixes_line_ends_loads_and_a_lone_carriage_return_is_named(
    tmp_path: Path, delivery: Path
) -> None:
    """A file appended to on another system mixes LF and CRLF, which DuckDB cannot read: load reads a
    copy with LF alone where lines end (a quoted field keeps its CRLF), and numbers lines as the file
    does. A carriage return that ends no line stops the load with one line naming it."""
    sales = delivery / "sales.csv"
    good_rows = len(sales.read_text().splitlines()) - 1
    with open(sales, "ab") as f:
        f.write(b'900001,1,2,3,4,0.0,0.0,2018-05-01 10:00:00.000,"A\r\nZ"\r\n900002,1,2,3,0,0.0,0.0,,B\r\n')
    home = tmp_path / "home"
    _, result = _extract_and_load(home, delivery)
    assert result.metrics["tables"]["sales"]["accepted"] == good_rows + 1
    assert _query(home, "select line_number, reason from quarantine.sales") == [
        (good_rows + 4, "Quantity is below 1: 0")
    ]
    assert _query(home, "select TransactionNumber from raw.sales where SalesID = 900001") == [("A\r\nZ",)]

    with open(sales, "ab") as f:
        f.write(b"900003,1,2,3,4,0.0,0.0,2018-05-01 10:00:00.000,C\rD\n")
    with pytest.raises(
        InputError, match=rf"cannot load sales.csv: .*: line {good_rows + 5:,} has a carriage"
    ):
        _extract_and_load(tmp_path / "lone", delivery)


def test_a_repeated_key_beside_text_after_a_closing_quote_loads(tmp_path: Path, delivery: Path) -> None:
    """`"AB" C` makes DuckDB reject its line as an unterminated quote; with a repeated key beside it,
    the second read for the duplicates' text reads the whole file too (it once stopped at that line,
    and the load refused the file)."""
    sales = delivery / "sales.csv"
    good_rows = len(sales.read_text().splitlines()) - 1
    _append(sales, '900001,1,2,3,4,0.0,0.0,2018-05-01 10:00:00.000,"AB" C', "1,1,2,3,4,0.0,0.0,,AGAIN")
    home = tmp_path / "home"
    _, result = _extract_and_load(home, delivery)
    assert result.metrics["tables"]["sales"]["accepted"] == good_rows
    assert _query(
        home, "select line_number, split_part(reason, ':', 1) from quarantine.sales order by 1"
    ) == [
        (good_rows + 2, "malformed line"),
        (good_rows + 3, "duplicate SalesID, kept on its first valid row"),
    ]


def test_a_malformed_line_is_quarantined_whole_however_long(tmp_path: Path, delivery: Path) -> None:
    """DuckDB keeps 10,000 characters of a line it cannot split, and reads none past 2 MB: the
    quarantined row has the whole line, and a reason."""
    customers = delivery / "customers.csv"
    lines = customers.read_text().splitlines()
    lines[3] += "," + "x" * 20_000  # a field too many
    lines[5] = lines[5].replace(",", "," + "y" * 3_000_000, 1)  # a line over 2 MB
    customers.write_text("\n".join(lines) + "\n")
    home = tmp_path / "home"
    _extract_and_load(home, delivery)
    rows = _query(home, "select line_number, reason, raw_line from quarantine.customers order by 1")
    assert [(line, raw_line) for line, _, raw_line in rows] == [(4, lines[3]), (6, lines[5])]
    assert rows[0][1] == "malformed line: Expected Number of Columns: 6 Found: 7"
    assert rows[1][1].startswith("malformed line: Maximum line size of 2000000 bytes exceeded")


def test_a_record_too_long_for_duckdb_stops_the_load_instead_of_vanishing(
    tmp_path: Path, delivery: Path
) -> None:
    """Past its buffer (32 MB) DuckDB drops a record without a word: here a quote left open, which
    takes the rest of a large file into its field. Load counts the file's records itself and stops."""
    customers = delivery / "customers.csv"
    lines = customers.read_text().splitlines()
    lines[2] = lines[2].replace(",", ',"', 1)  # line 3 opens a quote that never closes
    padding = "".join(f"{900000 + i},A,,B,1,{'z' * 60}\n" for i in range(600_000))  # about 40 MB
    customers.write_text("\n".join(lines) + "\n" + padding)
    home = tmp_path / "home"
    with pytest.raises(InputError) as raised:
        _extract_and_load(home, delivery)
    assert raised.value.message.startswith("cannot load customers.csv: DuckDB read ")
    assert "its longest, on line 3, is" in raised.value.message
    assert "(a quote opened there may never close)" in raised.value.message
    assert "nothing was loaded" in (raised.value.hint or "")
    assert (
        not (home / "warehouse.duckdb").exists()
        or not _query(home, "select count(*) from information_schema.tables where table_schema = 'raw'")[0][0]
    )


def test_a_quote_inside_an_unquoted_field_leaves_line_numbers_right(tmp_path: Path, delivery: Path) -> None:
    """`12" thin` is a literal quote to a CSV reader; counting quotes would take the lines after it
    for one record. With a blank line, which makes load find where records start, numbers stay right."""
    products = delivery / "products.csv"
    lines = products.read_text().splitlines()
    name = lines[2].split(",")[1]
    lines[2] = lines[2].replace(name, 'Pizza 12" thin', 1)
    lines.insert(4, "")
    fields = lines[8].split(",")
    fields[2] = "cheap"  # Price
    lines[8] = ",".join(fields)
    products.write_text("\n".join(lines) + "\n")
    home = tmp_path / "home"
    _extract_and_load(home, delivery)
    assert _query(home, "select line_number, reason from quarantine.products") == [
        (9, "Price is not a valid float: cheap")
    ]
    assert _query(
        home, f"select ProductName from raw.products where ProductID = {lines[2].split(',')[0]}"
    ) == [('Pizza 12" thin',)]


def test_a_required_name_of_spaces_alone_is_missing(tmp_path: Path, delivery: Path) -> None:
    _append(delivery / "customers.csv", "900001,   ,,Lee,1,", "900002,Ann,, ,1,")
    home = tmp_path / "home"
    _extract_and_load(home, delivery)
    assert _query(home, "select CustomerID, reason from quarantine.customers order by 1") == [
        ("900001", "FirstName is missing"),
        ("900002", "LastName is missing"),
    ]


def test_line_numbers_and_first_rows_hold_in_a_file_read_in_parallel(tmp_path: Path, delivery: Path) -> None:
    """A file large enough for DuckDB to read in parallel (about 70 MB): rows keep the file's order
    through the checks, so a quarantined row names its own line, and a repeated key keeps its first
    valid row. (A join in the checks, as `not in` for the foreign keys was, reorders such a file.)"""
    sales = delivery / "sales.csv"
    head = sales.read_text().splitlines()[:2]
    fields = head[1].split(",")
    n = 1_000_000
    lines = [head[0]] + [
        f"{i},{fields[1]},{fields[2]},{fields[3]},1,0.0,0.0,2018-05-01 10:00:00.000,T{i}"
        for i in range(1, n + 1)
    ]
    unknown, twice = (10, 500_000, 999_990), (700_000, 900_000)
    for line in unknown:
        lines[line - 1] = lines[line - 1].replace(f",{fields[2]},", ",999999999,", 1)
    lines[twice[1] - 1] = lines[twice[1] - 1].replace(f"{twice[1] - 1},", f"{twice[0] - 1},", 1)
    sales.write_text("\n".join(lines) + "\n")
    home = tmp_path / "home"
    _extract_and_load(home, delivery)
    found = _query(home, "select line_number, split_part(reason, ':', 1) from quarantine.sales order by 1")
    assert found == sorted(
        [
            *((line, "CustomerID has no matching customers.CustomerID") for line in unknown),
            (twice[1], "duplicate SalesID, kept on its first valid row"),
        ]
    )
