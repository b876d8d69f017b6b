"""What the operator renders: the ConfigMap the DAG factory reads, its name, drift, run ids, the data-deletion Job."""

from __future__ import annotations

import pytest

from grocery.airflow import manifests
from grocery.airflow.commands import pod_args
from grocery.airflow.dagfile import DAG_FILE
from grocery.config import NamedPipeline, PipelineSpec, parse_spec, read_pipeline
from grocery.operator.resources import (
    CONFIG_LABEL,
    build_configmap,
    build_purge_job,
    configmap_drift,
    configmap_name,
    data_locations,
    job_pipeline,
    job_state,
    purge_job_name,
    rendered_generation,
    run_now_id,
)  # fmt: skip

PIPELINE = NamedPipeline(
    name="nightly", namespace="team-a", spec=PipelineSpec().with_overrides(**{"source.scale": 0.2})
)


def test_the_configmap_holds_the_document_the_dag_factory_reads() -> None:
    cm = build_configmap(PIPELINE, "airflow", 3)
    assert cm["metadata"]["namespace"] == "airflow"
    assert cm["metadata"]["labels"][CONFIG_LABEL] == "true"
    assert cm["metadata"]["annotations"]["grocery.io/dag-id"] == "grocery__team-a__nightly"
    key = PIPELINE.file_name
    assert sorted(cm["data"]) == ["team-a__nightly.py", "team-a__nightly.yaml"]
    assert read_pipeline(cm["data"][key], origin=key) == PIPELINE
    assert cm["data"]["team-a__nightly.py"] == DAG_FILE  # the folder collecting these is a DAG folder
    assert build_configmap(PIPELINE, "airflow", 3) == cm  # deterministic
    assert rendered_generation(cm) == 3  # the generation of the resource it was rendered from
    assert rendered_generation({"metadata": {"annotations": {"grocery.io/generation": "x"}}}) is None
    assert rendered_generation({"metadata": {}}) is None


def test_configmap_names_are_unique_across_namespaces_and_short_enough() -> None:
    assert configmap_name("a-b", "c") != configmap_name("a", "b-c")
    assert configmap_name("default", "nightly") == "grocerypipeline.default.nightly"
    long = configmap_name("n" * 63, "x" * 253)
    assert len(long) <= 253 and long == configmap_name("n" * 63, "x" * 253)
    assert configmap_name("n" * 63, "x" * 253) != configmap_name("n" * 63, "x" * 252 + "y")


def test_no_drift_means_no_patch_and_drift_is_patched_precisely() -> None:
    desired = build_configmap(PIPELINE, "team-a", 1)
    assert configmap_drift(desired, desired) is None
    live = {
        **desired,
        "data": {"old__name.yaml": "x"},
        "metadata": {**desired["metadata"], "labels": {"other": "1"}},
    }
    patch = configmap_drift(live, desired)
    assert patch["data"] == {"old__name.yaml": None, **desired["data"]}
    assert patch["metadata"] == {"labels": desired["metadata"]["labels"]}


def test_an_owner_reference_missing_on_the_live_configmap_is_drift() -> None:
    desired = build_configmap(PIPELINE, "team-a", 1)
    owned = {
        **desired,
        "metadata": {**desired["metadata"], "ownerReferences": [{"uid": "u", "kind": "GroceryPipeline"}]},
    }
    assert configmap_drift(desired, owned) == {
        "metadata": {"ownerReferences": owned["metadata"]["ownerReferences"]}
    }


def test_run_now_ids_are_deterministic_per_request_and_airflow_safe() -> None:
    a = run_now_id("uid-1", "2024-06-01T10:00:00Z")
    assert a == run_now_id("uid-1", "2024-06-01T10:00:00Z")
    assert a != run_now_id("uid-1", "2024-06-01T10:00:01Z")
    assert a != run_now_id("uid-2", "2024-06-01T10:00:00Z")  # a re-created pipeline asks anew
    weird = run_now_id("u", "now please / é ")
    assert weird.startswith("run-now__now-please") and all(c.isalnum() or c in "_.~:+-" for c in weird)


CLOUD = NamedPipeline(
    name="adhoc",
    namespace="team-a",
    spec=parse_spec(
        {
            "onDelete": "Delete",
            "lake": "gs://lake/adhoc",
            "warehouse": {"kind": "bigquery", "project": "acme", "datasetPrefix": "adhoc_"},
            "execution": {
                "mode": "kubernetes",
                "namespace": "jobs",
                "secretEnv": ["kaggle"],
                "timeoutMinutes": 30,
            },
        }
    ),
)


