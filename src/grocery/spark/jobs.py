"""The Spark jobs: read the exported fact from the lake, transform, write `analytics/` in the lake.

Both jobs take the lake URI and the as-of date (the run date: the end of the data interval) and
nothing else from the pipeline. The stages `segment` and `recommend` run them in the `grocery`
process, on a laptop as under `spark-submit spark_apps/<stage>.py` on a cluster. An export of
nothing (core.fct_sales without rows) needs no Spark: `segment_nothing` and `recommend_nothing`
write the same outputs, in the same columns, with no customer scored and no product to recommend.

Lake layout read and written:
    exports/fct_sales/                                   input (one Parquet folder, maybe bucketed)
    analytics/customer_rfm/run_date=D/                   one row per customer
    analytics/recommendations/run_date=D/                one row per customer and rank
    analytics/popular_products/run_date=D/               the popularity ranking (fallback and baseline)
    analytics/recommendation_metrics/run_date=D/         one row per model and K
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from grocery.config import AlsSpec, RfmSpec
from grocery.lake import Lake, local_uri
from grocery.progress import Stopwatch
from grocery.spark import als as alsmod
from grocery.spark.buckets import Buckets
from grocery.spark.evaluate import MetricSums, holdout_window
from grocery.spark.export import BUCKET_COLUMN, EXPORT_COLUMNS, EXPORT_DIR, export_buckets
from grocery.spark.rfm import customer_rfm, score_rfm
from grocery.spark.session import WARM_UP_GROUP, require_gcs_connector, wait_for_tasks

CUSTOMER_RFM = "customer_rfm"
RECOMMENDATIONS = "recommendations"
POPULAR_PRODUCTS = "popular_products"
RECOMMENDATION_METRICS = "recommendation_metrics"
ANALYTICS_TABLES = (CUSTOMER_RFM, RECOMMENDATIONS, POPULAR_PRODUCTS, RECOMMENDATION_METRICS)
EVAL_KS = (5, 10)
EVAL_MODELS = ("als", "popularity")  # the models `alsmod.evaluate` scores, each at every K
RECOMMENDATIONS_SCHEMA = f"{alsmod.RECOMMENDATION_SCHEMA}, as_of_date date"  # Spark writes them
POPULAR_PRODUCTS_SCHEMA = pa.schema(
    [("rank", pa.int64()), ("product_id", pa.int64()), ("customers", pa.int64()), ("score", pa.float64()),
     ("as_of_date", pa.date32())]
)  # fmt: skip
# The Arrow type of each Spark SQL type the outputs Spark writes use.
_ARROW_TYPES = {"int": pa.int32(), "long": pa.int64(), "double": pa.float64(), "boolean": pa.bool_(),
                "date": pa.date32()}  # fmt: skip


def analytics_dir(table: str, run_date: date) -> str:
    """The lake path of one run's output of a Spark job."""
    return f"analytics/{table}/run_date={run_date.isoformat()}"


def _join(lake_uri: str, rel: str) -> str:
    return f"{lake_uri.rstrip('/')}/{rel}"


def read_sales(spark: SparkSession, lake_uri: str, buckets: Buckets | None = None) -> DataFrame:
    """The exported fact; with buckets (a bucketed export), as a table Spark knows to be bucketed.

    The table is named after its files and bucketing, and refreshed on every read: the export is
    rewritten when the fact changes, and Spark would otherwise keep the files it listed before."""
    require_gcs_connector(spark, lake_uri)
    location = _join(lake_uri, EXPORT_DIR)
    if buckets is None:
        return spark.read.parquet(location)
    table = _export_table(lake_uri, buckets)
    columns = ", ".join(
        f"`{f.name}` {f.dataType.simpleString()}" for f in spark.read.parquet(location).schema
    )
    spark.sql(buckets.table_ddl(table, columns, location))
    spark.catalog.refreshTable(table)
    return spark.table(table)


