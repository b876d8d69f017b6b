"""Argo CD: the GroceryPipeline health check, run with real Lua (lupa) against sample statuses the
operator writes; the argocd-cm copy of the script; and the Application wiring of the one-owner rule."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml

from tests.deploy.conftest import ROOT

lupa = pytest.importorskip("lupa")

ARGOCD = ROOT / "deploy" / "argocd"
SCRIPT = (ARGOCD / "health" / "grocerypipeline.lua").read_text()
CM_KEY = "resource.customizations.health.grocery.io_GroceryPipeline"


def health(obj: dict) -> tuple[str, str]:
    """Run the script the way Argo CD does: `obj` is the resource, the script returns {status, message}."""
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    check = lua.eval("function(obj) " + SCRIPT + " end")
    result = check(lua.table_from(obj, recursive=True))
    return result["status"], result["message"]


def pipeline(status: dict | None = None, generation: int = 3, **spec) -> dict:
    obj = {"apiVersion": "grocery.io/v1alpha1", "kind": "GroceryPipeline",
           "metadata": {"name": "daily", "namespace": "grocery", "generation": generation}, "spec": spec}  # fmt: skip
    if status is not None:
        obj["status"] = status
    return obj


def cond(type_: str, status: str, reason: str, message: str = "") -> dict:
    return {"type": type_, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": "2026-11-26T10:00:00Z", "observedGeneration": 3}  # fmt: skip


HEALTHY_CONDITIONS = [
    cond("Ready", "True", "DagActive", "DAG grocery__grocery__daily is loaded and scheduled (@daily)"),
    cond("Degraded", "False", "AsExpected", "Airflow answers and the last run did not fail"),
    cond("Fresh", "True", "WithinTarget", "last success 3.0h ago (target 36h)"),
]

# What the operator writes for a spec it refuses (generation 3): Ready is False for that generation,
# and observedGeneration stays at the last generation it rendered.
REFUSED = {
    "phase": "Ready",
    "observedGeneration": 2,
    "conditions": [
        {
            **cond("Ready", "False", "InvalidSpec", "spec.schedule: '0 25 * * *' is not valid"),
            "observedGeneration": 3,
        },
        *HEALTHY_CONDITIONS[1:],
    ],
}

CASES = {
    "new, no status yet": (pipeline(), "Progressing", "Waiting for the operator"),
    "spec changed, not yet rendered": (
        pipeline({"phase": "Ready", "observedGeneration": 2, "conditions": HEALTHY_CONDITIONS}, generation=3),
        "Progressing",
        "generation 3",
    ),
    "spec refused by the operator": (pipeline(REFUSED, generation=3), "Degraded", "is not valid"),
    "refused spec changed again, not yet rendered": (
        pipeline(REFUSED, generation=4),
        "Progressing",
        "generation 4",
    ),
    "DAG not loaded yet": (
        pipeline(
            {
                "phase": "Pending",
                "observedGeneration": 3,
                "conditions": [
                    cond(
                        "Ready",
                        "False",
                        "DagNotLoaded",
                        "Airflow has not loaded DAG grocery__grocery__daily yet",
                    ),
                    cond("Degraded", "False", "AsExpected"),
                    cond("Fresh", "False", "NeverSucceeded", "no successful run yet"),
                ],
            }
        ),
        "Progressing",
        "has not loaded",
    ),
    "ready, never ran": (
        pipeline(
            {
                "phase": "Ready",
                "observedGeneration": 3,
                "conditions": [
                    HEALTHY_CONDITIONS[0],
                    HEALTHY_CONDITIONS[1],
                    cond("Fresh", "False", "NeverSucceeded", "no successful run yet"),
                ],
            }
        ),
        "Healthy",
        "loaded and scheduled",
    ),
    "running": (
        pipeline({"phase": "Running", "observedGeneration": 3, "conditions": HEALTHY_CONDITIONS}),
        "Healthy",
        "scheduled",
    ),
    "succeeded": (
        pipeline({"phase": "Succeeded", "observedGeneration": 3, "conditions": HEALTHY_CONDITIONS}),
        "Healthy",
        "",
    ),
    "failed run": (
        pipeline(
            {
                "phase": "Failed",
                "observedGeneration": 3,
                "conditions": [
                    HEALTHY_CONDITIONS[0],
                    cond("Degraded", "True", "RunFailed", "run scheduled__2026-11-25 failed at stage load"),
                    HEALTHY_CONDITIONS[2],
                ],
            }
        ),
        "Degraded",
        "failed at stage load",
    ),
    "Airflow unreachable": (
        pipeline(
            {
                "phase": "Succeeded",
                "observedGeneration": 3,
                "conditions": [
                    cond("Ready", "False", "AirflowUnreachable", "connection refused"),
                    cond("Degraded", "True", "AirflowUnreachable", "connection refused"),
                    HEALTHY_CONDITIONS[2],
                ],
            }
        ),
        "Degraded",
        "connection refused",
    ),
    "stale data": (
        pipeline(
            {
                "phase": "Succeeded",
                "observedGeneration": 3,
                "conditions": [
                    HEALTHY_CONDITIONS[0],
                    HEALTHY_CONDITIONS[1],
                    cond("Fresh", "False", "Stale", "last success 50.0h ago, older than the 36h target"),
                ],
            }
        ),
        "Degraded",
        "older than the 36h target",
    ),
    "suspended": (
        pipeline(
            {
                "phase": "Suspended",
                "observedGeneration": 3,
                "conditions": [
                    cond(
                        "Ready",
                        "True",
                        "Suspended",
                        "DAG grocery__grocery__daily is loaded and paused (spec.suspend)",
                    ),
                ],
            },
            suspend=True,
        ),
        "Suspended",
        "paused",
    ),
    "suspended in spec, status not yet refreshed": (
        pipeline({"phase": "Ready", "observedGeneration": 3, "conditions": HEALTHY_CONDITIONS}, suspend=True),
        "Suspended",
        "",
    ),
    "status without conditions": (
        pipeline({"phase": "Succeeded", "observedGeneration": 3}),
        "Healthy",
        "Succeeded",
    ),
    "unknown phase": (
        pipeline({"phase": "Exploded", "observedGeneration": 3}),
        "Progressing",
        "Unknown phase",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_health_maps_status_to_argo_health(case):
    obj, expected, words = CASES[case]
    status, message = health(obj)
    assert status == expected, message
    assert words in message


def test_health_only_returns_argo_statuses():
    assert {health(obj)[0] for obj, _, _ in CASES.values()} == {
        "Healthy",
        "Progressing",
        "Degraded",
        "Suspended",
    }


def test_health_follows_the_operators_phases():
    status_module = pytest.importorskip("grocery.operator.status")
    phases = {p.value for p in status_module.Phase}
    for phase in phases:
        obj = pipeline({"phase": phase, "observedGeneration": 3})
        assert health(obj)[0] != "Progressing" or phase == "Pending", f"phase {phase} is not mapped"


def test_a_spec_the_operator_refuses_is_degraded_not_progressing_forever():
    """What the operator writes for a refused spec: Ready=False InvalidSpec, observedGeneration left behind."""
    status_module = pytest.importorskip("grocery.operator.status")
    before = status_module.PipelineStatus.model_validate(
        {"phase": "Ready", "observedGeneration": 2, "conditions": HEALTHY_CONDITIONS}
    )
    after = status_module.refused(before, 3, "spec.schedule: '0 25 * * *' is not valid", datetime.now(UTC))
    status = after.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert status["observedGeneration"] == 2
    state, message = health(pipeline(status, generation=3))
    assert state == "Degraded"
    assert "is not valid" in message and "keeps running generation 2" in message


def test_argocd_cm_holds_the_same_script():
    patch = yaml.safe_load((ARGOCD / "argocd-cm-patch.yaml").read_text())
    assert patch["data"][CM_KEY].strip() == SCRIPT.strip()


def test_only_prod_is_owned_by_argocd():
    apps = [yaml.safe_load(p.read_text()) for p in ARGOCD.rglob("application*.yaml")]
    assert [a["metadata"]["labels"]["grocery.io/environment"] for a in apps] == ["prod"]
    (app,) = apps
    assert app["kind"] == "Application" and app["spec"]["project"] == "grocery-pipeline"
    chart, values = app["spec"]["sources"]
    assert chart["path"] == "charts/grocery-pipeline"
    assert chart["helm"]["valueFiles"] == ["$values/deploy/argocd/prod/values.yaml"]
    assert values["ref"] == "values" and values["targetRevision"] == "main"
    assert chart["targetRevision"].startswith("v")
    assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert (ROOT / "deploy" / "argocd" / "prod" / "values.yaml").exists()


def test_project_allows_what_the_chart_renders(chart):
    from tests.deploy.conftest import render
    from tests.deploy.test_chart import VALUE_SETS

    project = yaml.safe_load((ARGOCD / "project.yaml").read_text())["spec"]
    allowed = {
        (k["group"], k["kind"])
        for k in project["clusterResourceWhitelist"] + project["namespaceResourceWhitelist"]
    }
    for obj in render(chart, VALUE_SETS["env-prod"]):
        group = obj["apiVersion"].rpartition("/")[0]
        assert (group, obj["kind"]) in allowed, obj["kind"]
    assert ("apiextensions.k8s.io", "CustomResourceDefinition") in allowed
