"""Which days a run's stages get, rendered by Airflow's own task runner (`dag.test()`).

A scheduled run processes the days of its data interval (one cron period); a run triggered for a
logical date, that date's day; a run triggered with no logical date (the operator's run-now, the only
runs of a pipeline without a schedule), which Airflow gives no `ds`, the last day over when it was due.

The DAG runs with `dag.test()`: with `logical_date=None` as Airflow creates the run the operator asks
for (`POST /dagRuns` with `"logical_date": null`), and with the logical date and data interval that
the DAG's timetable gives a scheduled run. The Spark stages run for real against a fake Livy on
127.0.0.1, which records the batches it is sent; the other stages are marked done without running
(they need a cluster).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pendulum
import pytest

pytest.importorskip("airflow", reason="the airflow extra is not installed (scripts/setup.d/30-airflow.sh)")

from grocery import stages as registry
from grocery.airflow import build_dag, dag_from_file
from grocery.airflow.factory import LIVY_CONN_ID
from grocery.airflow.manifests import run_digest


class _FakeLivy(BaseHTTPRequestHandler):
    """Livy's batch API, as LivyOperator uses it: every batch is accepted and has succeeded at once."""

    batches: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        assert self.path == "/batches", self.path
        self.batches.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self._reply(201, {"id": len(self.batches) - 1, "state": "starting"})

    def do_GET(self) -> None:
        batch = int(self.path.split("/")[2])
        if self.path.endswith("/state"):
            self._reply(200, {"id": batch, "state": "success"})
        elif "/log" in self.path:
            self._reply(200, {"id": batch, "from": 0, "total": 0, "log": []})
        else:
            self._reply(200, {"id": batch, "appId": f"spark-{batch}", "state": "success"})

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def livy(monkeypatch) -> Iterator[list[dict[str, Any]]]:
    """A fake Livy that Airflow's `livy_default` connection points at; yields the batches it received."""
    _FakeLivy.batches = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeLivy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(f"AIRFLOW_CONN_{LIVY_CONN_ID.upper()}", f"http://127.0.0.1:{server.server_port}")
    try:
        yield _FakeLivy.batches
    finally:
        server.shutdown()
        server.server_close()


def test_a_run_with_no_logical_date_processes_the_last_day_over_when_it_was_due(
    airflow_db, dags_folder, write_pipeline, livy
):
    spark = [s.name for s in registry.STAGES if s.engine == "spark"]
    if not spark:
        pytest.skip("the registry has no Spark stage")
    spec = {
        "schedule": None,
        "lake": "gs://shop-lake/adhoc",
        "warehouse": {"kind": "bigquery", "project": "shop"},
        "execution": {"mode": "kubernetes", "retries": 0},
        "spark": {"submitter": "livy"},
    }
    dag = dag_from_file(write_pipeline(dags_folder, "adhoc", spec, namespace="shop"))
    pods = [name for name in registry.stage_names() if name not in spark]

    run = dag.test(logical_date=None, mark_success_pattern="^(" + "|".join(pods) + ")$")

    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert run.logical_date is None
    assert str(run.state) == "success", states
    day = (run.run_after - timedelta(days=1)).date()
    assert [(b["name"], b["args"]) for b in livy] == [
        (f"shop-adhoc-{name}-{day:%Y%m%d}-{run_digest(run.run_id)}-try1", _days(day, day)) for name in spark
    ]


def _days(start: date, end: date) -> list[str]:
    return ["--start", start.isoformat(), "--end", end.isoformat()]


def _spark_stages() -> list[str]:
    spark = [s.name for s in registry.STAGES if s.engine == "spark"]
    if not spark:
        pytest.skip("the registry has no Spark stage")
    return spark


def _run(dag, spark: list[str], **when: Any):
    """dag.test() with the stages that are not Spark's marked done; the run must succeed."""
    pods = [name for name in registry.stage_names() if name not in spark]
    run = dag.test(mark_success_pattern="^(" + "|".join(pods) + ")$", **when)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert str(run.state) == "success", states
    return run


CLUSTER = {
    "lake": "gs://shop-lake/weekly",
    "warehouse": {"kind": "bigquery", "project": "shop"},
    "execution": {"mode": "kubernetes", "retries": 0},
    "spark": {"submitter": "livy"},
}