def test_the_purge_job_runs_grocery_purge_as_a_stage_pod_would_run_a_stage() -> None:
    job = build_purge_job(CLOUD, "uid-1")
    execution = CLOUD.spec.execution
    assert (job["apiVersion"], job["kind"], job["metadata"]["namespace"]) == ("batch/v1", "Job", "jobs")
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["grocery"]
    # The stage pods' home and pipeline file, one place each (grocery.airflow.commands).
    assert container["args"] == [
        "purge",
        "--yes",
        *pod_args("extract")[-4:],
    ]  # the stage pods' --home, --config
    assert (container["image"], container["imagePullPolicy"]) == (
        execution.image,
        execution.image_pull_policy,
    )
    assert container["envFrom"] == [{"secretRef": {"name": "kaggle"}}]
    assert container["env"] == manifests.pod_env()
    assert container["securityContext"] == manifests.container_security_context()
    assert container["volumeMounts"] == manifests.pod_volume_mounts()
    assert (
        pod["volumes"] == manifests.pod_volumes()
        and pod["securityContext"] == manifests.pod_security_context()
    )
    assert (pod["serviceAccountName"], pod["automountServiceAccountToken"]) == (
        execution.service_account_name,
        False,
    )
    assert read_pipeline(job_pipeline(job), origin="job") == CLOUD  # what the downward API projects
    assert job["spec"]["activeDeadlineSeconds"] == 30 * 60 and job["spec"]["ttlSecondsAfterFinished"] > 0
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "data-deletion"
    assert build_purge_job(CLOUD, "uid-1") == job  # deterministic


def test_the_purge_job_validates_against_the_kubernetes_schema() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    kubernetes_validate.validate(build_purge_job(CLOUD, "uid-1"), "1.33", strict=True)
    kubernetes_validate.validate(build_purge_job(PIPELINE, "uid-2"), "1.33", strict=True)


def test_purge_job_names_are_dns_labels_per_resource_instance() -> None:
    name = purge_job_name("team-a", "adhoc", "uid-1")
    assert name == purge_job_name("team-a", "adhoc", "uid-1")
    assert name != purge_job_name("team-a", "adhoc", "uid-2")  # a re-created pipeline purges anew
    assert name != purge_job_name("team", "a-adhoc", "uid-1")
    long = purge_job_name("n" * 63, "x" * 253, "u")
    assert len(long) <= 63 and all(c.isalnum() or c == "-" for c in long) and long[0].isalpha()


def test_job_state_follows_the_terminal_conditions_only() -> None:
    assert job_state({}) == ("running", "")
    ready = {"status": {"conditions": [{"type": "SuccessCriteriaMet", "status": "True"}]}}
    assert job_state(ready) == ("running", "")
    assert job_state({"status": {"conditions": [{"type": "Complete", "status": "True"}]}}) == (
        "succeeded",
        "",
    )
    failed = {"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "too long"}
    assert job_state({"status": {"conditions": [failed]}}) == ("failed", "DeadlineExceeded: too long")
    assert job_state({"status": {"conditions": [{**failed, "status": "False"}]}}) == ("running", "")


def test_a_job_reaches_cloud_data_and_names_what_sits_on_local_disks() -> None:
    remote, local = data_locations(CLOUD.spec)
    assert remote == [
        "the lake gs://lake/adhoc",
        "the BigQuery datasets acme.adhoc_{raw,quarantine,staging,core,marts,analytics}",
    ]
    assert local == []
    assert data_locations(PipelineSpec()) == (
        [],
        ["the lake <home>/lake", "the DuckDB file <home>/warehouse.duckdb"],
    )


def test_a_pipeline_without_images_or_with_the_crds_old_defaults_gets_the_operators() -> None:
    from grocery.operator.resources import with_images

    release = ("r.example/grocery-pipeline:2.0", "r.example/grocery-pipeline-spark:2.0")
    assert with_images({}, *release) == {"execution": {"image": release[0]}, "spark": {"image": release[1]}}
    # Stored by the API server in every pipeline made under the old CRD, which gave these defaults.
    stored = {"execution": {"image": "grocery-pipeline:latest", "mode": "kubernetes"},
              "spark": {"image": "grocery-pipeline-spark:latest"}}  # fmt: skip
    assert with_images(stored, *release) == {
        "execution": {"image": release[0], "mode": "kubernetes"},
        "spark": {"image": release[1]},
    }
    pinned = {"execution": {"image": "mine/pipeline:7"}, "spark": {"image": "mine/spark:7"}}
    assert with_images(pinned, *release) == pinned
    assert with_images(stored, "", "") == stored  # an operator without images leaves the spec's
