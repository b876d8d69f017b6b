"""The `segment` stage: RFM scores and named segments for every customer, with Spark.

Run by `grocery segment` (or `grocery run`) in local mode, in this process; on a cluster the same
stage runs in the driver of `spark-submit spark_apps/segment.py --date D`. Exports core.fct_sales to the
lake first when the lake does not hold the warehouse's current state of it, then writes
`analytics/customer_rfm/run_date=D/`, D being the interval's end or the last exported sales date.
Recency is measured from D, never from the wall clock; only sales up to D count. A fact without rows
(no dated sale) scores no one, without Spark: the table is written empty, and publish reports every
customer as 'No purchases'.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from grocery.context import Context
from grocery.progress import Stopwatch
from grocery.spark.export import NO_SALES, ensure_export, fact_state, has_sales, marker_buckets, run_date
from grocery.spark.session import warm_up_work
from grocery.stages import StageResult


def preload(ctx: Context) -> Callable[[], None]:
    """Before this stage in a local run of several stages: start Spark and warm it up."""
    return warm_up_work("segment")


def run(ctx: Context) -> StageResult:
    from grocery.spark.session import claim_session, start_session

    lap = Stopwatch()
    state = fact_state(ctx)
    if not has_sales(state):
        claim_session()  # no job to warm Spark up for: a later stage's warm-up is skipped too
        return _nothing_to_score(ctx, ensure_export(ctx, state))
    session = start_session("grocery-segment")  # the JVM starts while the fact is exported
    marker = ensure_export(ctx, state)
    lap("export")
    as_of = run_date(ctx, marker)
    with ctx.progress.step(f"scoring customers as of {as_of} (Spark)"):
        spark = session.result()
        from grocery.spark import jobs  # after the start: one thread alone imports pyspark

        claim_session()  # no warm-up beside the stage's own job
        lap("session")  # what the JVM's start took beyond the export
        result = jobs.segment_job(
            spark, ctx.lake.uri(), as_of, ctx.spec.models.rfm, buckets=marker_buckets(marker)
        )
    result["timings"] = {**lap.timings, **result["timings"]}
    return StageResult(
        summary(result["customers"], result["segments"], as_of), {"run_date": as_of.isoformat(), **result}
    )


def _nothing_to_score(ctx: Context, marker: dict) -> StageResult:
    """The stage over a fact without rows: customer_rfm written empty, no Spark started."""
    from grocery.spark import jobs
    from grocery.spark.rfm import NO_PURCHASES

    as_of = run_date(ctx, marker)
    result = jobs.segment_nothing(ctx.lake.uri(), as_of, ctx.spec.models.rfm)
    return StageResult(
        f"{NO_SALES}: no customer to score as of {as_of}; publish reports every customer as '{NO_PURCHASES}'",
        {"run_date": as_of.isoformat(), **result},
    )


def summary(customers: int, segments: dict[str, int], as_of: date) -> str:
    """The stage's line: the customers, and the three largest segments (`segments` is largest first)."""
    top = [f"{name} {count:,}" for name, count in segments.items()]
    shown = ", ".join(top[:3] + ["..."] * (len(top) > 3))
    named = f"{len(segments)} segment{'s' * (len(segments) != 1)}"
    return f"{customers:,} customers in {named} as of {as_of} ({shown})"