@pytest.mark.parametrize(
    ("schedule", "first", "days"),
    [
        ("@daily", datetime(2018, 1, 10, tzinfo=UTC), (date(2018, 1, 10), date(2018, 1, 10))),
        ("@weekly", datetime(2018, 1, 10, tzinfo=UTC), (date(2018, 1, 14), date(2018, 1, 20))),
        ("@monthly", datetime(2018, 1, 10, tzinfo=UTC), (date(2018, 2, 1), date(2018, 2, 28))),
        # An interval within a day: its run processes the day it is in, the last hour's run included.
        ("@hourly", datetime(2018, 1, 10, 23, 30, tzinfo=UTC), (date(2018, 1, 11), date(2018, 1, 11))),
        ("@hourly", datetime(2018, 1, 10, 23, tzinfo=UTC), (date(2018, 1, 10), date(2018, 1, 10))),
    ],
)
def test_a_scheduled_run_processes_every_day_of_its_data_interval(
    airflow_db, dags_folder, write_pipeline, livy, monkeypatch, schedule, first, days
):
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction
    from airflow.timetables.interval import CronDataIntervalTimetable

    spark = _spark_stages()
    spec = {**CLUSTER, "schedule": schedule, "startDate": f"{first:%Y-%m-%d}", "catchup": True}
    name = f"{schedule[1:]}-from-{first:%d-%H}"  # a DAG of its own: dag.test() names a run by its run_after
    dag = dag_from_file(write_pipeline(dags_folder, name, spec, namespace="shop"))
    # The first run the scheduler makes from `first` on, as the DAG's own timetable gives it.
    timetable = coerce_to_core_timetable(dag.timetable)
    scheduled = timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=pendulum.instance(first), latest=None, catchup=True),
    )
    # dag.test() makes a manual run, whose interval Airflow infers; here it gets the scheduled one.
    monkeypatch.setattr(
        CronDataIntervalTimetable,
        "infer_manual_data_interval",
        lambda self, run_after: scheduled.data_interval,
    )

    run = _run(dag, spark, logical_date=scheduled.logical_date, run_after=scheduled.run_after)

    assert (run.data_interval_start, run.data_interval_end) == tuple(scheduled.data_interval)
    assert [b["args"] for b in livy] == [_days(*days)] * len(spark)


def test_consecutive_scheduled_runs_process_every_day_once():
    """Across runs, no day is left out and none is processed twice, whatever the time of day the
    intervals start at (a cron at 03:00 covers the day before it)."""
    from airflow.sdk.execution_time.context import MacrosAccessor
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    from grocery.config import NamedPipeline, parse_spec

    for schedule in (
        "@daily",
        "@weekly",
        "@monthly",
        "0 0 1,15 * *",
        "0 3 * * *",
        "0 12 * * 1",
        "30 1 1 * *",
    ):
        spec = parse_spec({**CLUSTER, "schedule": schedule, "startDate": "2018-01-01", "catchup": True})
        dag = build_dag(NamedPipeline(name="periodic", namespace="shop", spec=spec))
        task, timetable = dag.get_task("extract"), coerce_to_core_timetable(dag.timetable)
        restriction = TimeRestriction(earliest=dag.start_date, latest=None, catchup=True)
        processed, last = [], None
        while not processed or processed[-1] < date(2018, 6, 30):
            info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
            last = info.data_interval
            # The keys Airflow's task runner gives a run that has a logical date.
            context = {
                "ds": info.logical_date.strftime("%Y-%m-%d"),
                "logical_date": info.logical_date,
                "data_interval_start": last.start,
                "data_interval_end": last.end,
                "macros": MacrosAccessor(),
            }
            args = task.render_template(task.arguments, context)
            assert [args[0], args[1], args[3]] == ["extract", "--start", "--end"]
            start, end = date.fromisoformat(args[2]), date.fromisoformat(args[4])
            processed += [start + timedelta(days=i) for i in range((end - start).days + 1)]
        expected = [processed[0] + timedelta(days=i) for i in range(len(processed))]
        assert processed == expected, schedule


def test_a_run_for_a_logical_date_processes_that_day(airflow_db, dags_folder, write_pipeline, livy):
    """A manual run for a date: Airflow gives it the period before the date as its interval (on
    @weekly, the week before), and the run processes the date asked for."""
    spark = _spark_stages()
    spec = {**CLUSTER, "schedule": "@weekly"}
    dag = dag_from_file(write_pipeline(dags_folder, "manual", spec, namespace="shop"))

    run = _run(dag, spark, logical_date=pendulum.datetime(2018, 1, 10, tz="UTC"))

    assert run.data_interval_end <= run.logical_date
    assert [b["args"] for b in livy] == [_days(date(2018, 1, 10), date(2018, 1, 10))] * len(spark)
