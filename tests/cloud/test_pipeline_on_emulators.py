"""End to end on the emulators: `grocery run` with a `gs://` lake and BigQuery, reconciled with DuckDB.

The two runs are described in runs.py. Every mart must agree across the two warehouses: the same
tables and columns, row counts, the total of every numeric column within 1e-6 relative, and the
top-10 lists `grocery run` prints. The last test changes both runs (an incremental day replaced on
each), so it stays last.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from grocery import transform
from grocery.context import Context
from grocery.interval import DataInterval
from grocery.stages import BY_NAME
from grocery.tables import INGEST_DATE, PRODUCTS, SALES, Table
from grocery.warehouse.base import IngestLoad, Warehouse

from .runs import SPARK_STAGES, CloudRun, EmbeddedRun, registered

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install -e '.[spark]')")
pytestmark = pytest.mark.timeout(1500)

REL_TOLERANCE = 1e-6


def close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(float(a), float(b), rel_tol=REL_TOLERANCE, abs_tol=1e-9)


def duckdb_marts(wh: Warehouse) -> dict[str, dict[str, str]]:
    """Every mart with its columns and their DuckDB types."""
    rows = wh.query(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = 'marts' order by table_name, ordinal_position"
    )
    marts: dict[str, dict[str, str]] = {}
    for r in rows:
        marts.setdefault(r["table_name"], {})[r["column_name"]] = r["data_type"]
    return marts


def is_number(duckdb_type: str) -> bool:
    return duckdb_type.split("(")[0] in {
        "BIGINT",
        "INTEGER",
        "SMALLINT",
        "HUGEINT",
        "DOUBLE",
        "FLOAT",
        "DECIMAL",
    }


def total_differences(local: Warehouse, cloud: Warehouse) -> list[tuple[str, str, Any, Any]]:
    """(mart, column, DuckDB total, BigQuery total) of every numeric column whose totals differ."""
    differences = []
    for mart, columns in duckdb_marts(local).items():
        numbers = [c for c, kind in columns.items() if is_number(kind)]
        sums = ", ".join(["count(*) as row_count", *(f"sum({c}) as {c}" for c in numbers)])
        mine = local.query(f"select {sums} from {local.relation('marts', mart)}")[0]
        theirs = cloud.query(f"select {sums} from {cloud.relation('marts', mart)}")[0]
        differences += [(mart, c, mine[c], theirs[c]) for c in mine if not close(mine[c], theirs[c])]
    return differences


@pytest.fixture(scope="module")
def warehouses(embedded_run: EmbeddedRun, cloud_run: CloudRun):
    with embedded_run.warehouse() as local, cloud_run.warehouse() as cloud:
        yield local, cloud


def test_the_cloud_run_went_through_every_stage(cloud_env: CloudRun) -> None:
    expected = ["extract", "load", "transform", *(s for s in (*SPARK_STAGES, "publish") if s in BY_NAME)]
    assert list(cloud_env.results) == expected
    assert cloud_env.results["transform"]["fct_sales_rows"] > 10_000
    # Everything the stages wrote is in the bucket, in the one lake layout.
    lake = cloud_env.context().lake
    folders = ["raw", "raw/_manifests", "staged", "quarantine"]
    if registered(*SPARK_STAGES):
        folders += ["exports/fct_sales", "analytics/customer_rfm", "analytics/recommendations"]
    for folder in folders:
        assert lake.listdir(folder), folder


def test_the_status_of_the_cloud_run_reads_what_every_stage_left(cloud_env: CloudRun) -> None:
    from grocery import status

    ctx = cloud_env.context()
    try:
        found = status.collect(ctx)
    finally:
        ctx.close()
    results = cloud_env.results
    assert [d.ingest_date.isoformat() for d in found.deliveries] == [results["load"]["ingest_date"]]
    assert found.deliveries[0].accepted == results["load"]["accepted"]
    assert found.fct_sales is not None and found.fct_sales["rows"] == results["transform"]["fct_sales_rows"]
    assert found.dashboard == ctx.lake.uri("dashboard/index.html") and found.next_steps() == []
    if registered(*SPARK_STAGES):
        assert found.spark_runs["segment"] is not None and found.segmented_customers


def test_every_mart_has_the_same_rows_and_columns_on_both_warehouses(warehouses) -> None:
    local, cloud = warehouses
    marts = duckdb_marts(local)
    listed = cloud.query(
        f"select table_name from `{cloud.project}.{cloud.dataset_id('marts')}`.INFORMATION_SCHEMA.TABLES"
    )
    assert sorted(r["table_name"] for r in listed) == sorted(marts)
    for mart, columns in marts.items():
        table = cloud.client.get_table(cloud.table_id("marts", mart), retry=cloud.retry)
        assert [f.name for f in table.schema] == list(columns), mart
        assert cloud.count("marts", mart) == local.count("marts", mart), mart


def test_every_numeric_total_of_every_mart_agrees(warehouses) -> None:
    assert total_differences(*warehouses) == []


def test_the_top_ten_lists_agree(warehouses) -> None:
    from grocery.answers import top_answers

    local, cloud = (top_answers(wh) for wh in warehouses)
    assert list(local) == list(cloud)
    for title, rows in local.items():
        assert len(cloud[title]) == len(rows), title
        for mine, theirs in zip(rows, cloud[title], strict=True):
            assert mine.keys() == theirs.keys(), title
            for key, value in mine.items():
                assert close(value, theirs[key]) if isinstance(value, float) else value == theirs[key], (
                    title,
                    key,
                )


def test_revenue_totals_agree_from_the_fact_up(warehouses) -> None:
    local, cloud = warehouses
    sql = "select count(*) as line_count, sum(net_revenue) as net_revenue from {}"
    mine = local.query(sql.format(local.relation("core", "fct_sales")))[0]
    theirs = cloud.query(sql.format(cloud.relation("core", "fct_sales")))[0]
    assert theirs["line_count"] == mine["line_count"]
    assert close(theirs["net_revenue"], mine["net_revenue"])


# -- last: changes both runs ------------------------------------------------------------------------


def per_day(wh: Warehouse) -> dict[date, tuple[int, float]]:
    rows = wh.query(
        f"select sales_date, count(*) as n, sum(net_revenue) as revenue from {wh.relation('core', 'fct_sales')} "
        "group by sales_date"
    )
    return {r["sales_date"]: (r["n"], r["revenue"]) for r in rows}


def redeliver_doubled(ctx: Context, wh: Warehouse, day: date) -> None:
    """A later delivery re-sends one sales day with every quantity doubled (staging keeps the latest
    line), with the products file, whose prices its lines take (a delivery lists a sale's product)."""
    ingest = ctx.ingest_date()
    later = ingest + timedelta(days=1)

    def staged(table: str) -> pa.Table:
        uri = ctx.lake.uri(f"staged/{table}/ingest_date={ingest}")
        return pq.read_table(uri.split("://", 1)[1], filesystem=ctx.lake.fs)

    def redeliver(table: Table, rows: pa.Table) -> IngestLoad:
        at = rows.schema.get_field_index(INGEST_DATE)
        rows = rows.set_column(at, INGEST_DATE, pa.array([later] * len(rows), pa.date32()))
        folder = f"staged/{table.name}/ingest_date={later}"
        with ctx.lake.staging_dir(folder) as out:
            pq.write_table(rows, out / "part-0.parquet")
        return IngestLoad("raw", table, later, ctx.lake.uri(f"{folder}/*.parquet"))

    sales = staged("sales")
    dates = pc.cast(pc.cast(sales["SalesDate"], pa.timestamp("us")), pa.date32())
    resent = sales.filter(pc.equal(dates, pa.scalar(day, pa.date32())))
    resent = resent.set_column(
        resent.schema.get_field_index("Quantity"), "Quantity", pc.multiply(resent["Quantity"], 2)
    )
    wh.replace_ingest([redeliver(PRODUCTS, staged("products")), redeliver(SALES, resent)])


def test_an_incremental_run_replaces_exactly_its_days_on_both_warehouses(
    cloud_env: CloudRun, embedded_run: EmbeddedRun, warehouses
) -> None:
    from grocery.config import PipelineSpec

    warehouses[0].close()  # dbt opens the DuckDB file itself
    with cloud_env.warehouse() as wh:
        before = per_day(wh)
    day = sorted(before)[len(before) // 2]
    one_day = DataInterval(day, day)

    # BigQuery: the dbt bigquery target's insert_overwrite of that day's partition.
    with cloud_env.warehouse() as wh:
        redeliver_doubled(cloud_env.context(), wh, day)
    transform.run(cloud_env.context(one_day))
    with cloud_env.warehouse() as wh:
        after = per_day(wh)
    transform.run(cloud_env.context(one_day))
    with cloud_env.warehouse() as wh:
        again = per_day(wh)

    assert after[day][0] == before[day][0]
    assert after[day][1] == pytest.approx(2 * before[day][1], rel=1e-9)
    assert {d: v for d, v in after.items() if d != day} == {d: v for d, v in before.items() if d != day}
    assert again == after  # the same interval again changes nothing

    # DuckDB: the same delivery and the same one-day run; then both warehouses agree again.
    spec = PipelineSpec.model_validate({"source": {"kind": "path", "path": str(embedded_run.home)}})
    with embedded_run.warehouse() as wh:
        redeliver_doubled(Context(spec=spec, home=embedded_run.home), wh, day)
    transform.run(Context(spec=spec, home=embedded_run.home, interval=one_day))
    with embedded_run.warehouse() as local, cloud_env.warehouse() as cloud:
        local_days = per_day(local)
        assert sorted(local_days) == sorted(after)
        assert all(local_days[d][0] == after[d][0] and close(local_days[d][1], after[d][1]) for d in after)
        assert total_differences(local, cloud) == []
