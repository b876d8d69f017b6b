"""Local mode end to end: `dag.test()` runs the registered stages with the real `grocery` CLI.

A backfill of 2018-01-02..04 over generated data at scale 0.01, then one day again. Each run's stages
extract that day's sales from the generator, load them and build the warehouse, exactly as
`grocery <stage> --date D` does on a laptop. The first day runs every stage; the other runs mark the
stages from the first Spark stage on as done without running them: each Spark stage starts its own
JVM and takes a minute or more on a 2-core machine, and what the backfill proves (one partition per
day, a re-run changes nothing) is decided by the stages that write the warehouse.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

pytest.importorskip("airflow", reason="the airflow extra is not installed (scripts/setup.d/30-airflow.sh)")

import duckdb
import pendulum

from grocery import stages as registry
from grocery.airflow import dag_from_file

DAYS = [date(2018, 1, 2), date(2018, 1, 3), date(2018, 1, 4)]
SPEC = {
    "source": {"kind": "generator", "scale": 0.01, "seed": 7},
    "schedule": "@daily",
    "startDate": "2018-01-01",
    "catchup": True,
    "execution": {"mode": "local", "retries": 0, "timeoutMinutes": 20},
}


pytestmark = pytest.mark.slow


def _from_first_spark_stage() -> str | None:
    """A task-id pattern of the stages from the first Spark stage on (None when there is none)."""
    names = registry.stage_names()
    first = next((i for i, s in enumerate(registry.STAGES) if s.engine == "spark"), None)
    return None if first is None else "^(" + "|".join(names[first:]) + ")$"


def _run(dag, day: date, every_stage: bool = False):
    """One run of the DAG for day D (its logical date, so {{ ds }} = D), as the scheduler makes it."""
    return dag.test(
        logical_date=pendulum.datetime(day.year, day.month, day.day, tz="UTC"),
        mark_success_pattern=None if every_stage else _from_first_spark_stage(),
    )


def _fingerprint(warehouse: Path) -> dict[str, tuple]:
    """What the stages wrote: every table's row count and a hash of its rows, every column included
    (views are derived, so left out). Exact for floats too: the marts round money to a millionth
    (dbt/macros/money.sql), so a total recomputed in another order is the same total."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns = con.execute(
            "select c.table_schema, c.table_name, c.column_name "
            "from information_schema.columns c join information_schema.tables t "
            "using (table_catalog, table_schema, table_name) "
            "where t.table_type = 'BASE TABLE' "
            "and c.table_schema in ('raw', 'quarantine', 'core', 'marts', 'analytics') "
            "order by c.table_schema, c.table_name, c.ordinal_position"
        ).fetchall()
        tables: dict[str, list[str]] = {}
        for schema, name, column in columns:
            tables.setdefault(f'{schema}."{name}"', []).append('"' + column + '"')
        return {
            table: con.execute(f"select count(*), sum(hash({', '.join(names)})) from {table}").fetchone()
            for table, names in tables.items()
        }


@pytest.fixture(scope="module")
def backfill(airflow_db, dags_folder, write_pipeline, tmp_path_factory):
    """The pipeline's DAG run for three consecutive days; yields (dag, runs, warehouse)."""
    home = tmp_path_factory.mktemp("grocery-home")
    saved = os.environ.get("GROCERY_HOME")
    os.environ["GROCERY_HOME"] = str(home)  # the stages' --home, read by the task's shell
    try:
        dag = dag_from_file(write_pipeline(dags_folder, "backfill", SPEC))
        runs = [_run(dag, day, every_stage=(day == DAYS[0])) for day in DAYS]
        yield dag, runs, home / "default__backfill" / "warehouse.duckdb"  # the pipeline's own folder
    finally:
        if saved is None:
            os.environ.pop("GROCERY_HOME", None)
        else:
            os.environ["GROCERY_HOME"] = saved


def _states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def test_dag_test_runs_every_stage_of_the_pipeline_end_to_end(backfill):
    _, runs, warehouse = backfill
    first = runs[0]
    assert str(first.state) == "success", _states(first)
    assert _states(first) == {name: "success" for name in registry.stage_names()}
    assert first.logical_date.date() == DAYS[0]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        sales = con.execute("select count(*) from raw.sales where ingest_date = ?", [DAYS[0]]).fetchone()[0]
        assert sales > 100
        if "transform" in registry.stage_names():
            facts = con.execute(
                "select count(*) from core.fct_sales where sales_date = ?", [DAYS[0]]
            ).fetchone()[0]
            assert 0 < facts <= sales
            assert con.execute("select count(*) from marts.mart_sales_summary").fetchone()[0] > 0


def test_a_backfill_over_three_days_leaves_exactly_three_daily_partitions(backfill):
    _, runs, warehouse = backfill
    assert [str(r.state) for r in runs] == ["success"] * 3, [_states(r) for r in runs]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        partitions = con.execute(
            "select ingest_date, count(*), count(distinct SalesID) from raw.sales group by 1 order by 1"
        ).fetchall()
        assert [p[0] for p in partitions] == DAYS
        for _, rows, distinct_ids in partitions:
            assert rows == distinct_ids > 100  # no duplicates within or across days
        assert con.execute("select count(distinct SalesID) from raw.sales").fetchone()[0] == sum(
            p[1] for p in partitions
        )
        if "transform" in registry.stage_names():
            days = con.execute("select distinct sales_date from core.fct_sales order by 1").fetchall()
            assert [d[0] for d in days] == DAYS


def test_running_a_day_again_changes_nothing(backfill):
    dag, _, warehouse = backfill
    before = _fingerprint(warehouse)
    again = _run(dag, DAYS[1])
    assert str(again.state) == "success", _states(again)
    after = _fingerprint(warehouse)
    assert {t: v for t, v in after.items() if after[t] != before.get(t)} == {}
