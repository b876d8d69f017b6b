"""The real operator (kopf + our handlers) against kmock and a fake Airflow: create, update, suspend,
run-now, a failed run, Airflow down and back, delete (keeping the data, or deleting it with a Job),
a restart in the middle."""

from __future__ import annotations

import asyncio
import contextvars
from datetime import UTC, datetime, timedelta

import kmock as km
import pytest
import yaml
from fakes.airflow_api import FakeAirflow
from opbench import (
    JOBS,
    Kubectl,
    condition,
    eventually,
    make_settings,
    operator_running,
    pipeline_manifest,
    wait_for,
    writes,
)  # fmt: skip
from opfixtures import *  # noqa: F403 (the fixtures airflow, kmock_options, kubectl)

from grocery.config import read_pipeline
from grocery.operator.handlers import PipelineOperator
from grocery.operator.kube import KubeClient
from grocery.operator.resources import RUN_NOW, configmap_name, purge_args, purge_job_name, run_now_id
from grocery.stages import stage_names

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]

NAME = "nightly"
DAG = f"grocery__default__{NAME}"
CM = configmap_name("default", NAME)
STAGES = stage_names()  # the registry grows (segment, recommend, publish): tests follow it


def phase(expected: str):
    def is_phase(obj: dict) -> bool:
        return (obj.get("status") or {}).get("phase") == expected

    is_phase.__name__ = f"phase {expected}"
    return is_phase


async def configmap(kubectl: Kubectl, name: str = CM, namespace: str = "default") -> dict | None:
    return next((cm for cm in await kubectl.configmaps(namespace) if cm["metadata"]["name"] == name), None)


async def reasons(kubectl: Kubectl) -> list[str]:
    return [e.get("reason") for e in await kubectl.events()]


async def test_create_renders_an_owned_configmap_and_reports_ready(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow
) -> None:
    async with operator_running(kmock, make_settings(str(kmock.url), airflow.url)):
        created = await kubectl.apply(
            pipeline_manifest(NAME, {"schedule": "0 3 * * *", "source": {"scale": 0.01}})
        )
        cm = await eventually(lambda: configmap(kubectl), what="the ConfigMap")

        owner = cm["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["uid"]) == (
            "GroceryPipeline",
            NAME,
            created["metadata"]["uid"],
        )
        assert cm["metadata"]["labels"]["grocery.io/pipeline-config"] == "true"
        rendered = read_pipeline(cm["data"][f"default__{NAME}.yaml"], origin="configmap")
        assert (rendered.dag_id, rendered.spec.schedule, rendered.spec.source.scale) == (
            DAG,
            "0 3 * * *",
            0.01,
        )

        pending = await wait_for(
            kubectl, NAME, lambda o: condition(o, "Ready").get("reason") == "DagNotLoaded"
        )
        assert pending["status"]["phase"] == "Pending"

        airflow.load_dag(DAG)  # the DAG processor has read the ConfigMap; Airflow creates DAGs paused
        ready = await wait_for(kubectl, NAME, phase("Ready"))
        assert not airflow.is_paused(DAG)
        status = ready["status"]
        assert (status["observedGeneration"], status["dagId"], status["configMap"]) == (
            1,
            DAG,
            f"default/{CM}",
        )
        assert condition(ready, "Ready")["status"] == "True"
        assert condition(ready, "Degraded")["status"] == "False"
        assert condition(ready, "Fresh") | {"lastTransitionTime": None} == {
            "type": "Fresh", "status": "False", "reason": "NeverSucceeded", "message": "no successful run yet",
            "lastTransitionTime": None, "observedGeneration": 1,
        }  # fmt: skip
        await eventually(lambda: _has(reasons(kubectl), "ConfigMapCreated", "PhaseReady"), what="events")

    # A repeated handler changes nothing: one create, no patch, however often the timer ran.
    assert len(writes(kmock, "v1/configmaps", km.action.CREATE)) == 1
    assert writes(kmock, "v1/configmaps", km.action.UPDATE) == []


async def test_a_pipeline_that_names_no_image_runs_the_operators(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow
) -> None:
    release = {"pipeline_image": "registry.example/grocery-pipeline:2.0.0",
               "spark_image": "registry.example/grocery-pipeline-spark:2.0.0"}  # fmt: skip
    pinned = {"execution": {"image": "mine/pipeline:7"}, "spark": {"image": "mine/spark:7"}}
    async with operator_running(kmock, make_settings(str(kmock.url), airflow.url, **release)):
        await kubectl.apply(pipeline_manifest(NAME, {**SHARED_DATA, "execution": {"mode": "kubernetes"}}))
        await kubectl.apply(pipeline_manifest("pinned", pinned))
        rendered = {}
        for name in (NAME, "pinned"):
            cm = await eventually(lambda n=name: configmap(kubectl, configmap_name("default", n)), what=name)
            rendered[name] = read_pipeline(cm["data"][f"default__{name}.yaml"], origin="configmap").spec
    assert (rendered[NAME].execution.image, rendered[NAME].spark.image) == tuple(release.values())
    assert (rendered["pinned"].execution.image, rendered["pinned"].spark.image) == (
        "mine/pipeline:7",
        "mine/spark:7",
    )


# Where the stage pods of a kubernetes-mode pipeline keep its data: none of them has the others' disk.
SHARED_DATA = {"lake": "gs://grocery-lake/nightly", "warehouse": {"kind": "bigquery", "project": "acme"}}


async def _has(awaitable, *wanted: str) -> bool:
    got = await awaitable
    return all(w in got for w in wanted)


