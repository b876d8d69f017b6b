"""Pure renderers of what a pipeline's stages submit to Kubernetes: pod settings, SparkApplications, Livy batches.

Plain dicts from a `NamedPipeline` and a registry `Stage`, with no Airflow import, so tests check them
field by field and against the schemas (the Kubernetes pod schema, the Spark operator's CRD).
`grocery.airflow.factory` turns them into operators.

How a stage gets its pipeline file:
- a stage pod mounts it from a `downwardAPI` volume that projects the pod's own annotation
  `grocery.io/pipeline` (the pipeline document) as `/etc/grocery/pipeline.yaml`: no ConfigMap to keep
  in step, no shell, and the root filesystem stays read-only;
- a Spark job (SparkApplication or Livy batch) runs `spark_apps/<stage>.py --start A --end B`, which hands the
  document of its `GROCERY_PIPELINE` environment variable to the stage (Livy cannot mount volumes;
  `grocery.spark.submit`).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from grocery.airflow.commands import (
    PIPELINE_ENV,
    POD_CONFIG_DIR,
    POD_CONFIG_FILE,
    START_NODASH,
    interval_args,
)
from grocery.config import NamedPipeline
from grocery.spark.session import CDS_SWITCH, CORES_ENV
from grocery.stages import Stage

SPARK_API_VERSION = "sparkoperator.k8s.io/v1beta2"
SPARK_KIND = "SparkApplication"
# Where the Spark image puts the Spark entry files (spark_apps/<stage>.py): images/spark/Dockerfile.
SPARK_APPS_DIR = "/app/spark_apps"
# The Spark in the Spark image (its PYSPARK_VERSION), declared by every SparkApplication.
SPARK_VERSION = "4.3.0"
PIPELINE_ANNOTATION = "grocery.io/pipeline"
# A finished SparkApplication is removed after a day even if Airflow never came back for it.
SPARK_TTL_SECONDS = 24 * 3600
_NOT_IN_NAME = re.compile(r"[^a-z0-9-]+")
# 8 hex digits of the DAG run's id (uuid5, a SHA-1 digest; `macros.uuid` is Python's uuid module in
# Airflow's templates): what tells apart two runs that process the same day. `run_digest` in Python.
RUN_DIGEST = "{{ macros.uuid.uuid5(macros.uuid.NAMESPACE_URL, run_id).hex[:8] }}"


def k8s_name(*parts: str, max_len: int = 63) -> str:
    """A DNS-1123 label from parts joined by '-' (lowercase, at most max_len, alphanumeric ends)."""
    name = _NOT_IN_NAME.sub("-", "-".join(parts).lower())
    return name[:max_len].strip("-") or "grocery"


def run_digest(run_id: str) -> str:
    """What RUN_DIGEST renders to in the run `run_id`."""
    return uuid.uuid5(uuid.NAMESPACE_URL, run_id).hex[:8]


def labels(pipeline: NamedPipeline, stage: Stage) -> dict[str, str]:
    """The standard labels of everything a stage creates."""
    return {
        "app.kubernetes.io/name": "grocery-pipeline",
        "app.kubernetes.io/instance": k8s_name(pipeline.name),
        "app.kubernetes.io/component": k8s_name(stage.name),
        "app.kubernetes.io/part-of": "grocery",
        "app.kubernetes.io/managed-by": "airflow",
        "grocery.io/pipeline-namespace": k8s_name(pipeline.namespace),
    }


# -- stage pods -----------------------------------------------------------------------------------


def pod_security_context() -> dict[str, Any]:
    """Pod level of the `restricted` Pod Security Standard."""
    return {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def container_security_context(read_only_root: bool = True) -> dict[str, Any]:
    """Container level of the `restricted` Pod Security Standard."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": read_only_root,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_volumes() -> list[dict[str, Any]]:
    """A writable /tmp (the root filesystem is read-only) and the pipeline file from the pod's annotation."""
    return [
        {"name": "tmp", "emptyDir": {}},
        {
            "name": "pipeline",
            "downwardAPI": {
                "items": [
                    {
                        "path": POD_CONFIG_FILE.rsplit("/", 1)[1],
                        "fieldRef": {"fieldPath": f"metadata.annotations['{PIPELINE_ANNOTATION}']"},
                    }
                ]
            },
        },
    ]


def pod_volume_mounts() -> list[dict[str, Any]]:
    return [
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "pipeline", "mountPath": POD_CONFIG_DIR, "readOnly": True},
    ]


def pod_resources(stage: Stage) -> dict[str, dict[str, str]]:
    """Requests from the registry; memory is also the limit (no CPU limit: no throttling of short bursts)."""
    return {
        "requests": {"cpu": stage.resources.cpu, "memory": stage.resources.memory},
        "limits": {"memory": stage.resources.memory},
    }


def stage_image(pipeline: NamedPipeline, stage: Stage) -> str:
    """The image of a stage's pod: the Spark image (Java, pyspark and the library) for a Spark stage,
    which runs Spark in the pod with `spark.submitter: local`; the pipeline image (the CLI and dbt),
    which has no Java, for the others."""
    return pipeline.spec.spark.image if stage.engine == "spark" else pipeline.spec.execution.image


