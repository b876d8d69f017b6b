"""What the operator makes in Kubernetes, as pure functions of the pipeline: names, labels, manifests.

The pipeline's ConfigMap holds one key, `<namespace>__<name>.yaml`, whose value is the GroceryPipeline
document the Airflow DAG factory reads (`NamedPipeline.to_yaml()`), and carries the label
`grocery.io/pipeline-config: "true"` so a collector can find every pipeline's ConfigMap, and the
annotation `grocery.io/generation`, the resource's generation it was rendered from. Its name is
deterministic, `grocerypipeline.<namespace>.<name>`, unique even when all ConfigMaps share one namespace
(namespaces have no dots, so the first dot separates them).

The data-deletion Job (spec.onDelete: Delete) runs `grocery purge --yes` the way a stage pod runs a
stage (`grocery.airflow.manifests`): same namespace, image, service account, Secrets, security
context, and the pipeline file projected from the pod's own annotation, so it needs no ConfigMap and
reaches exactly what the stages reach. Its name is deterministic per resource (namespace, name, uid):
a restarted operator finds it, and a re-created pipeline of the same name gets a Job of its own.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Literal

from grocery.airflow import manifests
from grocery.airflow.commands import POD_CONFIG_FILE, POD_HOME
from grocery.airflow.dagfile import DAG_FILE, dag_file_name
from grocery.config import API_GROUP, NamedPipeline, PipelineSpec
from grocery.warehouse.base import SCHEMAS

PLURAL = "grocerypipelines"
SINGULAR = "grocerypipeline"
SHORT_NAME = "gp"
RUN_NOW = f"{API_GROUP}/run-now"
CONFIG_LABEL = f"{API_GROUP}/pipeline-config"
GENERATION = f"{API_GROUP}/generation"
MANAGED_BY = "grocery-operator"
PURGE_COMPONENT = "data-deletion"
# The purge pod's own retries before the Job counts as failed (then the operator reports it).
PURGE_BACKOFF_LIMIT = 2
# A finished Job (and its pod's log) stays this long, then Kubernetes removes it; a failed one is then
# created anew by the finalizer, which is how a purge retries on its own.
PURGE_TTL_SECONDS = 3600
PURGE_RESOURCES = {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"memory": "512Mi"}}

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


def purge_job_name(namespace: str, name: str, uid: str) -> str:
    """`grocery-purge-<namespace>-<name>-<digest>`: a DNS label, the same for the same resource."""
    digest = hashlib.sha256(f"{namespace}/{name}/{uid}".encode()).hexdigest()[:8]
    return f"{manifests.k8s_name('grocery-purge', namespace, name, max_len=54)}-{digest}"


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


def build_configmap(pipeline: NamedPipeline, namespace: str, generation: int) -> dict:
    """The ConfigMap the DAG factory reads, rendered from `generation` of the resource; the same text for
    the same spec.

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
            "annotations": {**identity(pipeline), GENERATION: str(generation)},
        },
        "data": {pipeline.file_name: pipeline.to_yaml(), dag_file_name(pipeline.file_name): DAG_FILE},
    }


def rendered_generation(configmap: dict) -> int | None:
    """The generation of the resource a ConfigMap was rendered from (its annotation); None when unknown."""
    value = ((configmap.get("metadata") or {}).get("annotations") or {}).get(GENERATION)
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


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


def purge_args() -> list[str]:
    """The `grocery` arguments of the data-deletion pod (the stage pods' home and pipeline file)."""
    return ["purge", "--yes", "--home", POD_HOME, "--config", POD_CONFIG_FILE]


