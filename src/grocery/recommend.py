"""The `recommend` stage: ALS recommendations for every customer, evaluated against popularity.

Run by `grocery recommend` (or `grocery run`) in local mode, in this process; on a cluster the same
stage runs in the driver of `spark-submit spark_apps/recommend.py --date D`. Reads the export of
core.fct_sales (made by `segment`, or here when missing or stale) and writes, for run date D:
- `analytics/recommendation_metrics/run_date=D/`: precision@K, recall@K, NDCG@K and coverage of ALS
  and of the popularity baseline, both trained before the last `holdoutDays` and scored on them;
- `analytics/recommendations/run_date=D/`: the top-N of a model trained on everything up to D
  (customers it cannot score get popular products, with is_fallback);
- `analytics/popular_products/run_date=D/`: the popularity ranking.
Parameters come from `spec.models.als`. A fact without rows (no dated sale) has nothing to learn from,
recommend or evaluate: without Spark, the stage writes the recommendations and the ranking empty and
the evaluation over no one (users 0).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from grocery.config import AlsSpec
from grocery.context import Context
from grocery.progress import Stopwatch
from grocery.spark.evaluate import holdout_window
from grocery.spark.export import NO_SALES, ensure_export, fact_state, has_sales, marker_buckets, run_date
from grocery.spark.session import warm_up_work
from grocery.stages import StageResult


def preload(ctx: Context) -> Callable[[], None]:
    """Before this stage in a local run of several stages: start Spark and warm it up."""
    return warm_up_work("recommend")


def run(ctx: Context) -> StageResult:
    from grocery.spark.session import claim_session, start_session

    lap = Stopwatch()
    spec = ctx.spec.models.als
    state = fact_state(ctx)
    if not has_sales(state):
        claim_session()  # no job to warm Spark up for: a later stage's warm-up is skipped too
        return _nothing_to_learn(ctx, ensure_export(ctx, state), spec)
    session = start_session("grocery-recommend")  # the JVM starts while the fact is exported
    marker = ensure_export(ctx, state)
    lap("export")
    as_of = run_date(ctx, marker)
    with ctx.progress.step(f"ALS rank {spec.rank}, {spec.max_iter} iterations, as of {as_of} (Spark)"):
        spark = session.result()
        from grocery.spark import jobs  # after the start: one thread alone imports pyspark

        claim_session()  # no warm-up beside the stage's own job
        lap("session")  # what the JVM's start took beyond the export
        result = jobs.recommend_job(spark, ctx.lake.uri(), as_of, spec, buckets=marker_buckets(marker))
    result["timings"] = {**lap.timings, **result["timings"]}
    return StageResult(
        f"top {spec.top_n} for {result['customers']:,} customers ({result['fallback_customers']:,} popular fallback); "
        f"{evaluation_summary(result['metrics'], spec, as_of)}",
        {"run_date": as_of.isoformat(), **result},
    )


def _nothing_to_learn(ctx: Context, marker: dict, spec: AlsSpec) -> StageResult:
    """The stage over a fact without rows: empty outputs, an evaluation over no one, no Spark started."""
    from grocery.spark import jobs

    as_of = run_date(ctx, marker)
    result = jobs.recommend_nothing(ctx.lake.uri(), as_of, spec)
    return StageResult(
        f"{NO_SALES}: nothing to learn from, recommend or evaluate as of {as_of}",
        {"run_date": as_of.isoformat(), **result},
    )


def evaluation_summary(metrics: list[dict], spec: AlsSpec, as_of: date) -> str:
    """The holdout evaluation in a few words: precision@K of both models, or why there is none."""
    at_k = {m["model"]: m for m in metrics if m["k"] == spec.eval_k}
    als, pop = at_k["als"]["precision_at_k"], at_k["popularity"]["precision_at_k"]
    if at_k["als"]["users"]:
        lift = f"{als / pop:.2f}x" if pop else "n/a"
        return f"precision@{spec.eval_k} ALS {als:.4f} vs popularity {pop:.4f} ({lift})"
    # The metrics are 0 over no one: say so, not "precision 0".
    train_end, holdout_start = holdout_window(as_of, spec.holdout_days)
    # With excludePurchased, only a product new to the customer counts in the holdout.
    bought = "a product new to them" if spec.exclude_purchased else "anything"
    return (
        f"not evaluated: no customer bought both up to {train_end} and, in the holdout "
        f"{holdout_start}..{as_of} (the last {spec.holdout_days} days), {bought}"
    )
