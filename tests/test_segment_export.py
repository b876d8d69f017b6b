"""The export of core.fct_sales for the Spark stages: made once per warehouse state, of nothing when the
fact has no rows (and the stages then write their outputs empty, without Spark); and publish's guards."""

from __future__ import annotations

import os
from datetime import date

import numpy as np
import pytest
from pipeline_support import make_context

from grocery.errors import StageError
from grocery.interval import DataInterval
from grocery.spark.export import EXPORT_COLUMNS, EXPORT_DIR, EXPORT_RELATION, MARKER, ensure_export, run_date

FACT_COLUMNS = "sales_id, sales_date, customer_id, net_revenue"


def _fact(ctx, rows: list[tuple], view: bool = True) -> None:
    """core.fct_sales with these rows of FACT_COLUMNS; the other columns (one the export leaves out)
    constant. With `view`, the view the export reads, as dbt's with no transaction listed."""
    con = ctx.warehouse.con
    con.execute(
        "create or replace table core.fct_sales (sales_id bigint, sales_date date, customer_id bigint, "
        "net_revenue double, transaction_number varchar default 'T1', product_id bigint default 3, "
        "quantity bigint default 2)"
    )
    if rows:
        con.executemany(f"insert into core.fct_sales ({FACT_COLUMNS}) values (?, ?, ?, ?)", rows)
    if view:
        con.execute(
            f"create or replace view {ctx.warehouse.relation(*EXPORT_RELATION)} as "
            "select *, null::varchar as multi_line_transaction from core.fct_sales"
        )


def test_export_is_made_once_per_state_of_the_fact(tmp_path):
    ctx = make_context(tmp_path / "home")
    _fact(ctx, [(1, date(2018, 1, 2), 7, 3.0), (2, date(2018, 1, 5), 8, 4.0)])
    first = ensure_export(ctx)
    assert ctx.lake.files(EXPORT_DIR, ".parquet")
    assert first["state"]["row_count"] == 2
    assert ensure_export(ctx) == first  # same state: the files are reused
    assert run_date(ctx, first) == date(2018, 1, 5)  # an open interval ends with the last sale

    ctx.warehouse.con.execute(
        f"insert into core.fct_sales ({FACT_COLUMNS}) values (3, date '2018-01-06', 7, 1.0)"
    )
    second = ensure_export(ctx)
    assert second["state"]["row_count"] == 3 and second["state"] != first["state"]
    assert run_date(
        make_context(tmp_path / "home", interval=DataInterval.day(date(2018, 1, 3))), second
    ) == date(2018, 1, 3)

    # Files of the same state with other columns (an export made before a change of them) are made again.
    ctx.lake.write_json(MARKER, {**second, "columns": ["sales_id", "transaction_number"]})
    third = ensure_export(ctx)
    assert third["columns"] == list(EXPORT_COLUMNS)  # a new marker, with new files
    assert ensure_export(ctx) == third

    # Files lost since the export (a lifecycle rule, a clean-up by hand): it is made again, whole.
    files = ctx.lake.files(EXPORT_DIR, ".parquet")
    ctx.lake.remove(files[0])
    again = ensure_export(ctx)
    assert again["exported_at"] and ctx.lake.files(EXPORT_DIR, ".parquet") == files
    assert again["files"] == [f.rsplit("/", 1)[-1] for f in files]

    # A marker that cannot be read is no marker: the export is made again, with a new one.
    for damaged in (b"{broken", b"[]", b'{"state": 1}'):
        ctx.lake.write_bytes(MARKER, damaged)
        assert ensure_export(ctx)["state"] == third["state"]
        assert ctx.lake.read_json(MARKER)["exported_at"]
    ctx.close()


