"""Status building: phase, conditions with transitions, freshness, events; pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from grocery.config import PipelineSpec
from grocery.operator.airflow import AirflowUnreachable, DagRun, TaskInstance
from grocery.operator.status import (
    Observation,
    Phase,
    PipelineStatus,
    build_status,
    refused,
    transitions,
)
from grocery.stages import stage_names

NOW = datetime(2024, 6, 2, 12, 0, tzinfo=UTC)
SPEC = PipelineSpec().with_overrides(**{"freshness_hours": 24})
DAG = "grocery__default__p"


def run(run_id: str, state: str, hours_ago: float | None = 1) -> DagRun:
    end = NOW - timedelta(hours=hours_ago) if hours_ago is not None else None
    return DagRun(run_id=run_id, state=state, start=NOW - timedelta(hours=5), end=end)


def status(
    seen, previous: PipelineStatus | None = None, spec: PipelineSpec = SPEC, now: datetime = NOW
) -> PipelineStatus:
    return build_status(spec, 3, DAG, previous or PipelineStatus(), seen, now)


def conditions(s: PipelineStatus) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in s.conditions}


def test_a_dag_airflow_has_not_loaded_is_pending() -> None:
    s = status(Observation(dag_loaded=False))
    assert s.phase == Phase.PENDING
    assert conditions(s) == {
        "Ready": ("False", "DagNotLoaded"),
        "Degraded": ("False", "AsExpected"),
        "Fresh": ("False", "NeverSucceeded"),
    }
    assert all(c.observed_generation == 3 and c.last_transition_time == NOW for c in s.conditions)


def test_a_dag_airflow_cannot_import_is_pending_with_the_reason() -> None:
    s = status(Observation(dag_loaded=False, import_error="ModuleNotFoundError: No module named 'grocery'"))
    assert s.phase == Phase.PENDING
    ready = s.condition("Ready")
    assert (ready.status, ready.reason) == ("False", "DagImportError")
    assert ready.message.endswith(": ModuleNotFoundError: No module named 'grocery'")


def test_a_refused_spec_is_not_ready_and_the_last_accepted_one_keeps_running() -> None:
    new = refused(PipelineStatus(), 1, "schedule: out of range", NOW)
    assert new.phase == Phase.PENDING
    assert [(c.type, c.status, c.reason, c.message) for c in new.conditions] == [
        ("Ready", "False", "InvalidSpec", "schedule: out of range")
    ]
    running = status(Observation(dag_loaded=True, last_run=run("r", "running", None)))
    running = running.model_copy(update={"observed_generation": 3})
    new = refused(running, 4, "schedule: out of range", NOW + timedelta(minutes=1))
    assert new.phase == Phase.RUNNING and new.last_run == running.last_run
    ready = new.condition("Ready")
    assert (ready.reason, ready.message, ready.observed_generation) == (
        "InvalidSpec",
        "schedule: out of range; Airflow keeps running generation 3",
        4,
    )
    assert ready.last_transition_time == NOW + timedelta(minutes=1)  # it was True
    assert new.condition("Degraded") == running.condition("Degraded")


def test_phases_follow_the_last_run_and_suspend() -> None:
    assert status(Observation(dag_loaded=True)).phase == Phase.READY
    assert status(Observation(dag_loaded=True, last_run=run("r", "queued", None))).phase == Phase.RUNNING
    assert status(Observation(dag_loaded=True, last_run=run("r", "running", None))).phase == Phase.RUNNING
    assert status(Observation(dag_loaded=True, last_run=run("r", "success"))).phase == Phase.SUCCEEDED
    assert status(Observation(dag_loaded=True, last_run=run("r", "failed"))).phase == Phase.FAILED
    suspended = PipelineSpec().with_overrides(suspend=True)
    assert (
        status(Observation(dag_loaded=True, last_run=run("r", "failed")), spec=suspended).phase
        == Phase.SUSPENDED
    )


def test_a_failed_run_is_degraded_naming_the_failed_stage_and_stages_follow_the_registry() -> None:
    tasks = [
        TaskInstance("load", "failed", None, None),
        TaskInstance("extract", "success", None, None),
        TaskInstance("not_a_stage", "success", None, None),
    ]
    s = status(Observation(dag_loaded=True, last_run=run("r1", "failed"), tasks=tasks))
    assert conditions(s)["Degraded"] == ("True", "RunFailed")
    assert "r1 failed at stage load" in s.condition("Degraded").message
    assert [st.name for st in s.stages] == stage_names()
    assert [(st.name, st.state) for st in s.stages][:3] == [
        ("extract", "success"),
        ("load", "failed"),
        ("transform", None),
    ]


def test_freshness_against_the_target() -> None:
    fresh = status(
        Observation(dag_loaded=True, last_run=run("r", "success", 2), last_success=run("r", "success", 2))
    )
    assert conditions(fresh)["Fresh"] == ("True", "WithinTarget")
    stale = status(Observation(dag_loaded=True, last_success=run("old", "success", 30)))
    assert conditions(stale)["Fresh"] == ("False", "Stale")
    assert "30.0h ago, older than the 24h target" in stale.condition("Fresh").message


def test_airflow_unreachable_keeps_what_was_known_and_says_why() -> None:
    before = status(
        Observation(dag_loaded=True, last_run=run("r", "success", 2), last_success=run("r", "success", 2))
    )
    later = NOW + timedelta(minutes=5)
    s = status(AirflowUnreachable("cannot reach Airflow at http://airflow"), previous=before, now=later)
    assert s.phase == Phase.SUCCEEDED and s.last_successful_run == before.last_successful_run
    assert conditions(s) == {
        "Ready": ("False", "AirflowUnreachable"),
        "Degraded": ("True", "AirflowUnreachable"),
        "Fresh": ("True", "WithinTarget"),
    }
    assert s.condition("Fresh").last_transition_time == NOW  # unchanged status keeps its transition time
    assert s.condition("Degraded").last_transition_time == later


def test_transitions_become_events() -> None:
    pending = status(Observation(dag_loaded=False))
    assert [(e.type, e.reason) for e in transitions(PipelineStatus(), pending)] == [
        ("Normal", "PhasePending")
    ]
    failed = status(Observation(dag_loaded=True, last_run=run("r", "failed")), previous=pending)
    assert [(e.type, e.reason) for e in transitions(pending, failed)] == [
        ("Warning", "PhaseFailed"), ("Warning", "RunFailed"), ("Normal", "DagActive"),
    ]  # fmt: skip
    assert (
        transitions(
            failed, status(Observation(dag_loaded=True, last_run=run("r", "failed")), previous=failed)
        )
        == []
    )


def test_the_status_round_trips_through_its_camel_case_form() -> None:
    s = status(Observation(dag_loaded=True, last_run=run("r", "success"), last_success=run("r", "success")))
    dumped = s.model_dump(mode="json", by_alias=True)
    assert dumped["lastSuccessfulRun"]["id"] == "r" and dumped["conditions"][0][
        "lastTransitionTime"
    ].endswith("Z")
    assert PipelineStatus.model_validate(dumped | {"kopf": {"ignored": True}}) == s