def _export_table(lake_uri: str, buckets: Buckets) -> str:
    """The name of the session's table over a bucketed export."""
    key = f"{_join(lake_uri, EXPORT_DIR)}|{buckets.column}|{buckets.count}"
    return f"fct_sales_export_{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def partitions(spark: SparkSession, buckets: Buckets | None) -> int:
    """The partitions of a shuffle by customer: the buckets when the export is bucketed by customer
    (Spark then leaves the lines where they are), else one per core."""
    if buckets is not None and buckets.column == BUCKET_COLUMN:
        return buckets.count
    return spark.sparkContext.defaultParallelism


def arrow_schema(ddl: str) -> pa.Schema:
    """The Arrow schema of a Spark DDL schema of simple types ("customer_id long, rank int, ...")."""
    return pa.schema([(name, _ARROW_TYPES[kind]) for name, kind in (f.split() for f in ddl.split(","))])


def _write_from_driver(
    rows: list[dict[str, object]] | pa.Table, lake_uri: str, table: str, run_date: date
) -> None:
    """Rows made on the driver (the RFM scores, the metrics, the popular products): one Parquet file
    written by the driver itself, through the lake (`grocery.lake`: a local folder or GCS), which puts
    the new folder in place of the old one when it is complete.

    Handed to Spark to write, they took a job, and the first Parquet write of a fresh JVM: at full
    scale the 98 k RFM rows took 2.3-2.8 s that way, 0.1 s this way. The file is the same Parquet."""
    data = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(rows)
    with Lake(lake_uri).staging_dir(analytics_dir(table, run_date)) as folder:
        pq.write_table(data, folder / "part-00000.parquet")


# -- segment ---------------------------------------------------------------------------------------


def segment_job(
    spark: SparkSession, lake_uri: str, as_of: date, rfm: RfmSpec, buckets: Buckets | None = None
) -> dict[str, object]:
    """RFM scores and segments of every customer in the export, as of a date."""
    lap = Stopwatch()
    # Customers without a purchase up to as_of come out of the same aggregation: no second pass
    # over the lines for the customer list.
    sales = read_sales(spark, lake_uri, buckets).select(
        "customer_id", "sales_date", "net_revenue", "multi_line_transaction"
    )
    scored = customer_rfm(sales, as_of, rfm.bins, partitions=partitions(spark, buckets))
    lap("score")
    _write_from_driver(scored, lake_uri, CUSTOMER_RFM, as_of)
    lap("write")
    counts = {
        row["segment"]: row["segment_count"]
        for row in scored.group_by("segment").aggregate([("segment", "count")]).to_pylist()
    }
    return {
        "customers": sum(counts.values()),
        "segments": dict(sorted(counts.items(), key=lambda kv: -kv[1])),
        "timings": lap.timings,
    }


def segment_nothing(lake_uri: str, as_of: date, rfm: RfmSpec) -> dict[str, object]:
    """segment_job's output for an export of nothing: customer_rfm without rows, in its columns.

    Every customer is left to publish, which reports those the job did not score as 'No purchases'."""
    lap = Stopwatch()
    totals = pa.table(
        {"customer_id": pa.array([], pa.int64()), "first_purchase_date": pa.array([], pa.date32()),
         "last_purchase_date": pa.array([], pa.date32()), "frequency": pa.array([], pa.int64()),
         "monetary": pa.array([], pa.float64())}
    )  # fmt: skip  # the columns of customer_totals, without a row
    _write_from_driver(score_rfm(totals, as_of, rfm.bins), lake_uri, CUSTOMER_RFM, as_of)
    lap("write")
    return {"customers": 0, "segments": {}, "timings": lap.timings}


# -- recommend -------------------------------------------------------------------------------------