def test_a_correction_that_keeps_every_count_and_sum_is_exported_again(tmp_path):
    """A re-delivered day that corrects lines in place keeps the rows, their ids, date range and
    revenue: the export is made again all the same, and holds the corrected lines."""
    import pyarrow.parquet as pq

    ctx = make_context(tmp_path / "home")
    # Lines 3 and 4 are alike in every exported column: a hash of those alone cancels them out.
    _fact(ctx, [(1, date(2018, 1, 2), 7, 3.0), (2, date(2018, 1, 3), 8, 4.0),
                (3, date(2018, 1, 5), 8, 4.0), (4, date(2018, 1, 5), 8, 4.0)])  # fmt: skip
    con, view = ctx.warehouse.con, ctx.warehouse.relation(*EXPORT_RELATION)
    columns = ", ".join(EXPORT_COLUMNS)

    def exported() -> list[tuple]:
        files = sorted((ctx.home / "lake" / EXPORT_DIR).glob("*.parquet"))
        rows = [r for f in files for r in pq.read_table(f, columns=list(EXPORT_COLUMNS)).to_pylist()]
        return sorted(tuple(r.values()) for r in rows)

    marker = ensure_export(ctx)
    corrections = [
        "update core.fct_sales set customer_id = 9 where sales_id = 2",
        "update core.fct_sales set product_id = 5 where sales_id = 2",
        "update core.fct_sales set sales_date = date '2018-01-04' where sales_id = 2",  # inside the range
        "update core.fct_sales set customer_id = 7 where sales_id in (3, 4)",  # both alike lines at once
        "update core.fct_sales set net_revenue = 4.001 where sales_id = 2",  # under a cent
        # Customers swapped between two lines: the same values, in other rows.
        "update core.fct_sales set customer_id = case sales_id when 1 then 9 else 7 end where sales_id in (1, 2)",
        # Transactions T1 and T2 have several lines now (the view as dbt's, with them listed).
        f"create or replace view {view} as select *, case when transaction_number in ('T1', 'T2') "
        "then transaction_number end as multi_line_transaction from core.fct_sales",
        "update core.fct_sales set transaction_number = 'T2' where sales_id = 1",
        "update core.fct_sales set transaction_number = case sales_id when 1 then 'T1' else 'T2' end "
        "where sales_id in (1, 2)",  # swapped
    ]
    for correction in corrections:
        con.execute(correction)
        again = ensure_export(ctx)
        assert again["state"] != marker["state"], correction
        assert {k: again["state"][k] for k in ("row_count", "first_sales_date", "last_sales_date")} == {
            "row_count": 4, "first_sales_date": "2018-01-02", "last_sales_date": "2018-01-05",
        }  # fmt: skip
        assert exported() == sorted(con.execute(f"select {columns} from {view}").fetchall()), correction
        assert ensure_export(ctx) == again  # and once only
        marker = again

    # A change of nothing the export holds (a column it leaves out) exports nothing again.
    con.execute("update core.fct_sales set quantity = 5")
    assert ensure_export(ctx) == marker
    ctx.close()


def test_a_fact_without_rows_is_exported_as_nothing_until_it_has_rows(tmp_path):
    """A delivery whose every sale line is undated leaves core.fct_sales empty: no file to export,
    none left of an earlier state, and a marker that says so. The next state with rows is exported."""
    from grocery.extract import manifest_path
    from grocery.spark.export import has_sales

    ctx = make_context(tmp_path / "home")
    _fact(ctx, [(1, date(2018, 1, 2), 7, 3.0)])
    ensure_export(ctx)
    ctx.warehouse.con.execute("delete from core.fct_sales")
    empty = ensure_export(ctx)
    assert not has_sales(empty["state"])
    assert empty["state"] == {
        "row_count": 0,
        "first_sales_date": None,
        "last_sales_date": None,
        "rows_hash": 0,
    }
    assert empty["files"] == [] == ctx.lake.files(EXPORT_DIR, ".parquet")
    assert ensure_export(ctx) == empty  # once
    # No sales date to go by: the interval's end, else the latest delivery's ingest date.
    day = make_context(tmp_path / "home", interval=DataInterval.day(date(2018, 1, 3)))
    assert run_date(day, empty) == date(2018, 1, 3)
    for ingest_date in ("2018-01-08", "2018-01-09"):
        ctx.lake.write_json(manifest_path(date.fromisoformat(ingest_date)), {"files": []})
    assert run_date(ctx, empty) == date(2018, 1, 9)

    ctx.warehouse.con.execute(
        f"insert into core.fct_sales ({FACT_COLUMNS}) values (2, date '2018-01-10', 7, 1.0)"
    )
    dated = ensure_export(ctx)
    assert has_sales(dated["state"]) and dated["state"]["row_count"] == 1
    assert dated["files"] and dated["files"] == [
        f.rsplit("/", 1)[-1] for f in ctx.lake.files(EXPORT_DIR, ".parquet")
    ]
    assert run_date(ctx, dated) == date(2018, 1, 10)
    ctx.close()


