"""End to end at a small scale: extract, load, transform, then segment, recommend and publish."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from pipeline_support import make_context

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install -e '.[spark]')")
pytest.importorskip("dbt.cli.main", reason="dbt is not installed (pip install -e '.[dbt]')")

pytestmark = pytest.mark.timeout(1200)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    from grocery.cli import run_stages

    # A home whose name a URL would percent-encode or decode ("%20", a space, "="): the lake's URIs
    # must name the same folders to DuckDB, to pyarrow and to Spark's executors.
    home = tmp_path_factory.mktemp("spark-e2e") / "my%20data home=1"
    ctx = make_context(home, **{"source.scale": 0.01, "source.seed": 11})
    results = run_stages(ctx, ["extract", "load", "transform", "segment", "recommend", "publish"])
    yield ctx, results
    ctx.close()


def one(ctx, sql: str):
    return next(iter(ctx.warehouse.query(sql)[0].values()))


def test_the_homes_folder_named_like_a_partition_is_no_column_of_the_analytics_tables(published):
    ctx, _ = published
    columns = ctx.warehouse.query(
        "select distinct column_name from information_schema.columns where table_schema = 'analytics'"
    )
    assert "run_date" in {c["column_name"] for c in columns}
    assert not [c for c in columns if "home" in c["column_name"]]


def test_every_customer_has_one_segment_row_and_buyers_without_dates_are_marked(published):
    ctx, results = published
    customers = ctx.warehouse.count("core", "dim_customers")
    assert ctx.warehouse.count("marts", "mart_customer_segments") == customers
    never_bought = one(
        ctx,
        "select count(*) from core.dim_customers where customer_id not in (select customer_id from core.fct_sales)",
    )
    assert ctx.warehouse.count("marts", "mart_customer_segments", "segment = 'No purchases'") == never_bought
    assert one(ctx, "select sum(customer_count) from marts.mart_segment_summary") == customers
    # publish reports both counts, so they add up with the segment stage's.
    assert results["publish"]["segmented"] == {"customers": customers, "no_purchase": never_bought}
    assert results["segment"]["customers"] == customers - never_bought
    # Frequency and monetary agree with the dbt mart over the same fact.
    assert (
        one(
            ctx,
            """
        select count(*) from marts.mart_customer_segments s join marts.mart_customer_behavior b using (customer_id)
        where s.frequency <> b.order_count or abs(s.monetary - b.total_spent) > 0.01
    """,
        )
        == 0
    )
    assert (
        results["segment"]["run_date"] == one(ctx, "select max(sales_date) from core.fct_sales").isoformat()
    )


def test_every_customer_gets_top_n_new_products_and_fallbacks_are_marked(published):
    ctx, _ = published
    top_n = ctx.spec.models.als.top_n
    customers = ctx.warehouse.count("core", "dim_customers")
    assert ctx.warehouse.count("marts", "mart_recommend") == customers * top_n
    assert one(ctx, "select count(*) from marts.mart_recommend where product_name is null") == 0
    already_bought = one(
        ctx,
        """
        select count(*) from marts.mart_recommend r
        join (select distinct customer_id, product_id from core.fct_sales) f using (customer_id, product_id)
        where not r.is_fallback
    """,
    )
    assert already_bought == 0
    unscored = one(
        ctx,
        "select count(distinct customer_id) from core.dim_customers where customer_id not in (select customer_id from core.fct_sales)",
    )
    assert (
        one(ctx, "select count(distinct customer_id) from marts.mart_recommend where is_fallback") == unscored
    )


def test_metrics_compare_als_with_popularity_and_the_export_is_made_once(published):
    from grocery.spark.export import ensure_export, marker_buckets, read_marker

    ctx, _results = published
    rows = ctx.warehouse.query(
        "select model, k, precision_at_k, recall_at_k, ndcg_at_k, coverage from analytics.recommendation_metrics order by model, k"
    )
    assert {(r["model"], r["k"]) for r in rows} == {
        ("als", 5),
        ("als", 10),
        ("popularity", 5),
        ("popularity", 10),
    }
    at_10 = {r["model"]: r for r in rows if r["k"] == 10}
    assert at_10["als"]["precision_at_k"] > at_10["popularity"]["precision_at_k"]
    assert at_10["als"]["coverage"] > at_10["popularity"]["coverage"]
    before = read_marker(ctx)
    assert marker_buckets(before).column == "customer_id"  # DuckDB writes it bucketed for Spark
    assert ensure_export(ctx) == before  # same warehouse state: nothing exported again


def test_dbt_parses_the_project_once_in_the_background_before_transform(published):
    # grocery.stages.preload: `dbt parse` runs in the thread "grocery-preload" while extract and load
    # run; the transform and publish builds then read its state instead of parsing again.
    ctx, _results = published
    log = (ctx.home / "dbt" / "logs" / "dbt.log").read_text()
    full_parses = [line for line in log.splitlines() if "Starting full parse" in line]
    assert len(full_parses) == 1
    assert "[grocery-pr" in full_parses[0]  # dbt shows the first 10 characters of the thread's name


def test_spark_starts_and_runs_each_job_once_on_made_up_sales_before_its_stage(published):
    # grocery.stages.preload: the preloads of segment and recommend start the session and run their
    # job on a few made-up sales (grocery.spark.jobs.warm_up) while the stages before them run.
    # Segment waits for its own; recommend's, if still running when segment's job starts, is
    # cancelled then (grocery.spark.session.claim_session).
    from pyspark import SparkContext

    from grocery.spark.session import WARM_UP_GROUP

    tracker = SparkContext._active_spark_context.statusTracker()
    segment = tracker.getJobIdsForGroup(WARM_UP_GROUP.format(job="segment"))
    assert segment, "no warm-up of segment"
    assert {tracker.getJobInfo(i).status for i in segment} == {"SUCCEEDED"}
    recommend = tracker.getJobIdsForGroup(WARM_UP_GROUP.format(job="recommend"))
    assert {tracker.getJobInfo(i).status for i in recommend} <= {"SUCCEEDED", "FAILED"}  # none left running


def _delivery(generated: Path, folder: Path, sales_date: str, lines: int = 300) -> Path:
    """The generated files with their first sale lines only, every one dated `sales_date` ("": none)."""
    shutil.copytree(generated, folder)
    with open(folder / "sales.csv", newline="") as f:
        head, *body = list(csv.reader(f))[: lines + 1]
    column = head.index("SalesDate")
    with open(folder / "sales.csv", "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(
            [head, *([*r[:column], sales_date, *r[column + 1 :]] for r in body)]
        )
    return folder


def test_a_day_without_a_dated_sale_reports_every_customer_and_the_next_day_runs_as_usual(
    generated, tmp_path
):
    # Every sale line of the first delivery is undated: core.fct_sales has no rows. The Spark stages
    # say there is nothing to score, learn from or evaluate and write their outputs empty; publish
    # reports every customer as 'No purchases', its dbt tests pass and the dashboard renders. The
    # next day's dated sales then give the usual outputs, with nothing left of the empty ones.
    from grocery.cli import run_stages
    from grocery.dashboard.data import collect
    from grocery.interval import DataInterval

    home = tmp_path / "home"
    first = make_context(
        home, _delivery(generated, tmp_path / "undated", ""), DataInterval.day(date(2018, 5, 9))
    )
    results = run_stages(first, None)
    assert results["segment"]["summary"] == (
        "core.fct_sales has no dated sales: no customer to score as of 2018-05-09; "
        "publish reports every customer as 'No purchases'"
    )
    assert results["recommend"]["summary"] == (
        "core.fct_sales has no dated sales: nothing to learn from, recommend or evaluate as of 2018-05-09"
    )
    customers = first.warehouse.count("core", "dim_customers")
    assert customers > 0 and first.warehouse.count("core", "fct_sales") == 0
    assert results["publish"]["segmented"] == {"customers": customers, "no_purchase": customers}
    assert first.warehouse.count("marts", "mart_recommend") == 0
    assert one(first, "select max(users) from analytics.recommendation_metrics") == 0
    assert Path(results["publish"]["dashboard"]).is_file()
    page = collect(first.warehouse, first.spec.dashboard)
    assert [(s["segment"], s["customers"]) for s in page["segments"]] == [("No purchases", customers)]
    assert page["recommendations"]["pick"] == []
    assert {m["users"] for m in page["recommendation_metrics"]} == {0}
    first.close()

    dated = _delivery(generated, tmp_path / "dated", "2018-05-10 09:30:00.000")
    second = make_context(home, dated, DataInterval.day(date(2018, 5, 10)))
    results = run_stages(second, None)
    buyers = one(second, "select count(distinct customer_id) from core.fct_sales")
    assert results["segment"]["customers"] == buyers > 0
    assert results["publish"]["segmented"] == {"customers": customers, "no_purchase": customers - buyers}
    assert second.warehouse.count("marts", "mart_customer_segments", "has_purchase") == buyers
    assert one(second, "select min(as_of_date) from marts.mart_customer_segments") == date(2018, 5, 10)
    # The model's recommendations, and popular products for every customer without a dated sale.
    fallbacks = (customers - buyers) * second.spec.models.als.top_n
    assert results["recommend"]["rows"] > 0
    assert second.warehouse.count("marts", "mart_recommend") == results["recommend"]["rows"] + fallbacks
    second.close()


def _spark_submit(stage: str, master: str, args: list[str], pipeline_document: str, cwd: Path,
                  conf: dict[str, str] | None = None) -> dict:  # fmt: skip
    """Run a spark_apps/ entry with pyspark's own spark-submit in cwd, the pipeline handed over in
    $GROCERY_PIPELINE as the SparkApplications do, and the submitter's settings conf; the stage's
    JSON result."""
    import pyspark

    from grocery.airflow.commands import PIPELINE_ENV

    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    env = {
        **os.environ,
        PIPELINE_ENV: pipeline_document,
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    command = [str(submit), "--master", master, "--conf", "spark.driver.bindAddress=127.0.0.1",
               "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.ui.enabled=false",
               *(arg for key, value in (conf or {}).items() for arg in ("--conf", f"{key}={value}")),
               str(REPO / "spark_apps" / f"{stage}.py"), *args, "--json", "--quiet"]  # fmt: skip
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)[stage]


def test_the_spark_apps_run_the_stages_under_spark_submit(published, tmp_path):
    # The cluster's path: spark_apps/<stage>.py --date D under spark-submit, the pipeline in the
    # environment, on a copy of the home without the export or the Spark outputs: the entries export
    # the fact again and write what the stages wrote in-process (RFM row for row, the same top
    # products), with the handed-over spec's parameters (top 3). recommend runs on a local cluster:
    # executors in JVMs and Python workers of their own hold the packed blocks and run the tasks.
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from grocery.config import NamedPipeline
    from grocery.spark.jobs import CUSTOMER_RFM, RECOMMENDATIONS, analytics_dir

    ctx, results = published
    run_date = results["segment"]["run_date"]
    ctx.close()  # the copy of the warehouse file must be whole; the next query opens it again
    home = tmp_path / "home"
    shutil.copytree(ctx.home, home, ignore=shutil.ignore_patterns("exports", "analytics"))
    spec = ctx.spec.with_overrides(**{"models.als.top_n": 3})
    document = NamedPipeline(name="submitted", spec=spec).to_yaml()

    args = ["--date", run_date, "--home", str(home)]
    drivers = tmp_path / "drivers"  # where the drivers run, as the Spark image's /app: not for Spark
    drivers.mkdir()
    catalog = tmp_path / "catalog"
    segment = _spark_submit("segment", "local[2]", args, document, drivers,
                            conf={"spark.sql.warehouse.dir": str(catalog)})  # fmt: skip
    recommend = _spark_submit("recommend", "local-cluster[2,1,1024]", args, document, drivers)
    # The catalog folder (of the export's table) is the submitter's where it names one, else the
    # session's own under the temporary folder: never the drivers' working folder.
    assert catalog.is_dir()
    assert list(drivers.iterdir()) == []

    def read(root: Path, table: str):
        return pq.read_table(root / "lake" / analytics_dir(table, date.fromisoformat(run_date)))

    in_process = read(ctx.home, CUSTOMER_RFM).sort_by("customer_id")
    assert segment["customers"] == in_process.num_rows
    assert read(home, CUSTOMER_RFM).sort_by("customer_id").equals(in_process)
    recommendations = read(home, RECOMMENDATIONS)
    assert recommend["rows"] == recommendations.num_rows == 3 * recommend["customers"]
    assert set(recommendations.column("rank").to_pylist()) == {1, 2, 3}
    top_3 = pc.less_equal(read(ctx.home, RECOMMENDATIONS).column("rank"), 3)
    expected = read(ctx.home, RECOMMENDATIONS).filter(top_3).select(["customer_id", "rank", "product_id"])
    got = recommendations.select(["customer_id", "rank", "product_id"])
    assert set(got.column("customer_id").to_pylist()) == set(expected.column("customer_id").to_pylist())

    # Sums added up in another order may swap a near tie, nothing more.
    def rows(table):
        return set(zip(*table.to_pydict().values(), strict=True))

    assert len(rows(got) & rows(expected)) >= 0.98 * expected.num_rows