def recommend_job(
    spark: SparkSession,
    lake_uri: str,
    as_of: date,
    spec: AlsSpec,
    seed: int = 42,
    buckets: Buckets | None = None,
) -> dict[str, object]:
    """Evaluate ALS and the popularity baseline on the holdout, then recommend from a model of the whole interval."""
    lap = Stopwatch()
    params = alsmod.AlsParams(spec.rank, spec.max_iter, spec.reg_param, spec.alpha, seed)
    sales = read_sales(spark, lake_uri, buckets).select("customer_id", "product_id", "sales_date")
    train_end, _ = holdout_window(as_of, spec.holdout_days)
    packed = alsmod.pack(sales, as_of, train_end, partitions(spark, buckets))
    if len(packed.items) == 0:
        from grocery.errors import StageError

        packed.unpersist()
        raise StageError(
            f"no sales on or before {as_of} in {_join(lake_uri, EXPORT_DIR)}", hint="check the data interval"
        )
    lap("pack")

    # Two models side by side: one trained before the holdout (evaluated on it), one on everything
    # up to as_of (published).
    models = alsmod.fit(packed, params, ("train", "full"))
    lap("fit")
    metrics = alsmod.evaluate(packed, models["train"], _eval_ks(spec), spec.exclude_purchased)
    lap("evaluate")
    metric_rows = _write_metrics(metrics, lake_uri, as_of, spec)

    # Customers with no purchase up to as_of get popular products, marked as a fallback.
    model = models["full"]
    recs = alsmod.recommend(packed, model, spec.top_n, spec.exclude_purchased).withColumn(
        "as_of_date", F.lit(as_of)
    )
    # One file per task: coalescing to one would run every customer's top-N in a single task. The
    # executors write beside the run's folder, which the new one replaces once whole.
    with Lake(lake_uri).written_in_place(analytics_dir(RECOMMENDATIONS, as_of)) as beside:
        recs.write.mode("overwrite").parquet(beside)
    recommendations = _join(lake_uri, analytics_dir(RECOMMENDATIONS, as_of))
    packed.unpersist()
    lap("recommend")
    popular = [i for i in np.lexsort((np.arange(len(model.items)), -model.buyers)) if model.buyers[i] > 0]
    top_buyers = max(float(model.buyers.max()), 1.0)
    popular_rows = [
        {"rank": r + 1, "product_id": int(model.items[i]), "customers": int(model.buyers[i]),
         "score": float(model.buyers[i]) / top_buyers, "as_of_date": as_of}
        for r, i in enumerate(popular)
    ]  # fmt: skip
    _write_from_driver(
        pa.Table.from_pylist(popular_rows, POPULAR_PRODUCTS_SCHEMA), lake_uri, POPULAR_PRODUCTS, as_of
    )
    # Counted from the files' footers; the schema is known, so no job reads it first.
    rows = spark.read.schema(RECOMMENDATIONS_SCHEMA).parquet(recommendations).count()
    lap("write")
    return {
        "customers": packed.customers,
        "fallback_customers": packed.customers - packed.buyers,
        "rows": rows,
        "products": len(packed.items),
        "metrics": _reported(metric_rows),
        "timings": lap.timings,
    }


def recommend_nothing(lake_uri: str, as_of: date, spec: AlsSpec) -> dict[str, object]:
    """recommend_job's outputs for an export of nothing: no recommendation and no popular product
    (empty, in their columns), and the evaluation's rows over no one (users 0), as for a holdout
    without a customer to evaluate."""
    lap = Stopwatch()
    ks = _eval_ks(spec)
    metrics = [MetricSums(k, 0).row(model, 0) for model in EVAL_MODELS for k in ks]
    metric_rows = _write_metrics(metrics, lake_uri, as_of, spec)
    empty = arrow_schema(RECOMMENDATIONS_SCHEMA).empty_table()
    _write_from_driver(empty, lake_uri, RECOMMENDATIONS, as_of)
    _write_from_driver(POPULAR_PRODUCTS_SCHEMA.empty_table(), lake_uri, POPULAR_PRODUCTS, as_of)
    lap("write")
    nothing = {"customers": 0, "fallback_customers": 0, "rows": 0, "products": 0}
    return {**nothing, "metrics": _reported(metric_rows), "timings": lap.timings}


def _eval_ks(spec: AlsSpec) -> list[int]:
    return sorted({*EVAL_KS, spec.eval_k})