async def test_a_spec_the_crd_lets_through_but_the_model_refuses_is_named_in_the_status(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow, caplog: pytest.LogCaptureFixture
) -> None:
    """A cron field out of range has the CRD's form; the spec model refuses it as Airflow would. No
    ConfigMap is rendered, Ready says why, and a fixed spec goes on as any new one."""
    async with operator_running(kmock, make_settings(str(kmock.url), airflow.url)):
        await kubectl.apply(pipeline_manifest(NAME, {"schedule": "61 * * * *"}))
        refused = await wait_for(
            kubectl, NAME, lambda o: condition(o, "Ready").get("reason") == "InvalidSpec"
        )
        assert refused["status"]["phase"] == "Pending"
        assert condition(refused, "Ready")["message"] == (
            f"grocerypipeline default/{NAME}: schedule: '61 * * * *' is not a cron expression Airflow "
            "accepts: out of range (fix the spec and apply it again)"
        )
        assert condition(refused, "Ready")["status"] == "False"
        assert await configmap(kubectl) is None
        # Said once, by the status and kopf's event; the status timer does not repeat it every tick.
        assert not [r for r in caplog.records if "status not refreshed" in r.getMessage() and r.levelno >= 30]

        await kubectl.patch(NAME, {"spec": {"schedule": "1 * * * *"}})
        await eventually(lambda: configmap(kubectl), what="the ConfigMap")
        airflow.load_dag(DAG)
        ready = await wait_for(kubectl, NAME, phase("Ready"))
        assert condition(ready, "Ready")["reason"] == "DagActive"


async def test_kubernetes_mode_with_a_local_lake_or_duckdb_is_refused_in_the_status(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow
) -> None:
    """Stage pods share no disk: a kubernetes-mode pipeline with the default lake and DuckDB would fail
    every run at `load`. It renders nothing and Ready says what to set; with a gs:// lake and BigQuery
    it goes on as any new pipeline."""
    async with operator_running(kmock, make_settings(str(kmock.url), airflow.url)):
        await kubectl.apply(pipeline_manifest(NAME, {"execution": {"mode": "kubernetes"}}))
        refused = await wait_for(
            kubectl, NAME, lambda o: condition(o, "Ready").get("reason") == "InvalidSpec"
        )
        assert refused["status"]["phase"] == "Pending"
        assert condition(refused, "Ready")["status"] == "False"
        assert condition(refused, "Ready")["message"] == (
            f"grocerypipeline default/{NAME}: execution.mode: kubernetes runs each stage in a pod of its "
            "own, which sees no other pod's files, but lake is the default (a folder in the pod) and "
            "warehouse.kind is duckdb: set lake to a gs:// URI and warehouse.kind to bigquery, or "
            "execution.mode to local (fix the spec and apply it again)"
        )
        assert await configmap(kubectl) is None

        await kubectl.patch(NAME, {"spec": SHARED_DATA})
        cm = await eventually(lambda: configmap(kubectl), what="the ConfigMap")
        assert (
            read_pipeline(cm["data"][f"default__{NAME}.yaml"], "configmap").spec.lake == SHARED_DATA["lake"]
        )
        airflow.load_dag(DAG)
        ready = await wait_for(kubectl, NAME, phase("Ready"))
        assert condition(ready, "Ready")["reason"] == "DagActive"


async def test_a_name_too_long_for_a_dag_id_is_refused_in_the_status_and_can_still_be_deleted(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow
) -> None:
    """A valid Kubernetes name of 238 characters makes a DAG id of 256, which Airflow cannot run (and
    ConfigMap keys over 253, which the API server refuses): the operator renders nothing and says so
    once, instead of retrying for ever, and the resource goes when deleted."""
    name = "nightly-" + "a" * 230
    async with operator_running(kmock, make_settings(str(kmock.url), airflow.url)):
        await kubectl.apply(pipeline_manifest(name))
        refused = await wait_for(
            kubectl, name, lambda o: condition(o, "Ready").get("reason") == "InvalidSpec"
        )
        assert refused["status"]["phase"] == "Pending"
        assert condition(refused, "Ready")["message"] == (
            f"grocerypipeline default/{name}: metadata.name is too long: in namespace default, the DAG id "
            f"grocery__default__nightly-{'a' * 14}... would be 256 characters, and Airflow runs (and logs) "
            "at most 248; use a name of at most 230 characters (fix the spec and apply it again)"
        )
        assert await kubectl.configmaps("default") == []

        await kubectl.delete(name)
        await eventually(lambda: _gone(kubectl, name), what="the deleted pipeline")


async def _gone(kubectl: Kubectl, name: str) -> bool:
    return await kubectl.get(name) is None


async def test_a_dag_file_airflow_cannot_import_is_named_in_the_status_until_it_loads(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow
) -> None:
    """A DAG file Airflow cannot import (here its image lacks the grocery package): the pipeline does
    not sit in Pending with no word; Ready says why, and a Warning event says it once."""
    airflow.import_errors[f"grocery/default__{NAME}.py"] = (
        "Traceback (most recent call last):\n  File ...\nModuleNotFoundError: No module named 'grocery'\n"
    )
    airflow.import_errors["grocery/default__other.py"] = "ConfigError: another pipeline's own error\n"
    async with operator_running(kmock, make_settings(str(kmock.url), airflow.url)):
        await kubectl.apply(pipeline_manifest(NAME))
        refused = await wait_for(
            kubectl, NAME, lambda o: condition(o, "Ready").get("reason") == "DagImportError"
        )
        assert refused["status"]["phase"] == "Pending"
        assert condition(refused, "Ready")["message"] == (
            f"Airflow cannot import DAG {DAG}: ModuleNotFoundError: No module named 'grocery'"
        )
        warnings = [e for e in await kubectl.events() if e.get("reason") == "DagImportError"]
        assert len(warnings) == 1 and warnings[0]["type"] == "Warning"

        # An operator account whose role may not read import errors sees the DAG only as not loaded.
        airflow.forbidden.add("/api/v2/importErrors")
        await wait_for(kubectl, NAME, lambda o: condition(o, "Ready").get("reason") == "DagNotLoaded")
        assert condition(await kubectl.get(NAME), "Degraded")["reason"] == "AsExpected"

        del airflow.import_errors[f"grocery/default__{NAME}.py"]  # fixed: the DAG processor loads it
        airflow.load_dag(DAG)
        await wait_for(kubectl, NAME, phase("Ready"))


