"""A small client of Airflow 3's REST API (`/api/v2`), as much of it as the operator uses.

Authentication is Airflow 3's: `POST /auth/token` with a username and password gives a JWT that goes
in `Authorization: Bearer ...`; a 401 later fetches a new token once. Credentials come from a callable
(the operator reads them from a Kubernetes Secret), so a rotated Secret is picked up on the next token.

Every failure becomes an `AirflowError` with a `reason` fit for a status condition:
AirflowUnreachable (no connection, timeout), AirflowUnauthorized (401/403), AirflowError (other
answers), CredentialsMissing (no usable Secret).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

Credentials = tuple[str, str]  # username, password
UNFINISHED = ("queued", "running")  # the DAG run states of a run that may still start or run tasks
CredentialsSource = Callable[[], Awaitable[Credentials | None]]


class AirflowError(Exception):
    """Airflow could not be asked or did not answer as expected; `reason` is a condition reason."""

    reason = "AirflowError"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class AirflowUnreachable(AirflowError):
    reason = "AirflowUnreachable"


class AirflowUnauthorized(AirflowError):
    reason = "AirflowUnauthorized"


class CredentialsMissing(AirflowError):
    reason = "CredentialsMissing"


class NotFound(AirflowError):
    reason = "NotFound"


class Conflict(AirflowError):
    reason = "Conflict"


@dataclass(frozen=True)
class Dag:
    dag_id: str
    is_paused: bool


@dataclass(frozen=True)
class DagRun:
    run_id: str
    state: str
    start: datetime | None
    end: datetime | None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> DagRun:
        return cls(
            run_id=data["dag_run_id"],
            state=str(data.get("state") or "queued"),
            start=_time(data.get("start_date")),
            end=_time(data.get("end_date")),
        )


@dataclass(frozen=True)
class TaskInstance:
    task_id: str
    state: str | None
    start: datetime | None
    end: datetime | None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


class AirflowClient:
    """Airflow's REST API over one httpx connection pool; close it with `aclose()`."""

    def __init__(
        self,
        base_url: str,
        credentials: CredentialsSource,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = credentials
        self._token: str | None = None
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- the endpoints ---------------------------------------------------------------------------

    async def get_dag(self, dag_id: str) -> Dag | None:
        """The DAG, or None when Airflow has not loaded it (yet)."""
        try:
            data = await self._call("GET", f"/api/v2/dags/{_q(dag_id)}")
        except NotFound:
            return None
        return Dag(dag_id=data["dag_id"], is_paused=bool(data.get("is_paused")))

    async def import_error(self, file_name: str) -> str | None:
        """Why Airflow could not import the DAG file of this name (in any folder of its bundle), in one
        line: the last line of the traceback, which is the exception. None when it has no error."""
        params = {"filename_pattern": file_name, "limit": 100}
        try:
            data = await self._call("GET", "/api/v2/importErrors", params=params)
        except AirflowUnauthorized as exc:
            if exc.status != 403:
                raise
            return None  # an account whose role may not read import errors: the DAG is only "not loaded"
        for error in data.get("import_errors") or []:
            if error.get("filename") == file_name or str(error.get("filename", "")).endswith(f"/{file_name}"):
                lines = [
                    line.strip() for line in str(error.get("stack_trace") or "").splitlines() if line.strip()
                ]
                return lines[-1] if lines else "(no stack trace)"
        return None

    async def set_paused(self, dag_id: str, paused: bool) -> bool:
        """Pause or unpause; False when the DAG is not loaded (nothing to pause)."""
        try:
            await self._call("PATCH", f"/api/v2/dags/{_q(dag_id)}", json={"is_paused": paused})
        except NotFound:
            return False
        return True

    async def trigger(self, dag_id: str, run_id: str, note: str | None = None) -> bool:
        """Start a run with this id; False when a run with that id exists already (no second run)."""
        body = {"dag_run_id": run_id, "logical_date": None, "conf": {}, "note": note}
        try:
            await self._call("POST", f"/api/v2/dags/{_q(dag_id)}/dagRuns", json=body)
        except Conflict:
            return False
        return True

    async def latest_run(self, dag_id: str, state: str | None = None) -> DagRun | None:
        """The most recent run (by when it was due), optionally only among runs in `state`."""
        params: dict[str, Any] = {"limit": 1, "order_by": "-run_after"}
        if state:
            params["state"] = state
        try:
            data = await self._call("GET", f"/api/v2/dags/{_q(dag_id)}/dagRuns", params=params)
        except NotFound:
            return None
        runs = data.get("dag_runs") or []
        return DagRun.from_api(runs[0]) if runs else None

    async def unfinished_runs(self, dag_id: str) -> list[DagRun]:
        """The runs still queued or running (at most 100: a paused pipeline has a few)."""
        params = {"limit": 100, "order_by": "-run_after", "state": list(UNFINISHED)}
        try:
            data = await self._call("GET", f"/api/v2/dags/{_q(dag_id)}/dagRuns", params=params)
        except NotFound:
            return []
        return [DagRun.from_api(run) for run in data.get("dag_runs") or []]

    async def fail_run(self, dag_id: str, run_id: str, note: str) -> bool:
        """Mark a run failed, as the UI's "Mark as failed" does: Airflow fails its running tasks, whose
        processes then stop, and skips the tasks not started. False when the run is gone."""
        body = {"state": "failed", "note": note[:1000]}
        try:
            await self._call("PATCH", f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}", json=body)
        except NotFound:
            return False
        return True

    async def delete_dag(self, dag_id: str) -> bool:
        """Delete the DAG's records (its runs, task instances, versions), as the UI's "Delete DAG" does;
        False when Airflow has none. `Conflict` while a task instance still runs. A DAG file still in
        the bundle is parsed again: the DAG comes back, without runs."""
        try:
            await self._call("DELETE", f"/api/v2/dags/{_q(dag_id)}")
        except NotFound:
            return False
        return True

    async def task_instances(self, dag_id: str, run_id: str) -> list[TaskInstance]:
        path = f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances"
        try:
            data = await self._call("GET", path, params={"limit": 100})
        except NotFound:
            return []
        return [
            TaskInstance(
                task_id=ti["task_id"], state=ti.get("state"),
                start=_time(ti.get("start_date")), end=_time(ti.get("end_date")),
            )
            for ti in data.get("task_instances") or []
        ]  # fmt: skip

    # -- transport and authentication ------------------------------------------------------------

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        if self._token is None:
            self._token = await self._new_token()
        response = await self._send(method, path, self._token, **kwargs)
        if response.status_code == 401 and self._token:
            self._token = await self._new_token()  # expired or revoked: one fresh token, one retry
            response = await self._send(method, path, self._token, **kwargs)
        return self._json(method, path, response)

    async def _send(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            return await self._http.request(method, path, headers=headers, **kwargs)
        except httpx.TimeoutException:
            raise AirflowUnreachable(
                f"Airflow at {self.base_url} did not answer {method} {path} in time"
            ) from None
        except httpx.TransportError as exc:
            raise AirflowUnreachable(
                f"cannot reach Airflow at {self.base_url} ({exc.__class__.__name__})"
            ) from None

    async def _new_token(self) -> str:
        """A JWT from /auth/token, or "" when no credentials are configured."""
        credentials = await self._credentials()
        if credentials is None:
            return ""
        username, password = credentials
        try:
            response = await self._http.post("/auth/token", json={"username": username, "password": password})
        except httpx.TimeoutException:
            raise AirflowUnreachable(
                f"Airflow at {self.base_url} did not answer POST /auth/token in time"
            ) from None
        except httpx.TransportError as exc:
            raise AirflowUnreachable(
                f"cannot reach Airflow at {self.base_url} ({exc.__class__.__name__})"
            ) from None
        data = self._json("POST", "/auth/token", response)
        token = data.get("access_token") if isinstance(data, dict) else None
        if not token:
            raise AirflowError("Airflow's /auth/token answered without an access_token", response.status_code)
        return token

    @staticmethod
    def _json(method: str, path: str, response: httpx.Response) -> Any:
        status = response.status_code
        if status < 300:
            return response.json() if response.content else {}
        what = f"Airflow answered {status} to {method} {path}"
        detail = _detail(response)
        message = f"{what}: {detail}" if detail else what
        if status in (401, 403):
            raise AirflowUnauthorized(message, status)
        if status == 404:
            raise NotFound(message, status)
        if status == 409:
            raise Conflict(message, status)
        raise AirflowError(message, status)


def _detail(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    detail = data.get("detail") if isinstance(data, dict) else None
    return str(detail)[:200] if detail else ""


def _q(segment: str) -> str:
    return quote(segment, safe="")
