"""What the operator makes in Kubernetes, as pure functions of the pipeline: names, labels, manifests.

The pipeline's ConfigMap holds one key, `<namespace>__<name>.yaml`, whose value is the GroceryPipeline
document the Airflow DAG factory reads (`NamedPipeline.to_yaml()`), and carries the label
`grocery.io/pipeline-config: "true"` so a collector can find every pipeline's ConfigMap. Its name is
deterministic, `grocerypipeline.<namespace>.<name>`, unique even when all ConfigMaps share one namespace
(namespaces have no dots, so the first dot separates them).
"""

from __future__ import annotations

import hashlib
import re

from grocery.airflow.dagfile import DAG_FILE, dag_file_name
from grocery.config import API_GROUP, NamedPipeline

PLURAL = "grocerypipelines"
SINGULAR = "grocerypipeline"
SHORT_NAME = "gp"
RUN_NOW = f"{API_GROUP}/run-now"
CONFIG_LABEL = f"{API_GROUP}/pipeline-config"
MANAGED_BY = "grocery-operator"
DELETION_REQUEST_LABEL = f"{API_GROUP}/data-deletion-request"

_MAX_NAME = 253
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_RUN_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.~:+-]+")


def _bounded(name: str) -> str:
    """`name`, or when too long for Kubernetes a prefix plus a digest of the whole (still deterministic)."""
    if len(name) <= _MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[: _MAX_NAME - 11].rstrip('.-')}-{digest}"


def configmap_name(namespace: str, name: str) -> str:
    return _bounded(f"{SINGULAR}.{namespace}.{name}")


def deletion_request_name(namespace: str, name: str) -> str:
    return _bounded(f"{SINGULAR}-deletion.{namespace}.{name}")


def labels(pipeline: NamedPipeline) -> dict[str, str]:
    result = {
        "app.kubernetes.io/name": "grocery-pipeline",
        "app.kubernetes.io/component": "pipeline-config",
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
    for key, value in (
        (f"{API_GROUP}/pipeline", pipeline.name),
        (f"{API_GROUP}/pipeline-namespace", pipeline.namespace),
    ):
        if _LABEL_VALUE.match(value):  # a name longer than a label value allows is still in the annotations
            result[key] = value
    return result


def identity(pipeline: NamedPipeline) -> dict[str, str]:
    return {
        f"{API_GROUP}/pipeline": f"{pipeline.namespace}/{pipeline.name}",
        f"{API_GROUP}/dag-id": pipeline.dag_id,
    }


def build_configmap(pipeline: NamedPipeline, namespace: str) -> dict:
    """The ConfigMap the DAG factory reads; the same text for the same spec.

    It holds the pipeline file and its DAG file, so a folder that collects the labelled ConfigMaps
    (the k8s-sidecar of charts/airflow-values.yaml) is a ready DAG folder for Airflow.
    """
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": configmap_name(pipeline.namespace, pipeline.name),
            "namespace": namespace,
            "labels": {**labels(pipeline), CONFIG_LABEL: "true"},
            "annotations": identity(pipeline),
        },
        "data": {pipeline.file_name: pipeline.to_yaml(), dag_file_name(pipeline.file_name): DAG_FILE},
    }


def configmap_drift(live: dict, desired: dict) -> dict | None:
    """A merge patch taking `live` to `desired` (data, labels, annotations, owner), or None when nothing differs."""
    patch: dict = {}
    if (live.get("data") or {}) != desired["data"]:
        stale = {key: None for key in (live.get("data") or {}) if key not in desired["data"]}
        patch["data"] = {**stale, **desired["data"]}
    meta: dict = {}
    for part in ("labels", "annotations"):
        have = (live.get("metadata") or {}).get(part) or {}
        missing = {k: v for k, v in desired["metadata"][part].items() if have.get(k) != v}
        if missing:
            meta[part] = missing
    owners = desired["metadata"].get("ownerReferences")
    if owners and (live.get("metadata") or {}).get("ownerReferences") != owners:
        meta["ownerReferences"] = owners
    if meta:
        patch["metadata"] = meta
    return patch or None


def build_deletion_request(pipeline: NamedPipeline, namespace: str, requested_at: str) -> dict:
    """A record that the pipeline's data should be deleted (spec.onDelete: Delete), kept after the pipeline."""
    spec = pipeline.spec
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": deletion_request_name(pipeline.namespace, pipeline.name),
            "namespace": namespace,
            "labels": {**labels(pipeline), DELETION_REQUEST_LABEL: "true"},
            "annotations": identity(pipeline),
        },
        "data": {
            "requestedAt": requested_at,
            "lake": spec.lake or "",
            "warehouse": spec.warehouse.model_dump_json(by_alias=True),
            pipeline.file_name: pipeline.to_yaml(),
        },
    }


def run_now_id(uid: str, value: str) -> str:
    """The DAG run id for one run-now request: the same request gives the same id, so Airflow refuses a second run."""
    slug = _RUN_ID_UNSAFE.sub("-", value).strip("-")[:40] or "request"
    digest = hashlib.sha256(f"{uid}/{value}".encode()).hexdigest()[:10]
    return f"run-now__{slug}__{digest}"