async def test_update_moves_observed_generation_and_rerenders_the_configmap(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow
) -> None:
    airflow.load_dag(DAG)
    async with operator_running(kmock, make_settings(str(kmock.url), airflow.url)):
        await kubectl.apply(pipeline_manifest(NAME))
        await wait_for(kubectl, NAME, phase("Ready"))

        await kubectl.patch(NAME, {"spec": {"models": {"rfm": {"bins": 4}}, "freshnessHours": 12}})
        updated = await wait_for(
            kubectl, NAME, lambda o: o["status"]["observedGeneration"] == 2, what="generation 2"
        )
        assert updated["metadata"]["generation"] == 2
        cm = await configmap(kubectl)
        rendered = read_pipeline(cm["data"][f"default__{NAME}.yaml"], origin="configmap")
        assert (rendered.spec.models.rfm.bins, rendered.spec.freshness_hours) == (4, 12)
        await wait_for(kubectl, NAME, lambda o: condition(o, "Fresh")["observedGeneration"] == 2)

        # A change outside the spec (a label) re-renders nothing.
        await kubectl.patch(NAME, {"metadata": {"labels": {"team": "analytics"}}})
        await wait_for(kubectl, NAME, lambda o: o["metadata"].get("labels", {}).get("team") == "analytics")
    assert len(writes(kmock, "v1/configmaps", km.action.UPDATE)) == 1


@pytest.mark.parametrize("where", ["default", "airflow"])
async def test_a_configmap_deleted_or_changed_by_hand_is_restored_and_one_as_rendered_is_left_alone(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow, where: str
) -> None:
    """render reacts to the spec; the ConfigMap timer to the ConfigMap itself (level-triggered), in the
    pipeline's namespace (owned) as in Airflow's (GROCERY_CONFIG_NAMESPACE, no owner reference)."""
    airflow.load_dag(DAG)
    settings = make_settings(str(kmock.url), airflow.url, config_namespace=where)
    async with operator_running(kmock, settings):
        await kubectl.apply(pipeline_manifest(NAME, {"schedule": "0 3 * * *"}))
        await wait_for(kubectl, NAME, phase("Ready"))
        rendered = await configmap(kubectl, namespace=where)
        key = f"default__{NAME}.yaml"

        await kubectl.delete_configmap(where, CM)
        back = await eventually(lambda: configmap(kubectl, namespace=where), what="the ConfigMap back")
        assert back["data"] == rendered["data"]
        assert back["metadata"].get("ownerReferences") == rendered["metadata"].get("ownerReferences")
        restored = await eventually(lambda: _event(kubectl, "ConfigMapRestored"), what="the event")
        assert restored["type"] == "Warning"
        assert restored["message"] == (
            f"{where}/{CM} was deleted outside the operator: restored as rendered from the spec"
        )

        # Edited by hand: the pipeline document changed, the collector's label gone, a label of its own added.
        await kubectl.patch_configmap(where, CM, {
            "data": {key: "schedule: '@hourly'\n"},
            "metadata": {"labels": {"grocery.io/pipeline-config": None, "team": "analytics"}},
        })  # fmt: skip
        repaired = await eventually(
            lambda: _matches(configmap(kubectl, namespace=where), lambda cm: cm["data"] == rendered["data"]),
            what="the ConfigMap repaired",
        )
        assert repaired["metadata"]["labels"]["grocery.io/pipeline-config"] == "true"
        assert repaired["metadata"]["labels"]["team"] == "analytics"  # not ours: left as it is
        said = f"{where}/{CM} had its data, labels changed outside the operator: restored as rendered from the spec"

        async def _said() -> bool:  # the event is posted after the repair: on a busy machine, later
            return any(
                e.get("reason") == "ConfigMapRestored" and e.get("message") == said
                for e in await kubectl.events()
            )

        await eventually(_said, what="the event of the repair")

        # As rendered: many ticks (0.3 s) later, not one more write.
        written = len(writes(kmock, "v1/configmaps"))
        await asyncio.sleep(1.5)
        assert len(writes(kmock, "v1/configmaps")) == written
    assert len(writes(kmock, "v1/configmaps", km.action.CREATE)) == 2  # the first render and the restore
    assert len(writes(kmock, "v1/configmaps", km.action.UPDATE)) == 2  # the hand edit and the repair


async def test_relabelling_the_pipeline_leaves_its_configmap_alone(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow
) -> None:
    """The ConfigMap carries the operator's labels only: a label put on the resource (no new generation,
    so render does not run) is no drift for the ConfigMap timer, and no Warning."""
    airflow.load_dag(DAG)
    async with operator_running(kmock, make_settings(str(kmock.url), airflow.url)):
        await kubectl.apply(pipeline_manifest(NAME))
        await wait_for(kubectl, NAME, phase("Ready"))
        rendered = await configmap(kubectl)

        await kubectl.patch(NAME, {"metadata": {"labels": {"team": "analytics"}}})
        await asyncio.sleep(1.5)  # many ticks (0.3 s)
        cm = await configmap(kubectl)
        assert cm["metadata"]["labels"] == rendered["metadata"]["labels"]
        assert "team" not in cm["metadata"]["labels"]
        assert await _event(kubectl, "ConfigMapRestored") is None
    assert writes(kmock, "v1/configmaps", km.action.UPDATE) == []