def _without_spark(monkeypatch) -> None:
    """Make a start of Spark fail the test."""
    import grocery.spark.session

    def start_session(*args, **kwargs):
        raise AssertionError("Spark was started")

    monkeypatch.setattr(grocery.spark.session, "start_session", start_session)


def test_segment_and_recommend_over_a_fact_without_rows_write_their_outputs_empty_without_spark(
    tmp_path, monkeypatch
):
    import pyarrow.parquet as pq

    from grocery import recommend, segment
    from grocery.spark import jobs
    from grocery.spark.rfm import RFM_COLUMNS

    _without_spark(monkeypatch)
    ctx = make_context(tmp_path / "home", interval=DataInterval.day(date(2018, 5, 9)))
    _fact(ctx, [])
    segmented = segment.run(ctx)
    assert segmented.summary == (
        "core.fct_sales has no dated sales: no customer to score as of 2018-05-09; "
        "publish reports every customer as 'No purchases'"
    )
    assert segmented.metrics["customers"] == 0 and segmented.metrics["segments"] == {}
    recommended = recommend.run(ctx)
    assert recommended.summary == (
        "core.fct_sales has no dated sales: nothing to learn from, recommend or evaluate as of 2018-05-09"
    )
    assert {k: recommended.metrics[k] for k in ("customers", "fallback_customers", "rows", "products")} == {
        "customers": 0, "fallback_customers": 0, "rows": 0, "products": 0,
    }  # fmt: skip

    def output(table: str):
        return pq.read_table(ctx.home / "lake" / jobs.analytics_dir(table, date(2018, 5, 9)))

    rfm = output(jobs.CUSTOMER_RFM)
    assert rfm.num_rows == 0 and rfm.column_names == list(RFM_COLUMNS)
    assert output(jobs.RECOMMENDATIONS).num_rows == output(jobs.POPULAR_PRODUCTS).num_rows == 0
    # The evaluation is over no one, as when no customer is in the holdout: each model at each K.
    metrics = output(jobs.RECOMMENDATION_METRICS).to_pylist()
    assert [(m["model"], m["k"], m["users"]) for m in metrics] == [
        ("als", 5, 0), ("als", 10, 0), ("popularity", 5, 0), ("popularity", 10, 0),
    ]  # fmt: skip
    assert {(m["holdout_start_date"], m["holdout_end_date"]) for m in metrics} == {
        (date(2018, 4, 26), date(2018, 5, 9))
    }
    ctx.close()


def test_publish_loads_the_empty_outputs_of_a_run_over_everything_without_a_dated_sale(tmp_path, monkeypatch):
    from grocery import recommend, segment
    from grocery.extract import manifest_path
    from grocery.publish import load_analytics

    _without_spark(monkeypatch)
    ctx = make_context(tmp_path / "home")
    ctx.lake.write_json(manifest_path(date(2018, 5, 9)), {"files": []})
    _fact(ctx, [])
    assert segment.run(ctx).metrics["run_date"] == recommend.run(ctx).metrics["run_date"] == "2018-05-09"
    assert load_analytics(ctx) == {
        "customer_rfm": 0, "recommendations": 0, "popular_products": 0, "recommendation_metrics": 4,
    }  # fmt: skip
    ctx.close()


def test_export_without_the_view_it_reads_says_to_run_transform(tmp_path):
    ctx = make_context(tmp_path / "home")
    _fact(ctx, [(1, date(2018, 1, 2), 7, 3.0)], view=False)
    with pytest.raises(StageError, match=r"cannot export .*int_sales_export") as raised:
        ensure_export(ctx)
    assert "grocery transform" in raised.value.hint
    ctx.close()


