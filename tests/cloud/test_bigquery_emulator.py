"""BigQueryWarehouse on bqemulator, fed by the load stage from a `gs://` lake on the GCS emulator.

The load stage writes staged and quarantined Parquet to the lake through gcsfs; BigQuery load jobs
read those same objects by their `gs://` URIs. What is asserted is what a reader of the warehouse
sees: partitions replaced exactly, never duplicated, quarantine rows with their reasons, an export
Spark can read from the lake, and plain queries answering the dashboard.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from grocery import extract, load
from grocery.config import PipelineSpec
from grocery.context import Context
from grocery.errors import StageError
from grocery.interval import DataInterval
from grocery.tables import CATEGORIES, SALES
from grocery.warehouse.base import IngestLoad

from .emulators import BigQueryEmulator, Cloud, Gcs, cloud_settings, make_cloud

# Rows the contract rejects, and one line that cannot be split at all.
BAD_SALES = (
    "900001,1,1,1,-3,0.1,0.0,2018-05-09 10:00:00.000,BADQTY\n"
    "900002,1,1,1,2,0.1,0.0,not a date,BADDATE\n"
    '900003,1,1,"unterminated\n'
)


@pytest.fixture(scope="module")
def cloud_module(gcs: Gcs, bigquery_emulator: BigQueryEmulator) -> Iterator[Cloud]:
    c = make_cloud(gcs, bigquery_emulator, "bqwarehouse")
    with cloud_settings(c):
        yield c


@pytest.fixture(scope="module")
def loaded(
    cloud_module: Cloud, small_delivery: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Context, dict]:
    """extract and load of the small delivery plus three bad sales lines, into the lake and BigQuery."""
    folder = tmp_path_factory.mktemp("bad-delivery")
    shutil.copytree(small_delivery, folder, dirs_exist_ok=True)
    with open(folder / "sales.csv", "a") as f:
        f.write(BAD_SALES)
    spec = PipelineSpec.model_validate(cloud_module.spec_data(folder))
    ctx = Context(spec=spec, home=tmp_path_factory.mktemp("home"), interval=DataInterval.everything())
    extract.run(ctx)
    result = load.run(ctx)
    ctx.close()
    return ctx, result.metrics


def raw_counts(wh, schema: str, table: str) -> dict[date, int]:
    rows = wh.query(
        f"select ingest_date, count(*) as n from {wh.relation(schema, table)} group by ingest_date"
    )
    return {r["ingest_date"]: r["n"] for r in rows}


def test_load_fills_raw_and_quarantine_tables_from_the_gcs_lake(cloud_module: Cloud, loaded) -> None:
    ctx, metrics = loaded
    day = date.fromisoformat(metrics["ingest_date"])
    sales = metrics["tables"]["sales"]
    assert sales["quarantined"] == 3
    assert metrics["rows_in"] == metrics["accepted"] + metrics["quarantined"]

    with cloud_module.warehouse() as wh:
        for name, report in metrics["tables"].items():
            assert raw_counts(wh, "raw", name) == {day: report["accepted"]}, name
            assert raw_counts(wh, "quarantine", name) == (
                {day: report["quarantined"]} if report["quarantined"] else {}
            ), name
        reasons = wh.query(
            f"select SalesID, line_number, raw_line, reason from {wh.relation('quarantine', 'sales')} order by line_number"
        )
    assert [r["SalesID"] for r in reasons] == ["900001", "900002", None]
    assert "Quantity is below 1" in reasons[0]["reason"]
    assert "SalesDate is not a valid timestamp" in reasons[1]["reason"]
    assert reasons[2]["reason"].startswith("malformed line") and reasons[2]["raw_line"].startswith("900003,")
    # The staged files the warehouse loaded are in the bucket, where the load found them.
    assert ctx.lake.files(f"staged/sales/ingest_date={day}", ".parquet")


def test_raw_tables_are_partitioned_by_ingest_date(cloud_module: Cloud, loaded) -> None:
    with cloud_module.warehouse() as wh:
        table = wh.client.get_table(wh.table_id("raw", "sales"), retry=wh.retry)
    assert table.time_partitioning.field == "ingest_date"
    assert table.time_partitioning.type_ == "DAY"


def test_loading_the_same_ingest_date_again_replaces_it_without_duplicates(
    cloud_module: Cloud, loaded
) -> None:
    ctx, metrics = loaded
    day = date.fromisoformat(metrics["ingest_date"])
    with cloud_module.warehouse() as wh:
        before = {name: raw_counts(wh, "raw", name) for name in metrics["tables"]}
        again = Context(spec=ctx.spec, home=ctx.home, interval=DataInterval.everything())
        load.run(again)
        again.close()
        after = {name: raw_counts(wh, "raw", name) for name in metrics["tables"]}
        distinct = wh.query(f"select count(distinct SalesID) as n from {wh.relation('raw', 'sales')}")[0]["n"]
    assert after == before
    assert distinct == metrics["tables"]["sales"]["accepted"] == after["sales"][day]


def test_replacing_one_partition_leaves_the_others_as_they_were(cloud_module: Cloud, loaded) -> None:
    ctx, metrics = loaded
    day = date.fromisoformat(metrics["ingest_date"])
    other = date(2018, 5, 10)
    accepted = metrics["tables"]["sales"]["accepted"]
    staged = ctx.lake.uri(f"staged/sales/ingest_date={day}/*.parquet")
    with cloud_module.warehouse() as wh:
        # Another delivery of the same files: the partition value comes from the load, not the files.
        wh.replace_ingest([IngestLoad("raw", SALES, other, staged)])
        assert raw_counts(wh, "raw", "sales") == {day: accepted, other: accepted}

        # A smaller delivery for that day replaces it whole; the first day keeps every row.
        first_rows = pq.read_table(
            ctx.lake.uri(f"staged/sales/ingest_date={day}").removeprefix("gs://"), filesystem=ctx.lake.fs
        ).slice(0, 10)
        with ctx.lake.staging_dir(f"staged/sales/ingest_date={other}") as out:
            pq.write_table(first_rows, out / "part-0.parquet")
        wh.replace_ingest(
            [IngestLoad("raw", SALES, other, ctx.lake.uri(f"staged/sales/ingest_date={other}/*.parquet"))]
        )
        assert raw_counts(wh, "raw", "sales") == {day: accepted, other: 10}

        wh.replace_ingest([IngestLoad("raw", SALES, other, staged)])  # as it was, for the other tests
        leftovers = wh.query(
            f"select table_name from `{wh.project}.{wh.dataset_id('raw')}`.INFORMATION_SCHEMA.TABLES "
            "where starts_with(table_name, '_load_')"
        )
    assert leftovers == []  # the staging tables of every load are gone


def test_export_writes_parquet_that_the_lake_and_spark_read(cloud_module: Cloud, loaded) -> None:
    ctx, _ = loaded
    with cloud_module.warehouse() as wh:
        wh.export_table(wh.relation("raw", "products"), ctx.lake.uri("exports/products"))
        expected = wh.count("raw", "products")
    files = ctx.lake.files("exports/products", ".parquet")
    assert files and all(f.startswith("exports/products/part-") for f in files)
    table = pq.read_table(ctx.lake.uri("exports/products").removeprefix("gs://"), filesystem=ctx.lake.fs)
    assert table.num_rows == expected
    assert {"ProductID", "Price", "ingest_date"} <= set(table.column_names)


def test_queries_answer_with_plain_rows(cloud_module: Cloud, loaded) -> None:
    with cloud_module.warehouse() as wh:
        rows = wh.query(
            f"select CategoryID as category_id, count(*) as products, round(sum(Price), 2) as price_sum "
            f"from {wh.relation('raw', 'products')} group by 1 order by products desc, category_id limit 3"
        )
    assert len(rows) == 3 and set(rows[0]) == {"category_id", "products", "price_sum"}
    assert rows[0]["products"] >= rows[1]["products"] >= rows[2]["products"]


def test_the_emulator_has_no_partition_decorators_so_the_default_method_avoids_them(
    cloud_module: Cloud, loaded
) -> None:
    """The emulator gap, pinned: `decorator` (kept for real BigQuery only) fails here; the default does not use it."""
    ctx, metrics = loaded
    day = date.fromisoformat(metrics["ingest_date"])
    staged = ctx.lake.uri(f"staged/sales/ingest_date={day}/*.parquet")
    with cloud_module.warehouse(partition_method="decorator") as wh:
        assert wh.partition_method != "staging_table"
        with pytest.raises(StageError, match=r"Invalid table id for SQL: 'sales\$\d{8}'"):
            wh.replace_ingest([IngestLoad("raw", SALES, day, staged)])
    with cloud_module.warehouse() as wh:
        assert wh.partition_method == "staging_table"
        assert raw_counts(wh, "raw", "sales")[day] == metrics["tables"]["sales"]["accepted"]


def test_load_table_replaces_a_whole_table_with_spark_style_output(cloud_module: Cloud, loaded) -> None:
    import pyarrow as pa

    ctx, _ = loaded
    folder = "analytics/customer_rfm/run_date=2018-05-09"
    rows = pa.table(
        {
            "customer_id": [1, 2, 3],
            "segment": ["Champions", "Can't Lose", "Lost"],
            "monetary": [9.5, 1.0, 0.25],
        }
    )
    with ctx.lake.staging_dir(folder) as out:
        pq.write_table(rows, out / "part-00000.snappy.parquet")
        (out / "_SUCCESS").write_bytes(b"")
    with cloud_module.warehouse() as wh:
        wh.load_table("analytics", "customer_rfm", ctx.lake.uri(f"{folder}/*.parquet"))
        table = wh.client.get_table(wh.table_id("analytics", "customer_rfm"), retry=wh.retry)
        legacy = {"INTEGER": "INT64", "FLOAT": "FLOAT64"}  # BigQuery answers either name
        assert [(f.name, legacy.get(f.field_type, f.field_type)) for f in table.schema] == [
            ("customer_id", "INT64"), ("segment", "STRING"), ("monetary", "FLOAT64"), ("run_date", "DATE"),
        ]  # fmt: skip
        loaded_rows = wh.query(
            f"select * from {wh.relation('analytics', 'customer_rfm')} order by customer_id"
        )
        assert [r["segment"] for r in loaded_rows] == ["Champions", "Can't Lose", "Lost"]
        assert {r["run_date"] for r in loaded_rows} == {date(2018, 5, 9)}

        with ctx.lake.staging_dir(folder) as out:
            pq.write_table(rows.slice(0, 1), out / "part-00000.snappy.parquet")
        wh.load_table("analytics", "customer_rfm", ctx.lake.uri(f"{folder}/*.parquet"))
        assert wh.count("analytics", "customer_rfm") == 1


def test_a_snapshot_fingerprint_follows_the_deliveries_a_repeat_of_the_one_before_aside(
    cloud_module: Cloud, loaded
) -> None:
    import dataclasses

    ctx, metrics = loaded
    day = date.fromisoformat(metrics["ingest_date"])
    earlier, later = day - timedelta(days=1), day + timedelta(days=1)
    staged = ctx.lake.uri(f"staged/categories/ingest_date={day}/*.parquet")
    with cloud_module.warehouse() as wh:
        rel = wh.relation("raw", "categories")
        first = wh.snapshot_fingerprint([CATEGORIES])
        try:
            wh.replace_ingest([IngestLoad("raw", CATEGORIES, later, staged)])  # the same rows, a day later
            assert wh.snapshot_fingerprint([CATEGORIES]) == first
            wh.query(
                f"update {rel} set CategoryName = 'Other' where ingest_date = date '{later}' and CategoryID = 1"
            )
            changed = wh.snapshot_fingerprint([CATEGORIES])
            assert changed != first
            # A late delivery of an older day changes what the dimensions hold.
            wh.replace_ingest([IngestLoad("raw", CATEGORIES, earlier, staged)])
            wh.query(
                f"update {rel} set CategoryName = 'Other' where ingest_date = date '{earlier}' and CategoryID = 2"
            )
            assert wh.snapshot_fingerprint([CATEGORIES]) not in (first, changed)
        finally:  # as it was, for the other tests
            wh.query(f"delete from {rel} where ingest_date in (date '{earlier}', date '{later}')")
        assert wh.snapshot_fingerprint([CATEGORIES]) == first
        assert (
            wh.snapshot_fingerprint([CATEGORIES, dataclasses.replace(CATEGORIES, name="never_loaded")])
            is None
        )


def test_the_export_fingerprint_follows_corrections_that_keep_every_count_and_sum(
    cloud_module: Cloud, loaded
) -> None:
    from types import SimpleNamespace

    from grocery.spark.export import EXPORT_RELATION, fact_state

    with cloud_module.warehouse() as wh:
        fact, view = wh.relation("core", "fct_sales"), wh.relation(*EXPORT_RELATION)
        wh.query(
            f"create table {fact} (sales_id INT64, sales_date DATE, customer_id INT64, product_id INT64, "
            "net_revenue FLOAT64, transaction_number STRING, quantity INT64)"
        )
        try:
            # Lines 3 and 4 are alike in every exported column.
            wh.query(
                f"insert into {fact} values (1, date '2018-01-02', 7, 3, 3.0, 'T1', 1), "
                "(2, date '2018-01-03', 8, 4, 4.0, 'T2', 1), (3, date '2018-01-05', 8, 4, 4.0, 'T3', 1), "
                "(4, date '2018-01-05', 8, 4, 4.0, 'T4', 1)"
            )
            # As dbt's view, with T1 and T2 listed as transactions of several lines.
            wh.query(
                f"create view {view} as select *, case when transaction_number in ('T1', 'T2') "
                f"then transaction_number end as multi_line_transaction from {fact}"
            )
            ctx = SimpleNamespace(warehouse=wh)
            states = [fact_state(ctx)]
            assert fact_state(ctx) == states[0]  # stable
            assert {k: v for k, v in states[0].items() if k != "rows_hash"} == {
                "row_count": 4, "first_sales_date": "2018-01-02", "last_sales_date": "2018-01-05",
            }  # fmt: skip
            for correction in (
                "set customer_id = 9 where sales_id = 2",
                "set product_id = 5 where sales_id = 2",
                "set sales_date = date '2018-01-04' where sales_id = 2",  # inside the range
                "set customer_id = 7 where sales_id in (3, 4)",  # both alike lines at once
                "set net_revenue = 4.001 where sales_id = 2",  # under a cent
                "set customer_id = case sales_id when 1 then 9 else 7 end where sales_id in (1, 2)",  # swapped
                "set transaction_number = case sales_id when 1 then 'T2' else 'T1' end where sales_id in (1, 2)",
            ):
                wh.query(f"update {fact} {correction}")
                state = fact_state(ctx)
                assert state not in states, correction
                assert state["row_count"] == 4 and state["last_sales_date"] == "2018-01-05", correction
                states.append(state)
            wh.query(f"update {fact} set quantity = 5 where true")  # a column the export leaves out
            assert fact_state(ctx) == states[-1]
        finally:  # as it was, for the other tests
            wh.query(f"drop view if exists {view}")
            wh.query(f"drop table {fact}")


def test_state_values_are_kept_by_name_and_forgotten(cloud_module: Cloud, loaded) -> None:
    with cloud_module.warehouse() as wh:
        assert wh.read_state("test.first") is None
        wh.write_state("test.first", "one")
        wh.write_state("test.second", "two")
        wh.write_state("test.first", "three")
        assert (wh.read_state("test.first"), wh.read_state("test.second")) == ("three", "two")
        wh.write_state("test.first", None)
        assert (wh.read_state("test.first"), wh.read_state("test.second")) == (None, "two")
        wh.write_state("test.second", None)


def test_the_status_reads_the_gcs_lake_and_bigquery(cloud_module: Cloud, loaded) -> None:
    from grocery import status

    ctx, metrics = loaded
    found = status.collect(ctx)
    ctx.close()
    assert found.lake == ctx.spec.lake and found.warehouse.startswith("BigQuery project ")
    [delivery] = found.deliveries
    assert delivery.ingest_date == date.fromisoformat(metrics["ingest_date"]) and delivery.files == 7
    assert (delivery.accepted, delivery.quarantined) == (metrics["accepted"], metrics["quarantined"])


def test_the_quarantined_records_read_back_from_bigquery_as_delivered(cloud_module: Cloud, loaded) -> None:
    from grocery import quarantined
    from grocery.tables import table

    _, metrics = loaded
    with cloud_module.warehouse() as wh:
        found = quarantined.read(wh, date.fromisoformat(metrics["ingest_date"]), [table("sales")])
    assert found.totals == {"sales": 3}
    assert [r.text for r in found.records[:2]] == BAD_SALES.splitlines()[:2]
    assert found.records[0].reason == "Quantity is below 1: -3"
    assert found.records[2].reason.startswith("malformed line: ")
    assert [r.line_number for r in found.records] == sorted(r.line_number for r in found.records)