def build_purge_job(pipeline: NamedPipeline, uid: str) -> dict:
    """The batch/v1 Job deleting the pipeline's lake and warehouse layers (`grocery purge --yes`)."""
    execution = pipeline.spec.execution

    def job_labels() -> dict[str, str]:
        return {**labels(pipeline), "app.kubernetes.io/component": PURGE_COMPONENT}

    container = {
        "name": "purge",
        "image": execution.image,
        "imagePullPolicy": execution.image_pull_policy,
        "command": ["grocery"],
        "args": purge_args(),
        "env": manifests.pod_env(),
        "resources": {part: dict(values) for part, values in PURGE_RESOURCES.items()},
        "securityContext": manifests.container_security_context(),
        "volumeMounts": manifests.pod_volume_mounts(),
    }
    if execution.secret_env:
        container["envFrom"] = [{"secretRef": {"name": name}} for name in execution.secret_env]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": purge_job_name(pipeline.namespace, pipeline.name, uid),
            "namespace": execution.namespace,
            "labels": job_labels(),
            "annotations": {**identity(pipeline), f"{API_GROUP}/pipeline-uid": uid},
        },
        "spec": {
            "backoffLimit": PURGE_BACKOFF_LIMIT,
            # A pod that cannot even start (no image, no quota) fails the Job, which the operator reports.
            "activeDeadlineSeconds": execution.timeout_minutes * 60,
            "ttlSecondsAfterFinished": PURGE_TTL_SECONDS,
            "template": {
                "metadata": {
                    "labels": job_labels(),
                    # The pod's own copy of the pipeline file (see manifests.pod_volumes).
                    "annotations": {manifests.PIPELINE_ANNOTATION: pipeline.to_yaml()},
                },
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": execution.service_account_name,
                    # Workload Identity needs no token in the pod; purge never calls the Kubernetes API.
                    "automountServiceAccountToken": False,
                    "securityContext": manifests.pod_security_context(),
                    "containers": [container],
                    "volumes": manifests.pod_volumes(),
                },
            },
        },
    }


JobState = Literal["running", "succeeded", "failed"]


def job_state(job: dict) -> tuple[JobState, str]:
    """Whether a Job is still running, succeeded or failed, with the reason Kubernetes gives for a failure."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return "succeeded", ""
        if condition.get("type") == "Failed":
            reason = ": ".join(p for p in (condition.get("reason"), condition.get("message")) if p)
            return "failed", reason or "failed"
    return "running", ""


def job_pipeline(job: dict) -> str | None:
    """The pipeline document a purge Job was made with (its pod's annotation)."""
    template = (job.get("spec") or {}).get("template") or {}
    return ((template.get("metadata") or {}).get("annotations") or {}).get(manifests.PIPELINE_ANNOTATION)


# The images the CRD gave a pipeline that named none, before the operator filled them (an API server
# stored them in every pipeline created then, and a CRD Helm did not upgrade still does).
_OLD_DEFAULT_IMAGES = ("grocery-pipeline:latest", "grocery-pipeline-spark:latest")


def with_images(spec: dict[str, Any], pipeline_image: str, spark_image: str) -> dict[str, Any]:
    """A resource's spec with `execution.image` and `spark.image` filled, where it leaves them out,
    empty or at the CRD's old default, by the given images (the operator's GROCERY_PIPELINE_IMAGE and
    GROCERY_SPARK_IMAGE); an empty given image leaves the spec's default. The CRD gives these fields
    no default, so that a pipeline applied with kubectl runs the images of the release that runs it."""
    out = dict(spec)
    for section, image in (("execution", pipeline_image), ("spark", spark_image)):
        part = out.get(section) or {}
        if image and isinstance(part, dict) and part.get("image", "") in ("", *_OLD_DEFAULT_IMAGES):
            out[section] = {**part, "image": image}
    return out


def data_locations(spec: PipelineSpec) -> tuple[list[str], list[str]]:
    """(the data a Job in the cluster reaches, the data on local disks), named for people.

    A `gs://` lake and BigQuery are reached from anywhere with the service account's rights. A
    `file://` lake (or the default, under the home) and a DuckDB file are on the disk of whatever ran
    the stages: the Airflow workers in execution mode local, a stage pod's scratch space otherwise.
    """
    remote: list[str] = []
    local: list[str] = []
    lake = f"the lake {spec.lake}" if spec.lake else "the lake <home>/lake"
    (remote if lake.startswith("the lake gs://") else local).append(lake)
    warehouse = spec.warehouse
    if warehouse.kind == "bigquery":
        layers = ",".join(SCHEMAS)
        remote.append(f"the BigQuery datasets {warehouse.project}.{warehouse.dataset_prefix}{{{layers}}}")
    else:
        local.append(f"the DuckDB file {warehouse.path or '<home>/warehouse.duckdb'}")
    return remote, local


def run_now_id(uid: str, value: str) -> str:
    """The DAG run id for one run-now request: the same request gives the same id, so Airflow refuses a second run."""
    slug = _RUN_ID_UNSAFE.sub("-", value).strip("-")[:40] or "request"
    digest = hashlib.sha256(f"{uid}/{value}".encode()).hexdigest()[:10]
    return f"run-now__{slug}__{digest}"
