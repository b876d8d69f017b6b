"""A fake Airflow 3 REST API on 127.0.0.1 (a random port) for the operator's tests.

It keeps state the way Airflow does and answers in Airflow 3's shapes, for the endpoints the operator
uses:

    POST  /auth/token                                          {"username", "password"} -> 201 {"access_token"}
    GET   /api/v2/dags/{dag_id}                                 the DAG, 404 when not loaded
    PATCH /api/v2/dags/{dag_id}                                 {"is_paused": bool}
    DELETE /api/v2/dags/{dag_id}                                204; 409 while a task instance runs
    PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id}                {"state", "note"}: "failed" fails running tasks
    POST  /api/v2/dags/{dag_id}/dagRuns                         trigger; 409 when the dag_run_id exists
    GET   /api/v2/dags/{dag_id}/dagRuns                         ?limit&offset&order_by&state
    GET   /api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances
    GET   /api/v2/importErrors                                  ?filename_pattern (a substring)&limit

Every /api/v2 call needs `Authorization: Bearer <token from /auth/token>`, else 401; the trigger body
is checked like Airflow's (unknown keys and a missing `logical_date` are a 422).

    with FakeAirflow(users={"admin": "secret"}) as airflow:
        airflow.load_dag("grocery__default__nightly")       # what the DAG processor does, paused like Airflow
        airflow.import_errors["dags/default__x.py"] = trace  # a DAG file the processor could not import
        airflow.finish_run(dag_id, run_id, "failed", {"extract": "success", "load": "failed"})
        airflow.down(); airflow.up()                        # connections refused, then served again (same port)
        airflow.failing = 500                               # every /api/v2 call answers 500
        airflow.forbidden.add("/api/v2/importErrors")       # a role without that permission: 403
        airflow.revoke_tokens()                             # the next call gets a 401 and must log in again
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

HOST = "127.0.0.1"
TRIGGER_KEYS = {
    "dag_run_id",
    "data_interval_start",
    "data_interval_end",
    "logical_date",
    "run_after",
    "conf",
    "note",
    "partition_key",
}


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class FakeRun:
    run_id: str
    state: str = "queued"
    run_type: str = "manual"
    run_after: str = field(default_factory=_now)
    start_date: str | None = None
    end_date: str | None = None
    note: str | None = None
    conf: dict = field(default_factory=dict)
    tasks: dict[str, dict] = field(default_factory=dict)  # task_id -> {"state", "start_date", "end_date"}

    def as_api(self, dag_id: str) -> dict:
        return {
            "dag_run_id": self.run_id, "dag_id": dag_id, "logical_date": None, "queued_at": self.run_after,
            "start_date": self.start_date, "end_date": self.end_date, "data_interval_start": None,
            "data_interval_end": None, "run_after": self.run_after, "last_scheduling_decision": None,
            "run_type": self.run_type, "state": self.state, "triggered_by": "rest_api", "conf": self.conf,
            "note": self.note, "dag_versions": [], "bundle_version": None, "dag_display_name": dag_id,
        }  # fmt: skip


@dataclass
class FakeDag:
    dag_id: str
    is_paused: bool = True  # Airflow's dags_are_paused_at_creation
    runs: dict[str, FakeRun] = field(default_factory=dict)

    def as_api(self) -> dict:
        return {
            "dag_id": self.dag_id, "dag_display_name": self.dag_id, "is_paused": self.is_paused,
            "is_stale": False, "fileloc": "/opt/airflow/dags/grocery.py", "tags": [], "owners": ["grocery"],
        }  # fmt: skip


class FakeAirflow:
    """The fake API server; a context manager serving from a background thread."""

    def __init__(self, users: dict[str, str] | None = None) -> None:
        self.users = dict(users or {})
        self.dags: dict[str, FakeDag] = {}
        self.import_errors: dict[str, str] = {}  # DAG file (relative to the bundle) -> its stack trace
        self.tokens: set[str] = set()
        self.failing: int | None = None  # answer every /api/v2 call with this status
        self.forbidden: set[str] = set()  # paths the user's role may not read: 403
        self.requests: list[tuple[str, str]] = []
        self.patched_runs: list[tuple[str, str, str | None]] = []  # (dag_id, run_id, state) per run PATCH
        self.lock = threading.RLock()
        self.port = 0
        self.connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> FakeAirflow:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def up(self) -> None:
        """Serve (again, on the same port after `down()`)."""
        if self._server is not None:
            return
        server = ThreadingHTTPServer((HOST, self.port), _handler_for(self))
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def down(self) -> None:
        """Stop listening: connections are refused until `up()`."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self.lock:  # kept-alive connections would otherwise go on being served
            for conn in self.connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self.connections.clear()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- state for tests -------------------------------------------------------------------------

    def load_dag(self, dag_id: str, paused: bool = True) -> FakeDag:
        with self.lock:
            return self.dags.setdefault(dag_id, FakeDag(dag_id, is_paused=paused))

    def add_run(self, dag_id: str, run_id: str, state: str = "queued", run_type: str = "manual") -> FakeRun:
        with self.lock:
            run = FakeRun(run_id, state=state, run_type=run_type)
            self.dags[dag_id].runs[run_id] = run
            return run

    def finish_run(
        self, dag_id: str, run_id: str, state: str, tasks: dict[str, str], end: str | None = None
    ) -> None:
        """Make a run end in `state` with these task states, as if the scheduler had run it."""
        with self.lock:
            run = self.dags[dag_id].runs.get(run_id) or self.add_run(dag_id, run_id)
            now = end or _now()
            run.state, run.start_date, run.end_date = state, run.start_date or now, now
            run.tasks = {t: {"state": s, "start_date": now, "end_date": now} for t, s in tasks.items()}

    def runs(self, dag_id: str) -> list[FakeRun]:
        with self.lock:
            dag = self.dags.get(dag_id)
            return list(dag.runs.values()) if dag else []

    def is_paused(self, dag_id: str) -> bool:
        with self.lock:
            return self.dags[dag_id].is_paused

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    # -- the API ---------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        parts = urlsplit(target)
        path, query = parts.path, parse_qs(parts.query)
        with self.lock:
            self.requests.append((method, path))
            if path == "/auth/token" and method == "POST":
                return self._token(body)
            if not path.startswith("/api/v2/"):
                return 404, {"detail": "Not Found"}
            auth = headers.get("authorization", "")
            if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.tokens:
                return 401, {"detail": "Not authenticated"}
            if self.failing:
                return self.failing, {"detail": "Internal Server Error"}
            if path in self.forbidden:
                return 403, {"detail": "Forbidden"}
            return self._route(method, path, query, body)

    def _token(self, body: Any) -> tuple[int, Any]:
        if (
            not isinstance(body, dict)
            or self.users.get(body.get("username")) != body.get("password")
            or not body.get("password")
        ):
            return 401, {"detail": "Invalid credentials"}
        token = secrets.token_hex(16)
        self.tokens.add(token)
        return 201, {"access_token": token}

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        if path == "/api/v2/importErrors" and method == "GET":
            pattern = (query.get("filename_pattern") or [""])[0]
            items = [
                {
                    "import_error_id": i,
                    "timestamp": _now(),
                    "filename": f,
                    "bundle_name": "dags-folder",
                    "stack_trace": t,
                }
                for i, (f, t) in enumerate(sorted(self.import_errors.items()), 1)
                if pattern in f
            ]
            return 200, {"import_errors": items, "total_entries": len(items)}
        m = re.fullmatch(r"/api/v2/dags/([^/]+)(/dagRuns(?:/([^/]+)(/taskInstances)?)?)?", path)
        if not m:
            return 404, {"detail": "Not Found"}
        dag_id, runs_part, run_id, tis = unquote(m[1]), m[2], m[3] and unquote(m[3]), m[4]
        dag = self.dags.get(dag_id)
        if dag is None:
            return 404, {"detail": f"The DAG with dag_id: `{dag_id}` was not found"}
        if not runs_part:
            if method == "GET":
                return 200, dag.as_api()
            if method == "PATCH":
                if not isinstance(body, dict) or not isinstance(body.get("is_paused"), bool):
                    return 422, {"detail": "is_paused must be a boolean"}
                dag.is_paused = body["is_paused"]
                return 200, dag.as_api()
            if method == "DELETE":  # airflow.api.common.delete_dag: refused while a task instance runs
                if any(
                    ti.get("state") == "running" for run in dag.runs.values() for ti in run.tasks.values()
                ):
                    return 409, {"detail": f"Task instances of dag with id: '{dag_id}' are still running"}
                del self.dags[dag_id]
                return 204, None
            return 405, {"detail": "Method Not Allowed"}
        if run_id is None:
            if method == "POST":
                return self._trigger(dag, body)
            if method == "GET":
                return 200, self._list_runs(dag, query)
            return 405, {"detail": "Method Not Allowed"}
        run = dag.runs.get(run_id)
        if run is None:
            return 404, {"detail": f"The DagRun with dag_id: `{dag_id}` and run_id: `{run_id}` was not found"}
        if tis and method == "GET":
            items = [
                {"task_id": t, "dag_id": dag_id, "dag_run_id": run_id, "map_index": -1, "try_number": 1, **ti}
                for t, ti in run.tasks.items()
            ]
            return 200, {"task_instances": items, "total_entries": len(items)}
        if not tis and method == "GET":
            return 200, run.as_api(dag_id)
        if not tis and method == "PATCH":
            return self._patch_run(dag_id, run, body)
        return 405, {"detail": "Method Not Allowed"}

    def _patch_run(self, dag_id: str, run: FakeRun, body: Any) -> tuple[int, Any]:
        """Airflow's DAGRunPatchBody: state (queued/success/failed) and note, nothing else."""
        if not isinstance(body, dict) or set(body) - {"state", "note"}:
            return 422, {"detail": "body must be an object with state and/or note"}
        state = body.get("state")
        if state is not None and state not in ("queued", "success", "failed"):
            return 422, {"detail": f"state must be queued, success or failed, not {state!r}"}
        if state == "failed":  # set_dag_run_state_to_failed: running tasks fail, unstarted ones are skipped
            now = _now()
            run.state, run.end_date = "failed", now
            for ti in run.tasks.values():
                if ti.get("state") == "running":
                    ti.update(state="failed", end_date=now)
                elif ti.get("state") in (None, "scheduled", "queued", "up_for_retry"):
                    ti.update(state="skipped")
        elif state is not None:
            run.state = state
        if "note" in body:
            run.note = body["note"]
        self.patched_runs.append((dag_id, run.run_id, state))
        return 200, run.as_api(dag_id)

    def _trigger(self, dag: FakeDag, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return 422, {"detail": "body must be an object"}
        unknown = set(body) - TRIGGER_KEYS
        if unknown or "logical_date" not in body:
            return 422, {"detail": f"invalid body: unknown {sorted(unknown)} or logical_date missing"}
        run_id = body.get("dag_run_id") or f"manual__{_now()}"
        if run_id in dag.runs:
            return 409, {"detail": f"DAG Run with id `{run_id}` already exists for DAG `{dag.dag_id}`"}
        run = FakeRun(run_id, note=body.get("note"), conf=body.get("conf") or {})
        dag.runs[run_id] = run
        return 200, run.as_api(dag.dag_id)

    def _list_runs(self, dag: FakeDag, query: dict[str, list[str]]) -> dict:
        runs = list(dag.runs.values())
        if states := query.get("state"):
            runs = [r for r in runs if r.state in states]
        order = (query.get("order_by") or ["id"])[0]
        key = order.lstrip("-")
        if key != "id":
            runs.sort(key=lambda r: getattr(r, key, None) or "", reverse=order.startswith("-"))
        offset = int((query.get("offset") or ["0"])[0])
        limit = int((query.get("limit") or ["50"])[0])
        return {
            "dag_runs": [r.as_api(dag.dag_id) for r in runs[offset : offset + limit]],
            "total_entries": len(runs),
        }


def _handler_for(fake: FakeAirflow) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            with fake.lock:
                fake.connections.add(self.connection)

        def finish(self) -> None:
            with fake.lock:
                fake.connections.discard(self.connection)
            super().finish()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload = fake.handle(self.command, self.path, headers, body)
            data = b"" if payload is None else json.dumps(payload).encode()  # None: 204 No Content
            self.send_response(status)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler
