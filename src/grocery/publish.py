"""The `publish` stage, warehouse part: load the Spark outputs into `analytics`, build their marts.

For run date D (the interval's end, else the last exported sales date), every
`analytics/<table>/run_date=D/` written by `segment` and `recommend` replaces `analytics.<table>`
(customer_rfm, recommendations, popular_products, recommendation_metrics); then
`dbt build --selector analytics` builds and tests the marts over them (mart_customer_segments,
mart_segment_summary, mart_recommend). The dashboard part of the stage is added by the dashboard's
own module.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from grocery.context import Context
from grocery.errors import StageError
from grocery.spark.export import read_marker
from grocery.stages import StageResult

ANALYTICS_TABLES = ("customer_rfm", "recommendations", "popular_products", "recommendation_metrics")
DBT_SELECTOR = "analytics"


def _run_date(ctx: Context):
    from datetime import date

    if ctx.interval.end is not None:
        return ctx.interval.end
    marker = read_marker(ctx)
    if marker is None:
        raise StageError(
            f"no export of fct_sales in {ctx.lake.uri()}",
            hint="run `grocery segment` and `grocery recommend` first",
        )
    return date.fromisoformat(marker["state"]["last_sales_date"])


def load_analytics(ctx: Context) -> dict[str, int]:
    """Replace each analytics table with its run's Parquet files; returns the rows of each."""
    day = _run_date(ctx)
    folders = {t: f"analytics/{t}/run_date={day.isoformat()}" for t in ANALYTICS_TABLES}
    missing = [t for t, folder in folders.items() if not ctx.lake.files(folder, ".parquet")]
    if missing:
        raise StageError(
            f"no Spark output for run_date={day}: {', '.join(missing)}",
            hint="run `grocery segment` and `grocery recommend` for the same interval first",
        )
    counts = {}
    for table, folder in folders.items():
        ctx.warehouse.load_table("analytics", table, ctx.lake.uri(f"{folder}/*.parquet"))
        counts[table] = ctx.warehouse.count("analytics", table)
    return counts


def build_marts(ctx: Context) -> dict[str, int]:
    """`dbt build --selector analytics`, with the transform stage's dbt plumbing; StageError on failure."""
    from dbt.cli.main import dbtRunner

    from grocery import transform

    target, env = ctx.warehouse.dbt_target()
    ctx.close()  # dbt opens the warehouse itself
    work = (Path(ctx.home) / "dbt").resolve()
    log_level = os.environ.get(transform.LOG_LEVEL_ENV, "none")
    args = transform.build_args(
        target, ctx.interval, transform.project_dir(), work, log_level, unit_tests=True
    )
    args += ["--selector", DBT_SELECTOR]
    with transform._environment({**env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}):
        try:
            outcome = dbtRunner(callbacks=[transform._progress_callback(ctx)]).invoke(args)
        finally:
            transform._release_duckdb()
    if outcome.result is None or not hasattr(outcome.result, "results"):
        raise StageError(
            f"dbt build of the analytics marts failed before running anything: {transform._one_line(outcome.exception)}",
            hint=f"see {work / 'logs' / 'dbt.log'}",
        )
    results = outcome.result.results
    failed = [r for r in results if transform._status(r) in transform._FAILED]
    if failed or not outcome.success:
        named = "; ".join(transform._describe_failure(r) for r in failed[:5]) or transform._one_line(
            outcome.exception
        )
        raise StageError(
            f"dbt build of the analytics marts failed: {named}", hint=f"see {work / 'logs' / 'dbt.log'}"
        )

    def count(kind: str) -> int:
        return sum(1 for r in results if str(getattr(r.node.resource_type, "value", "")) == kind)

    return {"models": count("model"), "tests": count("test"), "unit_tests": count("unit_test")}


def run(ctx: Context) -> StageResult:
    started = time.perf_counter()
    with ctx.progress.step("loading the Spark outputs into analytics"):
        counts = load_analytics(ctx)
    built = build_marts(ctx)
    segments = ctx.warehouse.count("marts", "mart_customer_segments")
    ctx.close()
    return StageResult(
        f"loaded {len(counts)} analytics tables ({counts['recommendations']:,} recommendations); "
        f"dbt built {built['models']} marts, {built['tests'] + built['unit_tests']} tests passed; "
        f"{segments:,} customers segmented",
        {"analytics_rows": counts, **built, "seconds": round(time.perf_counter() - started, 2)},
    )
