"""A run triggered with no logical date (the operator's run-now, the only runs of a pipeline without a
schedule): Airflow 3 gives its tasks no `ds`, and every stage still gets the day it processes.

The DAG runs with `dag.test(logical_date=None)`, as Airflow creates the run the operator asks for
(`POST /dagRuns` with `"logical_date": null`), so the templates are rendered by Airflow's own task
runner. The first Spark stage runs for real against a fake Livy on 127.0.0.1, which records the
batch it is sent; the stages before it are marked done without running (they need a cluster).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

pytest.importorskip("airflow", reason="the airflow extra is not installed (scripts/setup.d/30-airflow.sh)")

from grocery import stages as registry
from grocery.airflow import dag_from_file
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
        (f"shop-adhoc-{name}-{day:%Y%m%d}-{run_digest(run.run_id)}-try1", ["--date", day.isoformat()])
        for name in spark
    ]