class _HeldTick:
    """Holds the ConfigMap timer at one `KubeClient` call, once armed, until released: the race of a tick
    with render or finalize made deterministic (render's and finalize's calls are never held)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, method: str) -> None:
        self.armed = False
        self.entered, self.release, self.done = asyncio.Event(), asyncio.Event(), asyncio.Event()
        in_tick = contextvars.ContextVar("in_tick", default=False)
        tick, call = PipelineOperator.keep_configmap, getattr(KubeClient, method)

        async def keep_configmap(op: PipelineOperator, **kwargs) -> None:
            in_tick.set(True)  # this tick's task only
            await tick(op, **kwargs)
            if self.release.is_set():
                self.done.set()

        async def held(client: KubeClient, *args):
            if in_tick.get() and self.armed:
                self.armed = False
                self.entered.set()
                await self.release.wait()
            return await call(client, *args)

        monkeypatch.setattr(PipelineOperator, "keep_configmap", keep_configmap)
        monkeypatch.setattr(KubeClient, method, held)


def _schedule(cm: dict | None) -> str | None:
    """The schedule in the ConfigMap's pipeline document, if it is one (a hand edit may have broken it)."""
    document = yaml.safe_load(cm["data"][f"default__{NAME}.yaml"]) if cm else None
    return (document.get("spec") or {}).get("schedule") if isinstance(document, dict) else None