def _write_metrics(
    metrics: list[dict[str, object]], lake_uri: str, as_of: date, spec: AlsSpec
) -> list[dict[str, object]]:
    """The evaluation's rows with the holdout and the parameters it ran with, written; returned."""
    train_end, holdout_start = holdout_window(as_of, spec.holdout_days)
    extra = {
        "train_end_date": train_end, "holdout_start_date": holdout_start, "holdout_end_date": as_of,
        "rank": spec.rank, "max_iter": spec.max_iter, "reg_param": spec.reg_param, "alpha": spec.alpha,
        "exclude_purchased": spec.exclude_purchased, "as_of_date": as_of,
    }  # fmt: skip
    metric_rows = [{**row, **extra} for row in metrics]
    _write_from_driver(metric_rows, lake_uri, RECOMMENDATION_METRICS, as_of)
    return metric_rows


def _reported(metric_rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """The metrics as the stage reports them: without the holdout and the parameters."""
    keys = ("model", "k", "precision_at_k", "recall_at_k", "ndcg_at_k", "coverage", "users")
    return [{k: v for k, v in row.items() if k in keys} for row in metric_rows]


# -- warm-up ---------------------------------------------------------------------------------------

_WARM_UP_DAYS = 30


def _tiny_export(lake: Path, buckets: Buckets) -> date:
    """A made-up export of fct_sales with a few sales; its last date.

    In the export's columns and bucketed as the warehouse writes the real one, so the jobs plan the
    same queries."""
    import pyarrow.compute as pc

    first = date(2018, 1, 1)
    ids = np.arange(1, 4 * _WARM_UP_DAYS + 1)
    days = [first + timedelta(days=int(i) % _WARM_UP_DAYS) for i in ids]
    table = pa.table(
        {
            "customer_id": ids % 7 + 1,
            "product_id": ids % 5 + 1,
            "sales_date": pa.array(days, pa.date32()),
            "net_revenue": (ids % 4 + 1) * 2.5,
            # Most lines are orders of their own; some belong to transactions of several lines.
            "multi_line_transaction": [f"T{i // 2}" if i % 7 == 0 else None for i in ids],
        }
    ).select(list(EXPORT_COLUMNS))
    folder = lake / EXPORT_DIR
    folder.mkdir(parents=True)
    bucket = buckets.of(table.column(buckets.column).to_numpy())
    for b in np.unique(bucket):
        pq.write_table(table.filter(pc.equal(pa.array(bucket), b)), folder / buckets.file_name(int(b)))
    return max(days)


def warm_up(spark: SparkSession, job: str) -> None:
    """Run a job ("segment" or "recommend") once on a made-up lake of a few sales, in a temporary folder.

    A JVM's first queries are slow: Spark loads and compiles its code as it goes, and recommend's
    first task starts the Python workers. In a local run of several stages, the preload of a Spark
    stage does that here, while the stages before it run (`grocery.stages.preload`); the job then
    starts warm. Its Spark jobs carry the group WARM_UP_GROUP."""
    import tempfile

    group = WARM_UP_GROUP.format(job=job)
    spark.sparkContext.setJobGroup(group, f"{job} on made-up sales, before the stage")
    buckets = export_buckets()
    with tempfile.TemporaryDirectory(prefix="grocery-warm-up-") as tmp:
        as_of = _tiny_export(Path(tmp), buckets)
        lake_uri = local_uri(tmp)
        try:
            if job == "segment":
                segment_job(spark, lake_uri, as_of, RfmSpec(), buckets=buckets)
            elif job == "recommend":
                recommend_job(spark, lake_uri, as_of, AlsSpec(max_iter=1, holdout_days=7), buckets=buckets)
            else:
                raise ValueError(f"no Spark job {job!r}")
        finally:
            # A cancelled warm-up (`claim_session`) ends before its tasks do: they go on to undo their
            # writes and cached blocks in the folder and the table about to be removed.
            wait_for_tasks(spark, group)
            spark.sql(f"drop table if exists {_export_table(lake_uri, buckets)}")
