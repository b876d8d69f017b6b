"""The `publish` stage, warehouse part: load the Spark outputs into `analytics`, build their marts.

For run date D (the interval's end, else the export's: `grocery.spark.export.run_date`), every
`analytics/<table>/run_date=D/` written by `segment` and `recommend` replaces `analytics.<table>`
(customer_rfm, recommendations, popular_products, recommendation_metrics); then
`dbt build --selector analytics` builds and tests the marts over them (mart_customer_segments,
mart_segment_summary, mart_recommend). The dashboard part of the stage is added by the dashboard's
own module.
"""

from __future__ import annotations

from grocery.context import Context
from grocery.errors import StageError
from grocery.spark.export import read_marker, run_date
from grocery.stages import StageResult

ANALYTICS_TABLES = ("customer_rfm", "recommendations", "popular_products", "recommendation_metrics")
DBT_SELECTOR = "analytics"


def _run_date(ctx: Context):
    """The run date the Spark stages wrote their outputs under, as they chose it."""
    marker = read_marker(ctx)
    if marker is None and ctx.interval.end is None:
        raise StageError(
            f"no export of fct_sales in {ctx.lake.uri()}",
            hint="run `grocery segment` and `grocery recommend` first",
        )
    return run_date(ctx, marker)


def load_analytics(ctx: Context) -> dict[str, int]:
    """Replace each analytics table with its run's Parquet files; returns the rows of each."""
    day = _run_date(ctx)
    folders = {t: f"analytics/{t}/run_date={day.isoformat()}" for t in ANALYTICS_TABLES}
    # The files a reader of `folder/*.parquet` reads: not those of a write in progress (Spark's
    # _temporary/), nor hidden ones.
    missing = [
        t
        for t, folder in folders.items()
        if not any(n.endswith(".parquet") and not n.startswith(("_", ".")) for n in ctx.lake.listdir(folder))
    ]
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
    """`dbt build --selector analytics` (unit tests included) through the transform stage's runner."""
    from grocery import transform

    done = transform.dbt_build(
        ctx,
        extra_args=["--selector", DBT_SELECTOR],
        unit_tests=True,
        label="dbt build of the analytics marts",
    )
    return {"models": done.models, "tests": done.tests, "unit_tests": done.unit_tests}


def segmented_customers(ctx: Context) -> dict[str, int]:
    """The customers in the segments mart, and those among them the Spark job had no sale of.

    The segment stage counts the customers of the exported fact; the mart holds every customer of
    dim_customers, so the two counts differ by the customers who never bought anything dated.
    """
    relation = ctx.warehouse.relation("marts", "mart_customer_segments")
    (row,) = ctx.warehouse.query(
        "select count(*) as customers, "
        "coalesce(sum(case when has_purchase then 0 else 1 end), 0) as no_purchase "
        f"from {relation}"
    )
    return {key: int(value) for key, value in row.items()}


def run(ctx: Context) -> StageResult:
    with ctx.progress.step("loading the Spark outputs into analytics"):
        counts = load_analytics(ctx)
    built = build_marts(ctx)
    customers = segmented_customers(ctx)
    ctx.close()
    return StageResult(
        f"loaded {len(counts)} analytics tables ({counts['recommendations']:,} recommendations); "
        f"dbt built {built['models']} marts, {built['tests'] + built['unit_tests']} tests passed; "
        f"{customers['customers']:,} customers in mart_customer_segments, "
        f"{customers['no_purchase']:,} of them with no dated purchase",
        {"analytics_rows": counts, **built, "segmented": customers},
    )