def test_export_without_a_fact_says_to_run_transform(tmp_path):
    ctx = make_context(tmp_path / "home")
    with pytest.raises(StageError, match="transform"):
        ensure_export(ctx)
    ctx.close()


def test_publish_without_spark_outputs_says_which_are_missing(tmp_path):
    from grocery.publish import load_analytics

    ctx = make_context(tmp_path / "home")
    _fact(ctx, [(1, date(2018, 1, 2), 7, 3.0)])
    ensure_export(ctx)
    with pytest.raises(
        StageError, match="customer_rfm, recommendations, popular_products, recommendation_metrics"
    ):
        load_analytics(ctx)
    # A write in progress (Spark's _temporary/) or hidden files are no output either: publish read
    # them as output, then found no `*.parquet` to load and ended in a traceback.
    in_progress = "analytics/recommendations/run_date=2018-01-02/_temporary/0/part-0.parquet"
    ctx.lake.write_bytes(in_progress, b"half")
    ctx.lake.write_bytes("analytics/customer_rfm/run_date=2018-01-02/.part-0.parquet.crc", b"")
    with pytest.raises(
        StageError, match="customer_rfm, recommendations, popular_products, recommendation_metrics"
    ):
        load_analytics(ctx)
    ctx.close()


def test_load_table_replaces_an_analytics_table_from_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    ctx = make_context(tmp_path / "home")
    folder = tmp_path / "out"
    folder.mkdir()
    for rows in ([1, 2, 3], [4]):
        pq.write_table(pa.table({"customer_id": rows}), folder / "part-0.parquet")
        ctx.warehouse.load_table("analytics", "customer_rfm", f"file://{folder}/*.parquet")
        assert ctx.warehouse.count("analytics", "customer_rfm") == len(rows)
    ctx.close()


def test_the_export_is_bucketed_by_customer_as_spark_buckets_a_table(tmp_path):
    import pyarrow.parquet as pq

    from grocery.spark.buckets import Buckets
    from grocery.spark.export import marker_buckets

    ctx = make_context(tmp_path / "home")
    rows = [(i, date(2018, 1, 1 + i % 20), 1000 + i % 37, float(i)) for i in range(1, 400)]
    _fact(ctx, [*rows, (400, date(2018, 1, 3), None, 1.0)])  # a line without a customer is kept too
    buckets = Buckets("customer_id", 3)
    assert ctx.warehouse.export_table("core.fct_sales", ctx.lake.uri("exports/x"), buckets) == buckets
    folder = ctx.home / "lake" / "exports" / "x"
    assert sorted(p.name for p in folder.iterdir()) == [buckets.file_name(b) for b in range(3)]
    seen = []
    for b in range(3):
        table = pq.read_table(folder / buckets.file_name(b))
        assert table.column_names[:4] == ["sales_id", "sales_date", "customer_id", "net_revenue"]
        customers = table.column("customer_id").to_pylist()
        nulls = [c for c in customers if c is None]
        known = np.array([c for c in customers if c is not None], np.int64)
        assert (buckets.of(known) == b).all()  # every line of a customer in its bucket's file
        assert not nulls or b == buckets.null_bucket
        seen += table.column("sales_id").to_pylist()
    assert sorted(seen) == list(range(1, 401))  # every line once

    marker = ensure_export(ctx)  # through the stage's path: one bucket per core, recorded
    assert marker_buckets(marker) == Buckets("customer_id", os.cpu_count() or 1)
    exported = pq.read_table(ctx.home / "lake" / EXPORT_DIR)
    assert exported.column_names == list(EXPORT_COLUMNS) and exported.num_rows == 400  # what the jobs read
    ctx.close()


def test_an_export_without_buckets_is_one_plain_file(tmp_path):
    ctx = make_context(tmp_path / "home")
    _fact(ctx, [(1, date(2018, 1, 2), 7, 3.0)])
    assert ctx.warehouse.export_table("core.fct_sales", ctx.lake.uri("exports/x")) is None
    assert [p.name for p in (ctx.home / "lake" / "exports" / "x").iterdir()] == ["part-0.parquet"]
    ctx.close()
