"""The `status` of a GroceryPipeline: its model (the CRD's status schema is generated from it) and the
pure functions that compute it from what Airflow reports.

    phase               Pending | Ready | Running | Succeeded | Failed | Suspended
    lastRun             the most recent DAG run: id, state, start, end
    lastSuccessfulRun   the most recent successful one (kept while Airflow is unreachable)
    stages              one entry per registered stage: the task's state in the last run
    conditions          Ready, Degraded, Fresh; each with status, reason, message, lastTransitionTime
                        and observedGeneration, the way Kubernetes' own conditions are written
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from grocery import stages as registry
from grocery.config import PipelineSpec
from grocery.operator.airflow import AirflowError, DagRun, TaskInstance


class Phase(StrEnum):
    """Where the pipeline is, in one word."""

    PENDING = "Pending"
    READY = "Ready"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SUSPENDED = "Suspended"


class StatusModel(BaseModel):
    """Base of the status models: camelCase on the outside, like the spec."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class RunInfo(StatusModel):
    """One DAG run."""

    id: str = Field(..., description="Airflow's dag_run_id.")
    state: str = Field(..., description="Airflow's run state: queued, running, success or failed.")
    start: datetime | None = Field(None, description="When the run started (UTC).")
    end: datetime | None = Field(None, description="When the run ended (UTC); empty while it runs.")

    @classmethod
    def of(cls, run: DagRun) -> RunInfo:
        return cls(id=run.run_id, state=run.state, start=run.start, end=run.end)


class StageState(StatusModel):
    """One stage of the last run (its Airflow task has the stage's name)."""

    name: str = Field(..., description="Stage name from the stage registry.")
    state: str | None = Field(
        None, description="Airflow task state (success, failed, running, ...); empty: not started."
    )


class Condition(StatusModel):
    """A Kubernetes-style condition."""

    type: Literal["Ready", "Degraded", "Fresh"] = Field(..., description="Ready, Degraded or Fresh.")
    status: Literal["True", "False", "Unknown"] = Field(..., description="True, False or Unknown.")
    reason: str = Field(..., description="One CamelCase word saying why.")
    message: str = Field("", description="What happened, for people.")
    last_transition_time: datetime = Field(..., description="When the status last changed (UTC).")
    observed_generation: int | None = Field(
        None, description="The metadata.generation this condition was computed for."
    )


class PipelineStatus(StatusModel):
    """What the operator last saw of the pipeline, in Kubernetes and in Airflow."""

    phase: Phase | None = Field(None, description="Pending, Ready, Running, Succeeded, Failed or Suspended.")
    observed_generation: int | None = Field(
        None, description="The metadata.generation whose configuration was last rendered for Airflow."
    )
    dag_id: str | None = Field(None, description="The pipeline's DAG in Airflow.")
    config_map: str | None = Field(None, description="namespace/name of the ConfigMap the DAG factory reads.")
    last_run: RunInfo | None = Field(None, description="The most recent DAG run.")
    last_successful_run: RunInfo | None = Field(None, description="The most recent successful DAG run.")
    stages: list[StageState] = Field(
        default_factory=list, description="Per-stage task states of the last run."
    )
    conditions: list[Condition] = Field(default_factory=list, description="Ready, Degraded and Fresh.")
    last_run_request: str | None = Field(
        None, description="The last grocery.io/run-now annotation value acted on (the acknowledgement)."
    )
    last_run_request_id: str | None = Field(None, description="The DAG run started for lastRunRequest.")
    last_checked: datetime | None = Field(None, description="When Airflow was last asked (UTC).")

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)


@dataclass(frozen=True)
class Observation:
    """What Airflow said about one pipeline's DAG."""

    dag_loaded: bool
    import_error: str | None = None  # why Airflow could not import the DAG's file, while it is not loaded
    paused: bool | None = None
    last_run: DagRun | None = None
    last_success: DagRun | None = None
    tasks: list[TaskInstance] = field(default_factory=list)