def pod_env(stage: Stage | None = None) -> list[dict[str, Any]]:
    """Tools that write under $HOME (caches, dbt's user folder) write to the writable /tmp.

    A Spark stage's pod runs Spark in local mode on as many cores as it requests (the node's are
    not its own; a request sets no quota the session could read), and records no class archive for
    the JVM (`grocery.spark.session.ClassArchive`): recorded as the JVM exits, into a /tmp that ends
    with the pod, it would cost every run and serve none."""
    env: list[dict[str, Any]] = [{"name": "HOME", "value": "/tmp"}]
    if stage is not None and stage.engine == "spark":
        env.append(
            {
                "name": CORES_ENV,
                "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1"}},
            }
        )
        env.append({"name": CDS_SWITCH, "value": "off"})
    return env


# -- Spark ----------------------------------------------------------------------------------------


def spark_app_file(stage: Stage) -> str:
    return f"local://{SPARK_APPS_DIR}/{stage.name}.py"


def spark_args() -> list[str]:
    return interval_args()


def spark_application(pipeline: NamedPipeline, stage: Stage, pipeline_text: Any = None) -> dict[str, Any]:
    """The SparkApplication (sparkoperator.k8s.io/v1beta2) of a Spark stage.

    `pipeline_text` is the document put in the driver's environment (default: the pipeline's YAML);
    the factory passes it wrapped so that Airflow does not render it as a template.
    """
    spark, execution = pipeline.spec.spark, pipeline.spec.execution
    text = pipeline.to_yaml() if pipeline_text is None else pipeline_text
    stage_labels = labels(pipeline, stage)
    secrets = [{"secretRef": {"name": name}} for name in execution.secret_env]

    def role(resources: Any, env: list[dict[str, Any]]) -> dict[str, Any]:
        part: dict[str, Any] = {
            "cores": resources.cores,
            "memory": resources.memory,
            "labels": dict(stage_labels),
            "serviceAccount": spark.service_account_name,
            "env": env,
            "podSecurityContext": pod_security_context(),
            # Spark writes its scratch and work folders in the image: the root filesystem stays writable.
            "securityContext": container_security_context(read_only_root=False),
        }
        if secrets:
            part["envFrom"] = [dict(s) for s in secrets]
        return part

    return {
        "apiVersion": SPARK_API_VERSION,
        "kind": SPARK_KIND,
        "metadata": {
            "name": k8s_name(pipeline.name, stage.name),
            "namespace": execution.namespace,
            "labels": stage_labels,
        },
        "spec": {
            "type": "Python",
            "pythonVersion": "3",
            "mode": "cluster",
            "image": spark.image,
            "imagePullPolicy": execution.image_pull_policy,
            "mainApplicationFile": spark_app_file(stage),
            "arguments": spark_args(),
            "sparkVersion": SPARK_VERSION,
            # Airflow owns retries (with backoff); the Spark operator must not retry on its own.
            "restartPolicy": {"type": "Never"},
            "timeToLiveSeconds": SPARK_TTL_SECONDS,
            "driver": role(spark.driver, [{"name": PIPELINE_ENV, "value": text}]),
            "executor": {**role(spark.executor, []), "instances": spark.executor_instances},
        },
    }


def livy_batch(pipeline: NamedPipeline, stage: Stage, pipeline_text: Any = None) -> dict[str, Any]:
    """The keyword arguments of a LivyOperator for a Spark stage (a Livy batch on Spark-on-Kubernetes).

    Spark's configuration has no `envFrom`, so `execution.secretEnv` does not reach Livy batches:
    they authenticate through `spark.serviceAccountName` (Workload Identity).
    """
    spark, execution = pipeline.spec.spark, pipeline.spec.execution
    text = pipeline.to_yaml() if pipeline_text is None else pipeline_text
    conf: dict[str, Any] = {
        "spark.kubernetes.namespace": execution.namespace,
        "spark.kubernetes.container.image": spark.image,
        "spark.kubernetes.container.image.pullPolicy": execution.image_pull_policy,
        "spark.kubernetes.authenticate.driver.serviceAccountName": spark.service_account_name,
        f"spark.kubernetes.driverEnv.{PIPELINE_ENV}": text,
    }
    for key, value in labels(pipeline, stage).items():
        conf[f"spark.kubernetes.driver.label.{key}"] = value
        conf[f"spark.kubernetes.executor.label.{key}"] = value
    return {
        "file": spark_app_file(stage),
        "args": spark_args(),
        # Livy refuses a name it still holds (a finished batch, 10 minutes by default): one per pipeline,
        # stage, first day, DAG run and try, so neither a retry nor a second run of the day (run-now, or a
        # run-now on the day of a scheduled run) is refused for a name an earlier batch had.
        "name": k8s_name(pipeline.namespace, pipeline.name, stage.name, max_len=200)
        + f"-{START_NODASH}-{RUN_DIGEST}-try{{{{ ti.try_number }}}}",
        "driver_memory": spark.driver.memory,
        "driver_cores": spark.driver.cores,
        "executor_memory": spark.executor.memory,
        "executor_cores": spark.executor.cores,
        "num_executors": spark.executor_instances,
        "conf": conf,
    }
