"""What the operator renders: the ConfigMap the DAG factory reads, its name, drift, run ids."""

from __future__ import annotations

from grocery.airflow.dagfile import DAG_FILE
from grocery.config import NamedPipeline, PipelineSpec, read_pipeline
from grocery.operator.resources import (
    CONFIG_LABEL,
    build_configmap,
    build_deletion_request,
    configmap_drift,
    configmap_name,
    run_now_id,
)  # fmt: skip

PIPELINE = NamedPipeline(
    name="nightly", namespace="team-a", spec=PipelineSpec().with_overrides(**{"source.scale": 0.2})
)


def test_the_configmap_holds_the_document_the_dag_factory_reads() -> None:
    cm = build_configmap(PIPELINE, "airflow")
    assert cm["metadata"]["namespace"] == "airflow"
    assert cm["metadata"]["labels"][CONFIG_LABEL] == "true"
    assert cm["metadata"]["annotations"]["grocery.io/dag-id"] == "grocery__team-a__nightly"
    key = PIPELINE.file_name
    assert sorted(cm["data"]) == ["team-a__nightly.py", "team-a__nightly.yaml"]
    assert read_pipeline(cm["data"][key], origin=key) == PIPELINE
    assert cm["data"]["team-a__nightly.py"] == DAG_FILE  # the folder collecting these is a DAG folder
    assert build_configmap(PIPELINE, "airflow") == cm  # deterministic


def test_configmap_names_are_unique_across_namespaces_and_short_enough() -> None:
    assert configmap_name("a-b", "c") != configmap_name("a", "b-c")
    assert configmap_name("default", "nightly") == "grocerypipeline.default.nightly"
    long = configmap_name("n" * 63, "x" * 253)
    assert len(long) <= 253 and long == configmap_name("n" * 63, "x" * 253)
    assert configmap_name("n" * 63, "x" * 253) != configmap_name("n" * 63, "x" * 252 + "y")


def test_no_drift_means_no_patch_and_drift_is_patched_precisely() -> None:
    desired = build_configmap(PIPELINE, "team-a")
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
    desired = build_configmap(PIPELINE, "team-a")
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


def test_a_deletion_request_records_where_the_data_is() -> None:
    spec = PipelineSpec().with_overrides(**{"on_delete": "Delete", "lake": "gs://b/p"})
    record = build_deletion_request(
        NamedPipeline(name="x", namespace="n", spec=spec), "n", "2024-01-01T00:00:00Z"
    )
    assert record["data"]["lake"] == "gs://b/p" and record["data"]["requestedAt"] == "2024-01-01T00:00:00Z"
    assert "ownerReferences" not in record["metadata"]
