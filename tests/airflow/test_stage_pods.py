"""Kubernetes mode: the stage pods, SparkApplications and Livy batches, field by field and against schemas."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pendulum
import pytest
import yaml

pytest.importorskip("airflow", reason="the airflow extra is not installed (scripts/setup.d/30-airflow.sh)")

from airflow.sdk.execution_time.context import MacrosAccessor
from kubernetes.client import ApiClient

from grocery import stages as registry
from grocery.airflow import build_dag
from grocery.airflow.commands import END, START
from grocery.airflow.factory import KUBERNETES_CONN_ID, LIVY_CONN_ID
from grocery.airflow.manifests import run_digest, spark_application
from grocery.config import NamedPipeline, parse_spec, read_pipeline

SPARK_CRD = (
    Path(__file__).resolve().parents[3] / "shared" / "schemas" / "sparkoperator.k8s.io_sparkapplications.yaml"
)
DS = "2018-01-02"
RUN_ID = "scheduled__2018-01-02T00:00:00+00:00"
DAYS = ["--start", DS, "--end", DS]  # what the @daily run of 2018-01-02 processes
SPEC = {
    "lake": "gs://acme-lake/nightly",
    "warehouse": {"kind": "bigquery", "project": "acme"},
    "execution": {
        "mode": "kubernetes",
        "image": "europe-docker.pkg.dev/acme/grocery/pipeline:1.2.3",
        "imagePullPolicy": "Always",
        "namespace": "grocery-prod",
        "serviceAccountName": "grocery-runner",
        "secretEnv": ["grocery-kaggle", "grocery-extra"],
    },
    "spark": {
        "image": "europe-docker.pkg.dev/acme/grocery/spark:1.2.3",
        "driver": {"cores": 2, "memory": "3g"},
        "executor": {"cores": 3, "memory": "6g"},
        "executorInstances": 4,
        "serviceAccountName": "grocery-spark-runner",
    },
    # Jinja syntax in the spec must reach the pods as it is, never rendered.
    "dashboard": {"title": "Sales {{ not a template }}"},
}


@pytest.fixture
def with_spark_stages(monkeypatch):
    """The registry, with Spark stages added when it has none yet (they are being written)."""
    if not any(s.engine == "spark" for s in registry.STAGES):
        extra = (
            registry.Stage(
                "segment", "RFM", ("exports/",), ("analytics/",), "spark", "grocery.spark.jobs:segment"
            ),
            registry.Stage(
                "recommend", "ALS", ("exports/",), ("analytics/",), "spark", "grocery.spark.jobs:recommend"
            ),
            registry.Stage(
                "publish", "Publish", ("analytics/",), ("warehouse:marts",), "python", "grocery.publish:run"
            ),
        )
        monkeypatch.setattr(registry, "STAGES", registry.STAGES + extra)
    return registry.STAGES


def _pipeline(submitter: str = "operator") -> NamedPipeline:
    spec = parse_spec({**SPEC, "spark": {**SPEC["spark"], "submitter": submitter}})
    return NamedPipeline(name="nightly", namespace="shop", spec=spec)


def _render(task, run_id: str = RUN_ID) -> Any:
    task.render_template_fields({
        "ds": DS, "ds_nodash": DS.replace("-", ""), "run_id": run_id, "macros": MacrosAccessor(),
        "data_interval_start": pendulum.datetime(2018, 1, 2, tz="UTC"),
        "data_interval_end": pendulum.datetime(2018, 1, 3, tz="UTC"),
        "ti": SimpleNamespace(try_number=2),
    })  # fmt: skip
    return task


def _pod(task) -> dict[str, Any]:
    """The pod the operator would create, as the API server would receive it."""
    return ApiClient().sanitize_for_serialization(_render(task).build_pod_request_obj(dry_run=True))


def _python_stages(stages) -> list[registry.Stage]:
    return [s for s in stages if s.engine != "spark"]


def test_every_python_stage_is_a_pod_with_the_pipeline_image_command_and_settings(with_spark_stages):
    pipeline = _pipeline()
    dag = build_dag(pipeline)
    execution = pipeline.spec.execution
    for stage in _python_stages(with_spark_stages):
        task = dag.get_task(stage.name)
        assert type(task).__name__ == "KubernetesPodOperator"
        assert task.on_finish_action.value == "delete_succeeded_pod"
        assert task.get_logs is True
        assert task.kubernetes_conn_id == KUBERNETES_CONN_ID
        assert task.reattach_on_restart is True

        pod = _pod(task)
        meta, spec = pod["metadata"], pod["spec"]
        assert meta["namespace"] == "grocery-prod"
        assert meta["name"].startswith(f"grocery-nightly-{stage.name}")
        assert {
            "app.kubernetes.io/name": "grocery-pipeline",
            "app.kubernetes.io/instance": "nightly",
            "app.kubernetes.io/component": stage.name,
            "grocery.io/pipeline-namespace": "shop",
        }.items() <= meta["labels"].items()
        # The pipeline file comes from the pod's own annotation, unrendered.
        document = meta["annotations"]["grocery.io/pipeline"]
        assert document == pipeline.to_yaml()
        assert read_pipeline(document, "annotation") == pipeline
        assert spec["serviceAccountName"] == "grocery-runner"
        assert spec["automountServiceAccountToken"] is False
        assert spec["restartPolicy"] == "Never"
        assert spec["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}

        [container] = spec["containers"]
        assert container["image"] == execution.image
        assert container["imagePullPolicy"] == "Always"
        assert container["command"] == ["grocery"]
        assert container["args"] == [
            stage.name, *DAYS, "--home", "/tmp/grocery", "--config", "/etc/grocery/pipeline.yaml",
        ]  # fmt: skip
        assert container["resources"] == {
            "requests": {"cpu": stage.resources.cpu, "memory": stage.resources.memory},
            "limits": {"memory": stage.resources.memory},
        }
        assert container["envFrom"] == [
            {"secretRef": {"name": "grocery-kaggle"}},
            {"secretRef": {"name": "grocery-extra"}},
        ]
        assert {"name": "HOME", "value": "/tmp"} in container["env"]
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        volumes = {v["name"]: v for v in spec["volumes"]}
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        assert volumes["tmp"] == {"name": "tmp", "emptyDir": {}}
        assert mounts["tmp"] == {"name": "tmp", "mountPath": "/tmp"}
        assert volumes["pipeline"]["downwardAPI"]["items"] == [
            {
                "path": "pipeline.yaml",
                "fieldRef": {"fieldPath": "metadata.annotations['grocery.io/pipeline']"},
            }
        ]
        assert mounts["pipeline"] == {"name": "pipeline", "mountPath": "/etc/grocery", "readOnly": True}


def test_stage_pods_validate_against_the_kubernetes_schema(with_spark_stages):
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    dag = build_dag(_pipeline())
    for stage in _python_stages(with_spark_stages):
        pod = _pod(dag.get_task(stage.name))
        kubernetes_validate.validate(pod, "1.33", strict=True)


# -- SparkApplication -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark_crd_schema() -> dict[str, Any]:
    if not SPARK_CRD.exists():
        pytest.skip(f"the Spark operator's CRD is not in {SPARK_CRD.parent}")
    crd = yaml.safe_load(SPARK_CRD.read_text())
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta2"]
    return version["schema"]["openAPIV3Schema"]


def _strict(schema: Any) -> Any:
    """The schema with unknown fields refused wherever Kubernetes would prune them (catches typos)."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if (
        out.get("type") == "object"
        and isinstance(out.get("properties"), dict)
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def _validate(document: dict[str, Any], schema: dict[str, Any]) -> None:
    import jsonschema

    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:10])


