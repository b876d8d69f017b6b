"""The Airflow 3 REST client against the fake Airflow API: JWT login, endpoints, errors as reasons."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from fakes.airflow_api import FakeAirflow
from opfixtures import *  # noqa: F403 (the fixtures airflow, kmock_options, kubectl)

from grocery.operator.airflow import (
    AirflowClient,
    AirflowError,
    AirflowUnauthorized,
    AirflowUnreachable,
    Conflict,
    CredentialsMissing,
)

pytestmark = pytest.mark.asyncio
DAG = "grocery__default__p"


def credentials(user: str = "op", password: str = "pw"):
    async def read() -> tuple[str, str]:
        return user, password

    return read


@pytest_asyncio.fixture
async def client(airflow: FakeAirflow) -> AsyncIterator[AirflowClient]:
    c = AirflowClient(airflow.url, credentials("grocery-operator", "s3cret"), timeout=2)
    yield c
    await c.aclose()


async def test_it_logs_in_once_and_again_after_a_401(client: AirflowClient, airflow: FakeAirflow) -> None:
    airflow.load_dag(DAG)
    assert (await client.get_dag(DAG)).is_paused is True
    await client.get_dag(DAG)
    assert [p for _, p in airflow.requests].count("/auth/token") == 1
    airflow.revoke_tokens()  # the JWT expired
    assert await client.set_paused(DAG, False) is True
    assert [p for _, p in airflow.requests].count("/auth/token") == 2
    assert airflow.is_paused(DAG) is False


async def test_wrong_or_missing_credentials_are_unauthorized(airflow: FakeAirflow) -> None:
    airflow.load_dag(DAG)
    wrong = AirflowClient(airflow.url, credentials("grocery-operator", "nope"))

    async def none() -> None:
        return None

    anonymous = AirflowClient(airflow.url, none)
    for c in (wrong, anonymous):
        with pytest.raises(AirflowUnauthorized):
            await c.get_dag(DAG)
        await c.aclose()


async def test_a_credentials_problem_propagates_with_its_reason(airflow: FakeAirflow) -> None:
    async def missing() -> tuple[str, str]:
        raise CredentialsMissing("Secret grocery-system/airflow-api does not exist")

    c = AirflowClient(airflow.url, missing)
    with pytest.raises(CredentialsMissing) as caught:
        await c.get_dag(DAG)
    assert caught.value.reason == "CredentialsMissing"
    await c.aclose()


async def test_an_unloaded_dag_is_none_not_an_error(client: AirflowClient) -> None:
    assert await client.get_dag(DAG) is None
    assert await client.set_paused(DAG, True) is False
    assert await client.latest_run(DAG) is None
    assert await client.task_instances(DAG, "r") == []


async def test_trigger_is_idempotent_per_run_id(client: AirflowClient, airflow: FakeAirflow) -> None:
    airflow.load_dag(DAG)
    assert await client.trigger(DAG, "run-now__a__1", note="asked") is True
    assert await client.trigger(DAG, "run-now__a__1") is False
    assert [(r.run_id, r.note) for r in airflow.runs(DAG)] == [("run-now__a__1", "asked")]


async def test_latest_runs_and_task_instances(client: AirflowClient, airflow: FakeAirflow) -> None:
    airflow.load_dag(DAG)
    airflow.finish_run(DAG, "r1", "success", {"extract": "success"})
    airflow.finish_run(DAG, "r2", "failed", {"extract": "success", "load": "failed"})
    last = await client.latest_run(DAG)
    assert (last.run_id, last.state) == ("r2", "failed") and last.end is not None
    assert (await client.latest_run(DAG, "success")).run_id == "r1"
    tasks = {t.task_id: t.state for t in await client.task_instances(DAG, "r2")}
    assert tasks == {"extract": "success", "load": "failed"}


async def test_unfinished_runs_are_listed_and_failing_one_fails_its_running_tasks(
    client: AirflowClient, airflow: FakeAirflow
) -> None:
    airflow.load_dag(DAG)
    airflow.finish_run(DAG, "done", "success", {"extract": "success"})
    airflow.add_run(DAG, "waiting", state="queued")
    running = airflow.add_run(DAG, "busy", state="running")
    running.tasks = {
        "extract": {"state": "success"},
        "load": {"state": "running"},
        "transform": {"state": None},
    }

    assert sorted(r.run_id for r in await client.unfinished_runs(DAG)) == ["busy", "waiting"]
    assert await client.fail_run(DAG, "busy", note="stopped: pipeline deleted") is True
    assert running.state == "failed" and running.note == "stopped: pipeline deleted"
    assert {t: ti["state"] for t, ti in running.tasks.items()} == {
        "extract": "success", "load": "failed", "transform": "skipped",
    }  # fmt: skip
    assert [r.run_id for r in await client.unfinished_runs(DAG)] == ["waiting"]
    assert await client.fail_run(DAG, "no-such-run", note="x") is False
    assert await client.unfinished_runs("not-loaded") == []


async def test_deleting_a_dag_deletes_its_runs_and_waits_for_running_tasks(
    client: AirflowClient, airflow: FakeAirflow
) -> None:
    airflow.load_dag(DAG)
    airflow.finish_run(DAG, "done", "success", {"extract": "success"})
    busy = airflow.add_run(DAG, "busy", state="running")
    busy.tasks = {"load": {"state": "running"}}
    with pytest.raises(Conflict):
        await client.delete_dag(DAG)
    await client.fail_run(DAG, "busy", note="stopped")
    assert await client.delete_dag(DAG) is True
    assert await client.get_dag(DAG) is None and airflow.runs(DAG) == []
    assert await client.delete_dag(DAG) is False


async def test_down_is_unreachable_and_a_500_is_an_error_with_the_status(
    client: AirflowClient, airflow: FakeAirflow
) -> None:
    airflow.load_dag(DAG)
    await client.get_dag(DAG)
    airflow.failing = 500
    with pytest.raises(AirflowError) as caught:
        await client.get_dag(DAG)
    assert (caught.value.reason, caught.value.status) == ("AirflowError", 500)
    assert "500" in caught.value.message
    airflow.failing = None
    airflow.down()
    with pytest.raises(AirflowUnreachable):
        await client.get_dag(DAG)
    airflow.up()
    assert await client.get_dag(DAG) is not None
