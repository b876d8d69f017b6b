"""dbt's `bigquery` target on bqemulator: the same project, models and tests as on DuckDB.

The pipeline runs of runs.py built both warehouses with `dbt build` (the transform stage, then the
publish stage's analytics marts), the emulator's endpoint reaching dbt's profile only through
`GROCERY_BQ_API_ENDPOINT`. The incremental behaviour of `fct_sales` on both targets is proven by the
last test of test_pipeline_on_emulators.py, which changes the runs.
"""

from __future__ import annotations

from typing import Any

from grocery import transform

from .runs import CloudRun, EmbeddedRun, registered


def dbt_unit_tests(ctx) -> tuple[int, list[str]]:
    """`dbt test --select test_type:unit` (the build command's options) on a context's warehouse: (unit tests run, names of the failed)."""
    from dbt.cli.main import dbtRunner

    target, env = ctx.warehouse.dbt_target()
    ctx.close()
    work = (ctx.home / "dbt").resolve()
    args = transform.build_args(target, transform.project_dir(), work, "none", unit_tests=True)
    with transform._environment(
        {**env, **transform.interval_env(ctx.interval), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    ):
        try:
            outcome = dbtRunner().invoke(["test", *args[1:], "--select", "test_type:unit"])
        finally:
            transform._release_duckdb()
    results: list[Any] = outcome.result.results if outcome.result is not None else []
    failed = [r.node.name for r in results if transform._status(r) in transform._FAILED]
    return len(results), failed


def test_dbt_build_passes_with_the_same_models_and_tests_as_duckdb(
    cloud_run: CloudRun, embedded_run: EmbeddedRun
) -> None:
    stages = ["transform", *(["publish"] if registered("publish") else [])]
    for stage in stages:
        for key in ("models", "tests", "unit_tests"):
            assert cloud_run.results[stage][key] == embedded_run.results[stage][key], (stage, key)
    assert cloud_run.results["transform"]["models"] > 10 and cloud_run.results["transform"]["tests"] > 20
    assert (
        cloud_run.results["transform"]["fct_sales_rows"]
        == embedded_run.results["transform"]["fct_sales_rows"]
    )


def test_every_dbt_unit_test_passes_on_the_bigquery_target(
    cloud_env: CloudRun, embedded_run: EmbeddedRun
) -> None:
    from grocery.config import PipelineSpec
    from grocery.context import Context

    ran, failed = dbt_unit_tests(cloud_env.context())
    assert failed == []
    local = Context(spec=PipelineSpec.model_validate({}), home=embedded_run.home)
    assert ran == dbt_unit_tests(local)[0] > 0


def test_fct_sales_is_partitioned_by_sales_date_and_clustered_by_customer_id(cloud_run: CloudRun) -> None:
    with cloud_run.warehouse() as wh:
        table = wh.client.get_table(wh.table_id("core", "fct_sales"), retry=wh.retry)
    assert table.time_partitioning.field == "sales_date"
    assert table.time_partitioning.type_ == "DAY"
    # bqemulator drops clustering on CREATE TABLE AS (a known gap), so the DDL dbt sent is checked too.
    sql = cloud_run.home / "dbt" / "target" / "run" / "grocery" / "models" / "core" / "fct_sales.sql"
    ddl = " ".join(sql.read_text().lower().split())
    assert "partition by sales_date" in ddl
    assert "cluster by customer_id" in ddl
    if table.clustering_fields:  # the day the emulator keeps it
        assert table.clustering_fields == ["customer_id"]