def _spark_stages(stages) -> list[registry.Stage]:
    return [s for s in stages if s.engine == "spark"]


def test_spark_stages_are_spark_applications_that_validate_against_the_crd(
    with_spark_stages, spark_crd_schema
):
    pipeline = _pipeline("operator")
    dag = build_dag(pipeline)
    spark = pipeline.spec.spark
    for stage in _spark_stages(with_spark_stages):
        task = _render(dag.get_task(stage.name))
        assert type(task).__name__ == "SparkKubernetesOperator"
        assert task.namespace == "grocery-prod"
        assert task.get_logs is True and task.delete_on_termination is True
        app = task.template_spec

        _validate(app, _strict(spark_crd_schema))

        assert app["apiVersion"] == "sparkoperator.k8s.io/v1beta2" and app["kind"] == "SparkApplication"
        assert app["metadata"]["namespace"] == "grocery-prod"
        spec = app["spec"]
        assert (spec["type"], spec["mode"], spec["pythonVersion"]) == ("Python", "cluster", "3")
        assert spec["image"] == spark.image
        assert spec["imagePullPolicy"] == "Always"
        assert spec["mainApplicationFile"] == f"local:///app/spark_apps/{stage.name}.py"
        assert spec["arguments"] == DAYS
        assert spec["restartPolicy"] == {"type": "Never"}  # Airflow retries, with backoff
        driver, executor = spec["driver"], spec["executor"]
        assert (driver["cores"], driver["memory"]) == (2, "3g")
        assert (executor["cores"], executor["memory"], executor["instances"]) == (3, "6g", 4)
        for role in (driver, executor):
            assert role["serviceAccount"] == "grocery-spark-runner"  # may create executor pods
            assert role["envFrom"] == [
                {"secretRef": {"name": "grocery-kaggle"}},
                {"secretRef": {"name": "grocery-extra"}},
            ]
            assert role["labels"]["app.kubernetes.io/component"] == stage.name
            assert role["podSecurityContext"] == {
                "runAsNonRoot": True,
                "seccompProfile": {"type": "RuntimeDefault"},
            }
            assert role["securityContext"]["allowPrivilegeEscalation"] is False
            assert role["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        [pipeline_env] = [e for e in driver["env"] if e["name"] == "GROCERY_PIPELINE"]
        assert pipeline_env["value"] == pipeline.to_yaml()  # unrendered, whole


def test_the_spark_application_the_provider_submits_still_validates(with_spark_stages, spark_crd_schema):
    from airflow.providers.cncf.kubernetes.operators.custom_object_launcher import CustomObjectLauncher

    dag = build_dag(_pipeline("operator"))
    for stage in _spark_stages(with_spark_stages):
        task = _render(dag.get_task(stage.name))
        launcher = CustomObjectLauncher(
            name=f"nightly-{stage.name}-abc123",
            namespace=task.namespace,
            kube_client=None,
            custom_obj_api=None,
            template_body=task.manage_template_specs(),
        )
        assert (launcher.api_group, launcher.api_version, launcher.plural) == (
            "sparkoperator.k8s.io", "v1beta2", "sparkapplications",
        )  # fmt: skip
        assert launcher.body["metadata"]["name"] == f"nightly-{stage.name}-abc123"
        _validate(launcher.body, spark_crd_schema)


def test_the_rendered_spark_application_is_pure_and_complete_without_airflow(spark_crd_schema):
    stage = registry.Stage("segment", "RFM", (), (), "spark", "x:y")
    app = spark_application(_pipeline("operator"), stage)
    _validate(app, _strict(spark_crd_schema))
    assert app["spec"]["arguments"] == ["--start", START, "--end", END]


# -- Livy and local Spark -------------------------------------------------------------------------


def test_spark_stages_are_livy_batches_when_the_submitter_is_livy(with_spark_stages):
    pipeline = _pipeline("livy")
    dag = build_dag(pipeline)
    for stage in _spark_stages(with_spark_stages):
        task = _render(dag.get_task(stage.name))
        assert type(task).__name__ == "LivyOperator"
        assert task._livy_conn_id == LIVY_CONN_ID
        assert task._polling_interval > 0  # 0 would return before the batch ends
        params = task.spark_params
        assert params["file"] == f"local:///app/spark_apps/{stage.name}.py"
        assert params["args"] == DAYS
        # Livy refuses a name it holds: a retry's name is its own, and so is another run's of the same day.
        assert params["name"] == f"shop-nightly-{stage.name}-20180102-{run_digest(RUN_ID)}-try2"
        rerun = _render(build_dag(pipeline).get_task(stage.name), run_id="manual__2018-01-03T09:12:00+00:00")
        assert rerun.spark_params["name"] != params["name"]
        assert rerun.spark_params["name"].startswith(f"shop-nightly-{stage.name}-20180102-")
        assert (params["driver_cores"], params["driver_memory"]) == (2, "3g")
        assert (params["executor_cores"], params["executor_memory"], params["num_executors"]) == (3, "6g", 4)
        conf = params["conf"]
        assert conf["spark.kubernetes.namespace"] == "grocery-prod"
        assert conf["spark.kubernetes.container.image"] == pipeline.spec.spark.image
        assert conf["spark.kubernetes.authenticate.driver.serviceAccountName"] == "grocery-spark-runner"
        assert conf["spark.kubernetes.driverEnv.GROCERY_PIPELINE"] == pipeline.to_yaml()
        assert conf["spark.kubernetes.driver.label.app.kubernetes.io/component"] == stage.name


def test_spark_stages_run_in_a_stage_pod_of_the_spark_image_when_the_submitter_is_local(with_spark_stages):
    pipeline = _pipeline("local")
    dag = build_dag(pipeline)
    for stage in _spark_stages(with_spark_stages):
        task = dag.get_task(stage.name)
        assert type(task).__name__ == "KubernetesPodOperator"
        container = _pod(task)["spec"]["containers"][0]
        assert container["args"][:5] == [stage.name, *DAYS]
        assert container["image"] == pipeline.spec.spark.image  # Java and pyspark: not in the pipeline image
        # Spark takes the cores the pod requests (whole ones), not the node's; the pod's /tmp ends
        # with it, so no class archive is recorded for a next run.
        cores = {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1"}}
        assert {"name": "GROCERY_SPARK_CORES", "valueFrom": cores} in container["env"]
        assert {"name": "GROCERY_SPARK_CDS", "value": "off"} in container["env"]


@pytest.mark.parametrize("submitter", ["local", "operator", "livy"])
def test_kubernetes_dags_serialize_for_the_scheduler(with_spark_stages, submitter):
    from airflow.serialization.serialized_objects import DagSerialization

    dag = build_dag(_pipeline(submitter))
    again = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    assert [t.task_id for t in again.tasks] == [t.task_id for t in dag.tasks]