async def test_a_tick_begun_before_a_spec_update_leaves_the_newly_rendered_configmap_alone(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tick holding the old spec reads the ConfigMap only after render wrote the new one: rendered from
    a newer generation (grocery.io/generation), it is render's, not drift."""
    tick = _HeldTick(monkeypatch, "get_configmap")
    airflow.load_dag(DAG)
    async with operator_running(kmock, make_settings(str(kmock.url), airflow.url)):
        await kubectl.apply(pipeline_manifest(NAME, {"schedule": "0 3 * * *"}))
        await wait_for(kubectl, NAME, phase("Ready"))
        assert (await configmap(kubectl))["metadata"]["annotations"]["grocery.io/generation"] == "1"
        tick.armed = True
        await tick.entered.wait()  # a tick has the generation-1 spec and is about to read the ConfigMap

        await kubectl.patch(NAME, {"spec": {"schedule": "0 5 * * *"}})
        await eventually(lambda: _matches(configmap(kubectl), lambda cm: _schedule(cm) == "0 5 * * *"))
        tick.release.set()
        await tick.done.wait()
        await asyncio.sleep(1)  # more ticks (0.3 s), now of generation 2

        cm = await configmap(kubectl)
        assert (_schedule(cm), cm["metadata"]["annotations"]["grocery.io/generation"]) == ("0 5 * * *", "2")
        assert await _event(kubectl, "ConfigMapRestored") is None
    assert len(writes(kmock, "v1/configmaps", km.action.UPDATE)) == 1  # render's


async def test_a_tick_repairs_only_the_configmap_it_read(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tick read a hand-edited ConfigMap, then render wrote the new spec before the tick's repair
    arrived: the repair is refused (its resourceVersion precondition, 409) and the new spec stays."""
    tick = _HeldTick(monkeypatch, "patch_configmap")
    airflow.load_dag(DAG)
    async with operator_running(kmock, make_settings(str(kmock.url), airflow.url)):
        await kubectl.apply(pipeline_manifest(NAME, {"schedule": "0 3 * * *"}))
        await wait_for(kubectl, NAME, phase("Ready"))
        tick.armed = True
        await kubectl.patch_configmap(
            "default", CM, {"data": {f"default__{NAME}.yaml": "schedule: '@hourly'\n"}}
        )
        await tick.entered.wait()  # a tick read the edit and is about to repair it as of generation 1

        await kubectl.patch(NAME, {"spec": {"schedule": "0 5 * * *"}})
        await eventually(lambda: _matches(configmap(kubectl), lambda cm: _schedule(cm) == "0 5 * * *"))
        tick.release.set()
        await tick.done.wait()
        await asyncio.sleep(1)

        assert _schedule(await configmap(kubectl)) == "0 5 * * *"
        assert await _event(kubectl, "ConfigMapRestored") is None
    assert (
        len(writes(kmock, "v1/configmaps", km.action.UPDATE)) == 3
    )  # the edit, render's, the refused repair


async def test_a_tick_in_flight_during_a_deletion_does_not_recreate_the_configmap(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tick reading the ConfigMap when the pipeline is deleted finds it gone (finalize removed it) and
    creates nothing: outside the pipeline's namespace no owner reference would ever remove it."""
    tick = _HeldTick(monkeypatch, "get_configmap")
    airflow.load_dag(DAG)
    async with operator_running(
        kmock, make_settings(str(kmock.url), airflow.url, config_namespace="airflow")
    ):
        await kubectl.apply(pipeline_manifest(NAME))
        await wait_for(kubectl, NAME, phase("Ready"))
        tick.armed = True
        await tick.entered.wait()

        await kubectl.delete(NAME)
        await eventually(lambda: _true(airflow.is_paused(DAG)), what="finalize to have run")
        assert await configmap(kubectl, namespace="airflow") is None
        tick.release.set()
        await tick.done.wait()

        assert await configmap(kubectl, namespace="airflow") is None
        assert await _event(kubectl, "ConfigMapRestored") is None
    assert len(writes(kmock, "v1/configmaps", km.action.CREATE)) == 1


async def _matches(awaitable, check):
    got = await awaitable
    return got if got is not None and check(got) else None


async def test_suspend_and_resume_pause_and_unpause_the_dag(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow
) -> None:
    airflow.load_dag(DAG)
    async with operator_running(kmock, make_settings(str(kmock.url), airflow.url)):
        await kubectl.apply(pipeline_manifest(NAME))
        await wait_for(kubectl, NAME, phase("Ready"))
        assert not airflow.is_paused(DAG)

        await kubectl.patch(NAME, {"spec": {"suspend": True}})
        suspended = await wait_for(kubectl, NAME, phase("Suspended"))
        assert airflow.is_paused(DAG)
        assert condition(suspended, "Ready")["reason"] == "Suspended"

        airflow.dags[DAG].is_paused = False  # someone unpaused it in Airflow's UI
        await eventually(lambda: _true(airflow.is_paused(DAG)), what="the operator to pause it again")

        await kubectl.patch(NAME, {"spec": {"suspend": False}})
        await wait_for(kubectl, NAME, phase("Ready"))
        assert not airflow.is_paused(DAG)
        await eventually(lambda: _has(reasons(kubectl), "Paused", "Resumed", "PhaseSuspended"), what="events")
    patches = [(m, p) for m, p in airflow.requests if m == "PATCH"]
    assert patches, "is_paused went through Airflow's REST API"


async def _true(value: object) -> bool:
    return bool(value)


async def test_run_now_triggers_exactly_one_run_and_is_acknowledged(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow
) -> None:
    airflow.load_dag(DAG)
    async with operator_running(kmock, make_settings(str(kmock.url), airflow.url)):
        created = await kubectl.apply(pipeline_manifest(NAME, {"schedule": None}))
        await wait_for(kubectl, NAME, phase("Ready"))
        assert airflow.runs(DAG) == []

        await kubectl.patch(NAME, {"metadata": {"annotations": {RUN_NOW: "2024-06-01T10:00"}}})
        acked = await wait_for(
            kubectl, NAME, lambda o: o["status"].get("lastRunRequest") == "2024-06-01T10:00"
        )
        run_id = run_now_id(created["metadata"]["uid"], "2024-06-01T10:00")
        assert acked["status"]["lastRunRequestId"] == run_id
        assert [r.run_id for r in airflow.runs(DAG)] == [run_id]
        running = await wait_for(kubectl, NAME, phase("Running"))
        assert running["status"]["lastRun"]["id"] == run_id

        # Other changes to the resource do not trigger the same request again.
        await kubectl.patch(
            NAME, {"metadata": {"annotations": {"note": "unrelated"}}, "spec": {"catchup": False}}
        )
        await kubectl.patch(NAME, {"spec": {"freshnessHours": 48}})
        await wait_for(kubectl, NAME, lambda o: o["status"]["observedGeneration"] == 2)
        assert len(airflow.runs(DAG)) == 1

        await kubectl.patch(NAME, {"metadata": {"annotations": {RUN_NOW: "again"}}})
        await wait_for(kubectl, NAME, lambda o: o["status"].get("lastRunRequest") == "again")
        assert len(airflow.runs(DAG)) == 2
        assert "RunTriggered" in await reasons(kubectl)


async def test_a_failed_run_is_phase_failed_and_degraded_then_a_success_recovers(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow
) -> None:
    airflow.load_dag(DAG, paused=False)
    airflow.finish_run(
        DAG,
        "scheduled__2024-06-01",
        "failed",
        {"extract": "success", "load": "failed", "transform": "upstream_failed"},
    )
    async with operator_running(kmock, make_settings(str(kmock.url), airflow.url)):
        await kubectl.apply(pipeline_manifest(NAME, {"freshnessHours": 24}))
        failed = await wait_for(kubectl, NAME, phase("Failed"))
        assert failed["status"]["lastRun"]["id"] == "scheduled__2024-06-01"
        assert failed["status"]["lastRun"]["state"] == "failed"
        expected = {"extract": "success", "load": "failed", "transform": "upstream_failed"}
        assert failed["status"]["stages"] == [{"name": n, "state": expected.get(n)} for n in STAGES]
        degraded = condition(failed, "Degraded")
        assert (degraded["status"], degraded["reason"]) == ("True", "RunFailed")
        assert "load" in degraded["message"]
        events = await kubectl.events()
        assert any(e["reason"] == "PhaseFailed" and e["type"] == "Warning" for e in events)

        # A later success: Succeeded, not degraded, fresh.
        airflow.add_run(DAG, "scheduled__2024-06-02").run_after = "2999-01-01T00:00:00Z"
        airflow.finish_run(DAG, "scheduled__2024-06-02", "success", dict.fromkeys(STAGES, "success"))
        ok = await wait_for(kubectl, NAME, phase("Succeeded"))
        assert ok["status"]["lastSuccessfulRun"]["id"] == "scheduled__2024-06-02"
        assert condition(ok, "Degraded")["status"] == "False"
        assert (condition(ok, "Fresh")["status"], condition(ok, "Fresh")["reason"]) == (
            "True",
            "WithinTarget",
        )


async def test_data_older_than_the_freshness_target_is_stale(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow
) -> None:
    airflow.load_dag(DAG, paused=False)
    two_days_ago = (datetime.now(UTC) - timedelta(hours=48)).isoformat().replace("+00:00", "Z")
    airflow.finish_run(DAG, "scheduled__old", "success", dict.fromkeys(STAGES, "success"), end=two_days_ago)
    async with operator_running(kmock, make_settings(str(kmock.url), airflow.url)):
        await kubectl.apply(pipeline_manifest(NAME, {"freshnessHours": 24}))
        stale = await wait_for(kubectl, NAME, lambda o: condition(o, "Fresh").get("reason") == "Stale")
        assert condition(stale, "Fresh")["status"] == "False"
        assert "older than the 24h target" in condition(stale, "Fresh")["message"]
        await eventually(lambda: _has(reasons(kubectl), "Stale"), what="a Stale event")


async def test_airflow_down_or_failing_is_a_condition_and_recovers(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow
) -> None:
    airflow.load_dag(DAG, paused=False)
    airflow.finish_run(DAG, "scheduled__2024-06-01", "success", dict.fromkeys(STAGES, "success"))
    async with operator_running(kmock, make_settings(str(kmock.url), airflow.url)):
        await kubectl.apply(pipeline_manifest(NAME))
        await wait_for(kubectl, NAME, phase("Succeeded"))

        airflow.down()
        down = await wait_for(
            kubectl, NAME, lambda o: condition(o, "Degraded").get("reason") == "AirflowUnreachable"
        )
        assert condition(down, "Degraded")["status"] == "True"
        assert (condition(down, "Ready")["status"], condition(down, "Ready")["reason"]) == (
            "False",
            "AirflowUnreachable",
        )
        assert down["status"]["phase"] == "Succeeded"  # the last known state is kept
        assert down["status"]["lastSuccessfulRun"]["id"] == "scheduled__2024-06-01"

        airflow.up()
        await wait_for(
            kubectl, NAME, lambda o: condition(o, "Degraded").get("status") == "False", what="recovery"
        )

        airflow.failing = 500
        failing = await wait_for(
            kubectl, NAME, lambda o: condition(o, "Degraded").get("reason") == "AirflowError"
        )
        assert "500" in condition(failing, "Degraded")["message"]
        airflow.failing = None
        recovered = await wait_for(kubectl, NAME, lambda o: condition(o, "Ready").get("status") == "True")
        assert recovered["status"]["phase"] == "Succeeded"


async def test_missing_airflow_credentials_are_a_condition(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow
) -> None:
    settings = make_settings(str(kmock.url), airflow.url, airflow_secret="no-such-secret")
    async with operator_running(kmock, settings):
        await kubectl.apply(pipeline_manifest(NAME))
        obj = await wait_for(
            kubectl, NAME, lambda o: condition(o, "Ready").get("reason") == "CredentialsMissing"
        )
        assert "grocery-system/no-such-secret" in condition(obj, "Ready")["message"]
        # Kubernetes-side work does not wait for Airflow (the create handler and the timer run side by side).
        assert await eventually(lambda: configmap(kubectl), what="the ConfigMap despite missing credentials")


async def test_delete_removes_the_configmap_and_pauses_the_dag_keeping_data(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow
) -> None:
    airflow.load_dag(DAG)
    async with operator_running(kmock, make_settings(str(kmock.url), airflow.url)):
        await kubectl.apply(pipeline_manifest(NAME))
        obj = await wait_for(kubectl, NAME, phase("Ready"))
        assert "grocery.io/finalizer" in obj["metadata"]["finalizers"]
        assert not airflow.is_paused(DAG)

        await kubectl.delete(NAME)
        await eventually(lambda: kubectl_gone(kubectl), what="the pipeline to be gone")
        assert await configmap(kubectl) is None
        assert airflow.is_paused(DAG)
        assert writes(kmock, JOBS) == [] and await kubectl.jobs(JOB_NS) == []  # Retain: no data deletion


async def kubectl_gone(kubectl: Kubectl) -> bool:
    return await kubectl.get(NAME) is None


JOB_NS = "grocery-jobs"
CLOUD_SPEC = {
    "onDelete": "Delete",
    "lake": "gs://grocery-lake/prod",
    "warehouse": {"kind": "bigquery", "project": "acme", "datasetPrefix": "prod_"},
    "execution": {
        "mode": "kubernetes", "namespace": JOB_NS, "image": "registry/grocery-pipeline:1.2.3",
        "serviceAccountName": "grocery-pipeline", "secretEnv": ["grocery-kaggle"],
    },
}  # fmt: skip


async def deleted_with_a_purge_job(kubectl: Kubectl) -> dict:
    """Apply a pipeline whose data is in the cloud, let it get Ready, delete it: the data-deletion Job that appears."""
    created = await kubectl.apply(pipeline_manifest(NAME, CLOUD_SPEC))
    await wait_for(kubectl, NAME, phase("Ready"))
    await kubectl.delete(NAME)
    (job,) = await eventually(lambda: kubectl.jobs(JOB_NS), what="the data-deletion Job")
    assert job["metadata"]["name"] == purge_job_name("default", NAME, created["metadata"]["uid"])
    return job


async def still_there_after_retries(kubectl: Kubectl, seconds: float = 1.5) -> dict:
    """The pipeline, still held by its finalizer after several of the operator's retries (0.2 s, doubling)."""
    await asyncio.sleep(seconds)
    obj = await kubectl.get(NAME)
    assert obj is not None and obj["metadata"].get("deletionTimestamp"), "the pipeline went before its data"
    return obj


async def test_delete_with_on_delete_delete_runs_one_purge_job_and_waits_for_it(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow
) -> None:
    airflow.load_dag(DAG)
    async with operator_running(kmock, make_settings(str(kmock.url), airflow.url)):
        job = await deleted_with_a_purge_job(kubectl)

        # The pipeline is stopped first (no run writes while its data goes), its data then.
        assert await configmap(kubectl) is None and airflow.is_paused(DAG)
        pod = job["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert (container["command"], container["args"]) == (["grocery"], purge_args())
        assert container["args"][:2] == ["purge", "--yes"]
        assert container["image"] == "registry/grocery-pipeline:1.2.3"
        assert container["envFrom"] == [{"secretRef": {"name": "grocery-kaggle"}}]
        assert pod["serviceAccountName"] == "grocery-pipeline" and pod["restartPolicy"] == "Never"
        # The pod's own copy of the pipeline file: the spec being deleted, whatever happens to the ConfigMap.
        document = job["spec"]["template"]["metadata"]["annotations"]["grocery.io/pipeline"]
        copy = read_pipeline(document, origin="the Job")
        assert (copy.name, copy.spec.lake, copy.spec.warehouse.dataset_prefix) == (
            NAME,
            "gs://grocery-lake/prod",
            "prod_",
        )
        assert "ownerReferences" not in job["metadata"]  # it must not be collected with the pipeline

        await still_there_after_retries(kubectl)
        await kubectl.finish_job(JOB_NS, job["metadata"]["name"], "Complete")
        await eventually(lambda: kubectl_gone(kubectl), what="the pipeline to be gone")
        await eventually(lambda: _has(reasons(kubectl), "DataDeletionStarted", "DataDeleted"), what="events")
    assert len(writes(kmock, JOBS, km.action.CREATE)) == 1


async def test_a_run_in_progress_is_failed_before_the_purge_job_starts(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow
) -> None:
    airflow.load_dag(DAG)
    airflow.finish_run(DAG, "yesterday", "success", {"load": "success"})
    async with operator_running(kmock, make_settings(str(kmock.url), airflow.url)):
        await kubectl.apply(pipeline_manifest(NAME, CLOUD_SPEC))
        await wait_for(kubectl, NAME, phase("Succeeded"))
        running = airflow.add_run(DAG, "today", state="running")
        running.tasks = {"extract": {"state": "success"}, "load": {"state": "running"}}
        await kubectl.delete(NAME)
        await eventually(lambda: kubectl.jobs(JOB_NS), what="the data-deletion Job")
        # Failed by the operator, with a note saying why, and before the Job (no stage writes while it deletes).
        assert [(run_id, state) for _, run_id, state in airflow.patched_runs] == [("today", "failed")]
        assert running.state == "failed" and "deleted" in running.note
        assert running.tasks["load"]["state"] == "failed"
        stopped = await eventually(lambda: _event(kubectl, "RunsStopped"), what="the RunsStopped event")
        assert "today" in stopped["message"]
        assert next(r for r in airflow.runs(DAG) if r.run_id == "yesterday").state == "success"


async def test_airflow_down_during_the_deletion_delays_the_purge_job_then_warns(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow
) -> None:
    airflow.load_dag(DAG)
    async with operator_running(kmock, make_settings(str(kmock.url), airflow.url, delete_timeout="1.5")):
        await kubectl.apply(pipeline_manifest(NAME, CLOUD_SPEC))
        await wait_for(kubectl, NAME, phase("Ready"))
        airflow.failing = 500
        await kubectl.delete(NAME)
        await asyncio.sleep(0.8)
        assert await kubectl.jobs(JOB_NS) == []  # Airflow is retried first: runs may still be writing
        await eventually(lambda: kubectl.jobs(JOB_NS), what="the data-deletion Job")
        warning = await eventually(lambda: _event(kubectl, "RunsNotStopped"), what="the warning")
        assert warning["type"] == "Warning" and "500" in warning["message"]


async def test_a_failed_purge_job_is_one_warning_and_the_pipeline_stays_until_retain(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow
) -> None:
    airflow.load_dag(DAG)
    async with operator_running(kmock, make_settings(str(kmock.url), airflow.url)):
        job = await deleted_with_a_purge_job(kubectl)
        name = job["metadata"]["name"]
        await kubectl.finish_job(JOB_NS, name, "Failed", "BackoffLimitExceeded")

        warning = await eventually(lambda: _event(kubectl, "DataDeletionFailed"), what="the warning")
        assert warning["type"] == "Warning"
        assert "BackoffLimitExceeded" in warning["message"] and "spec.onDelete=Retain" in warning["message"]
        assert f"kubectl delete job -n {JOB_NS} {name}" in warning["message"]
        await still_there_after_retries(kubectl)
        assert (await reasons(kubectl)).count("DataDeletionFailed") == 1  # said once, not at every retry

        # Deleting the failed Job (after fixing the cause) runs it again.
        await kubectl.delete_job(JOB_NS, name)
        await eventually(lambda: kubectl.jobs(JOB_NS), what="a second Job")
        await kubectl.finish_job(JOB_NS, name, "Failed", "BackoffLimitExceeded")
        await eventually(lambda: _count(reasons(kubectl), "DataDeletionFailed", 2), what="a second warning")

        # Keeping the data instead lets the deletion finish, with no further Job.
        await kubectl.patch(NAME, {"spec": {"onDelete": "Retain"}})
        await eventually(lambda: kubectl_gone(kubectl), what="the pipeline to be gone")
    assert len(writes(kmock, JOBS, km.action.CREATE)) == 2


async def test_switching_to_retain_while_the_purge_runs_stops_it_and_lets_the_pipeline_go(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow
) -> None:
    airflow.load_dag(DAG)
    async with operator_running(kmock, make_settings(str(kmock.url), airflow.url)):
        await deleted_with_a_purge_job(kubectl)
        await kubectl.patch(NAME, {"spec": {"onDelete": "Retain"}})
        await eventually(lambda: kubectl_gone(kubectl), what="the pipeline to be gone")
        assert await kubectl.jobs(JOB_NS) == []  # the running purge is stopped
        assert "DataDeletionStopped" in await reasons(kubectl)
    assert len(writes(kmock, JOBS, km.action.CREATE)) == 1


async def test_a_restart_during_the_purge_creates_no_second_job(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow
) -> None:
    airflow.load_dag(DAG)
    settings = make_settings(str(kmock.url), airflow.url)
    async with operator_running(kmock, settings):
        job = await deleted_with_a_purge_job(kubectl)
    # The operator stops while the Job runs, and starts again.
    looked = len(_job_reads(kmock))
    async with operator_running(kmock, settings):
        await eventually(
            lambda: _true(len(_job_reads(kmock)) > looked), what="the new operator to find the Job"
        )
        await still_there_after_retries(kubectl, 0.5)
        await kubectl.finish_job(JOB_NS, job["metadata"]["name"], "Complete")
        await eventually(lambda: kubectl_gone(kubectl), what="the pipeline to be gone")
    assert len(writes(kmock, JOBS, km.action.CREATE)) == 1


async def test_data_on_the_airflow_workers_disks_is_named_not_deleted_by_a_job(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow
) -> None:
    spec = {"onDelete": "Delete", "lake": "file:///data/grocery/lake", "execution": {"mode": "local"}}
    airflow.load_dag(DAG)
    async with operator_running(kmock, make_settings(str(kmock.url), airflow.url)):
        await kubectl.apply(pipeline_manifest(NAME, spec))
        await wait_for(kubectl, NAME, phase("Ready"))
        await kubectl.delete(NAME)
        await eventually(lambda: kubectl_gone(kubectl), what="the pipeline to be gone")
        warning = await eventually(lambda: _event(kubectl, "DataNotDeleted"), what="the warning")
        assert (
            "file:///data/grocery/lake" in warning["message"] and "grocery purge --yes" in warning["message"]
        )
    assert writes(kmock, JOBS) == []


async def test_a_pipeline_applied_again_after_its_data_was_deleted_reports_none_of_the_old_runs(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow
) -> None:
    airflow.load_dag(DAG, paused=False)
    airflow.finish_run(DAG, "scheduled__2024-06-01", "success", dict.fromkeys(STAGES, "success"))
    airflow.finish_run(DAG, "scheduled__2024-06-02", "failed", {"extract": "success", "load": "failed"})
    async with operator_running(kmock, make_settings(str(kmock.url), airflow.url)):
        first = await kubectl.apply(pipeline_manifest(NAME, CLOUD_SPEC))
        await wait_for(kubectl, NAME, phase("Failed"))
        await kubectl.delete(NAME)
        (job,) = await eventually(lambda: kubectl.jobs(JOB_NS), what="the data-deletion Job")
        await kubectl.finish_job(JOB_NS, job["metadata"]["name"], "Complete")
        await eventually(lambda: kubectl_gone(kubectl), what="the pipeline to be gone")

        second = await kubectl.apply(pipeline_manifest(NAME, CLOUD_SPEC))
        assert second["metadata"]["uid"] != first["metadata"]["uid"]
        obj = await wait_for(kubectl, NAME, lambda o: (o.get("status") or {}).get("lastChecked"))
        status, fresh = obj["status"], condition(obj, "Fresh")
        assert status["phase"] == "Pending"
        assert status.get("lastRun") is None and status.get("lastSuccessfulRun") is None
        assert (fresh["status"], fresh["reason"]) == ("False", "NeverSucceeded")
        assert condition(obj, "Degraded")["status"] == "False"
        # Airflow forgot the DAG with its runs, as the data went (its file went with the ConfigMap).
        assert DAG not in airflow.dags and "DagDeleted" in await reasons(kubectl)

        airflow.load_dag(DAG)  # the DAG processor parses the new DAG file: a DAG without runs
        obj = await wait_for(kubectl, NAME, phase("Ready"))
        assert obj["status"].get("lastRun") is None and obj["status"].get("lastSuccessfulRun") is None


async def test_airflow_failing_to_delete_the_dag_is_a_warning_and_the_pipeline_goes(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow
) -> None:
    airflow.load_dag(DAG)
    async with operator_running(kmock, make_settings(str(kmock.url), airflow.url, delete_timeout="1.5")):
        job = await deleted_with_a_purge_job(kubectl)
        airflow.finish_run(DAG, "scheduled__2024-06-01", "success", {"load": "success"})
        airflow.failing = 500
        await kubectl.finish_job(JOB_NS, job["metadata"]["name"], "Complete")
        await still_there_after_retries(kubectl, 0.8)  # Airflow is retried first
        await eventually(lambda: kubectl_gone(kubectl), what="the pipeline to be gone")
        warning = await eventually(lambda: _event(kubectl, "DagNotDeleted"), what="the warning")
        assert warning["type"] == "Warning" and "500" in warning["message"] and DAG in warning["message"]
        assert (await reasons(kubectl)).count("DataDeleted") == 1  # once, despite the retries
    assert [r.run_id for r in airflow.runs(DAG)] == ["scheduled__2024-06-01"]


async def _event(kubectl: Kubectl, reason: str) -> dict | None:
    return next((e for e in await kubectl.events() if e.get("reason") == reason), None)


async def _count(awaitable, wanted: str, n: int) -> bool:
    return (await awaitable).count(wanted) >= n


def _job_reads(server: km.KubernetesEmulator) -> list[km.Request]:
    return [r for r in list(server) if r.resource == JOBS and r.action == km.action.FETCH]


async def test_a_restart_in_the_middle_makes_no_duplicate_configmap_or_run(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow
) -> None:
    settings = make_settings(str(kmock.url), airflow.url)
    async with operator_running(kmock, settings):
        created = await kubectl.apply(pipeline_manifest(NAME, annotations={RUN_NOW: "first"}))
        await eventually(lambda: configmap(kubectl), what="the ConfigMap")
        # The DAG is not loaded: run-now keeps retrying. The operator stops here.
    assert airflow.runs(DAG) == []

    # Meanwhile Airflow loads the DAG, and (say) the first operator's trigger did reach Airflow but its
    # acknowledgement never reached Kubernetes: the run exists, status.lastRunRequest does not.
    run_id = run_now_id(created["metadata"]["uid"], "first")
    airflow.load_dag(DAG)
    airflow.add_run(DAG, run_id)

    async with operator_running(kmock, settings):
        acked = await wait_for(kubectl, NAME, lambda o: o["status"].get("lastRunRequest") == "first")
        assert acked["status"]["lastRunRequestId"] == run_id
        await wait_for(kubectl, NAME, phase("Running"))
    assert [r.run_id for r in airflow.runs(DAG)] == [run_id]

    # A third start re-delivers everything (kmock replays all objects): still nothing new.
    checked = (await kubectl.get(NAME))["status"]["lastChecked"]
    async with operator_running(kmock, settings):
        await wait_for(
            kubectl, NAME, lambda o: o["status"]["lastChecked"] != checked, what="a status refresh"
        )
    assert len(airflow.runs(DAG)) == 1
    assert len(writes(kmock, "v1/configmaps", km.action.CREATE)) == 1
    assert writes(kmock, "v1/configmaps", km.action.UPDATE) == []
    assert len([cm for cm in await kubectl.configmaps() if cm["metadata"]["name"] == CM]) == 1