@dataclass(frozen=True)
class Transition:
    """A change worth a Kubernetes Event."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


def phase_of(spec: PipelineSpec, seen: Observation) -> Phase:
    if not seen.dag_loaded:
        return Phase.PENDING
    if spec.suspend:
        return Phase.SUSPENDED
    run = seen.last_run
    if run is None:
        return Phase.READY
    return {
        "queued": Phase.RUNNING,
        "running": Phase.RUNNING,
        "success": Phase.SUCCEEDED,
        "failed": Phase.FAILED,
    }.get(run.state, Phase.READY)


def stage_states(tasks: list[TaskInstance]) -> list[StageState]:
    """One entry per registered stage, in registry order; tasks that are not stages are left out."""
    by_id = {t.task_id: t for t in tasks}
    return [
        StageState(name=name, state=by_id[name].state if name in by_id else None)
        for name in registry.stage_names()
    ]


def build_status(
    spec: PipelineSpec,
    generation: int | None,
    dag_id: str,
    previous: PipelineStatus,
    seen: Observation | AirflowError,
    now: datetime,
) -> PipelineStatus:
    """The status after asking Airflow; on an Airflow error, the last known runs are kept."""
    if isinstance(seen, AirflowError):
        phase = previous.phase or Phase.PENDING
        last_run, last_success, stages = previous.last_run, previous.last_successful_run, previous.stages
        ready = ("False", seen.reason, seen.message)
        degraded = ("True", seen.reason, seen.message)
    else:
        phase = phase_of(spec, seen)
        last_run = RunInfo.of(seen.last_run) if seen.last_run else None
        last_success = RunInfo.of(seen.last_success) if seen.last_success else previous.last_successful_run
        stages = stage_states(seen.tasks) if seen.last_run else []
        ready = _ready(spec, dag_id, seen)
        degraded = _degraded(seen, stages)
    fresh = _fresh(spec, last_success, now)
    conditions = [
        _condition(previous, "Ready", *ready, generation=generation, now=now),
        _condition(previous, "Degraded", *degraded, generation=generation, now=now),
        _condition(previous, "Fresh", *fresh, generation=generation, now=now),
    ]
    return previous.model_copy(
        update={
            "phase": phase,
            "dag_id": dag_id,
            "last_run": last_run,
            "last_successful_run": last_success,
            "stages": stages,
            "conditions": conditions,
            "last_checked": now,
        }
    )


def refused(previous: PipelineStatus, generation: int | None, message: str, now: datetime) -> PipelineStatus:
    """The status of a spec the operator refuses (one the CRD's schema cannot judge, such as a cron
    field out of range): Ready is False, InvalidSpec, with the one-line error. Nothing else changes:
    Airflow keeps the DAG of the last spec accepted, if there was one."""
    accepted = previous.observed_generation
    kept = f"; Airflow keeps running generation {accepted}" if accepted is not None else ""
    ready = _condition(
        previous, "Ready", "False", "InvalidSpec", message + kept, generation=generation, now=now
    )
    others = [c for c in previous.conditions if c.type != "Ready"]
    return previous.model_copy(
        update={"phase": previous.phase or Phase.PENDING, "conditions": [ready, *others]}
    )


def _ready(spec: PipelineSpec, dag_id: str, seen: Observation) -> tuple[str, str, str]:
    if not seen.dag_loaded and seen.import_error:
        return "False", "DagImportError", f"Airflow cannot import DAG {dag_id}: {seen.import_error}"
    if not seen.dag_loaded:
        return "False", "DagNotLoaded", f"Airflow has not loaded DAG {dag_id} yet"
    if spec.suspend:
        return "True", "Suspended", f"DAG {dag_id} is loaded and paused (spec.suspend)"
    return "True", "DagActive", f"DAG {dag_id} is loaded and scheduled ({spec.schedule or 'on request only'})"


def _degraded(seen: Observation, stages: list[StageState]) -> tuple[str, str, str]:
    run = seen.last_run
    if run is not None and run.state == "failed":
        failed = [s.name for s in stages if s.state in ("failed", "upstream_failed")]
        where = f" at stage {', '.join(failed)}" if failed else ""
        return "True", "RunFailed", f"run {run.run_id} failed{where}"
    return "False", "AsExpected", "Airflow answers and the last run did not fail"


def _fresh(spec: PipelineSpec, last_success: RunInfo | None, now: datetime) -> tuple[str, str, str]:
    target = timedelta(hours=spec.freshness_hours)
    finished = (last_success.end or last_success.start) if last_success else None
    if finished is None:
        return "False", "NeverSucceeded", "no successful run yet"
    age = now - finished
    hours = age.total_seconds() / 3600
    if age > target:
        return (
            "False",
            "Stale",
            f"last success {hours:.1f}h ago, older than the {spec.freshness_hours}h target",
        )
    return "True", "WithinTarget", f"last success {hours:.1f}h ago (target {spec.freshness_hours}h)"


def _condition(
    previous: PipelineStatus,
    type_: str,
    status: str,
    reason: str,
    message: str,
    generation: int | None,
    now: datetime,
) -> Condition:
    before = previous.condition(type_)
    changed = before is None or before.status != status
    return Condition(
        type=type_, status=status, reason=reason, message=message,
        last_transition_time=now if changed else before.last_transition_time,
        observed_generation=generation,
    )  # fmt: skip


_EXPECTED_AT_FIRST = {
    "NeverSucceeded",
    "DagNotLoaded",
}  # a new pipeline has not run, Airflow has not loaded it


def transitions(before: PipelineStatus, after: PipelineStatus) -> list[Transition]:
    """The Events to post for what changed between two statuses."""
    events: list[Transition] = []
    if after.phase and after.phase != before.phase:
        kind = "Warning" if after.phase == Phase.FAILED else "Normal"
        was = before.phase.value if before.phase else "nothing"
        run = f" (run {after.last_run.id})" if after.last_run else ""
        events.append(Transition(kind, f"Phase{after.phase.value}", f"{was} -> {after.phase.value}{run}"))
    for type_, bad in (("Degraded", "True"), ("Fresh", "False"), ("Ready", "False")):
        old, new = before.condition(type_), after.condition(type_)
        if new is None or (old is not None and (old.status, old.reason) == (new.status, new.reason)):
            continue
        if old is None and (new.status != bad or new.reason in _EXPECTED_AT_FIRST):
            continue  # a first evaluation is news only when something is wrong
        kind = "Warning" if new.status == bad else "Normal"
        events.append(Transition(kind, new.reason, f"{type_}={new.status}: {new.message}"))
    return events


def utcnow() -> datetime:
    return datetime.now(UTC)
