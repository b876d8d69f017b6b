"""Build a pipeline's DAG: one task per registered stage, in registry order, from one operator factory.

`dag_from_file(path)` is what a DAG file calls; `build_dag(pipeline, source)` does the work. Every
choice comes from the pipeline's spec and the stage registry (`grocery.stages`):

- id `grocery__<namespace>__<name>`; schedule, start date, catchup and pause (`suspend`) from the spec;
  at most one run at a time (stages of two runs would write the same warehouse);
- a cron or preset schedule uses data-interval semantics: a run starts once its interval (one cron
  period) is over and processes the days it covers, `--start {{ ds }}` to the interval's last day (the
  run of day D on @daily, a week on @weekly; Airflow 3's default trigger timetable would hand a run
  the period after it instead); `grocery.airflow.commands` says which days every kind of run gets;
- every task: `execution.retries` retries with exponential backoff, `execution.timeoutMinutes`;
- `execution.mode: local`: a BashOperator running `grocery <stage> --start A --end B` on the worker,
  so `dag.test()` runs the real pipeline with no cluster;
- `execution.mode: kubernetes`: a KubernetesPodOperator per stage (`pod_task`); a stage whose
  engine is "spark" is a SparkApplication (`spark.submitter: operator`) or a Livy batch (`livy`),
  or a pod running Spark in local mode (`local`).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, BaseOperator, CronDataIntervalTimetable, literal

from grocery import stages as registry
from grocery.airflow import commands, manifests
from grocery.config import NamedPipeline, read_pipeline
from grocery.errors import ConfigError

KUBERNETES_CONN_ID = "kubernetes_default"
LIVY_CONN_ID = "livy_default"
RETRY_DELAY = timedelta(minutes=2)
RETRY_BACKOFF = 2.0  # each retry waits twice as long as the one before: 2, 4, 8 ... minutes
MAX_RETRY_DELAY = timedelta(minutes=30)
POD_STARTUP_TIMEOUT = 600  # seconds: pulling a large image on a fresh node takes minutes
LIVY_POLL_SECONDS = 30


def dag_from_file(path: str | Path) -> DAG:
    """The DAG of one pipeline file; every problem is a `ConfigError` that names the file."""
    path = Path(path).resolve()
    if not path.is_file():
        raise ConfigError(f"{path}: pipeline file not found", hint="a DAG file needs its .yaml beside it")
    pipeline = read_pipeline(path.read_text(), origin=str(path))
    if path.name != pipeline.file_name:
        raise ConfigError(
            f"{path}: holds pipeline {pipeline.namespace}/{pipeline.name}, so its name must be {pipeline.file_name}",
            hint="rename the file or fix metadata.name/namespace",
        )
    try:
        return build_dag(pipeline, path)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc.message}", hint=exc.hint) from exc
    except Exception as exc:  # whatever Airflow refuses: say which file it came from
        raise ConfigError(f"{path}: {type(exc).__name__}: {exc}", hint="fix the pipeline file") from exc


def build_dag(pipeline: NamedPipeline, source: str | Path | None = None) -> DAG:
    """The DAG of one pipeline; `source` is its file (needed in local mode: it is the stages' --config)."""
    spec = pipeline.spec
    source_path = Path(source).resolve() if source is not None else None
    if spec.execution.mode == "local" and source_path is None:
        raise ConfigError(
            f"pipeline {pipeline.namespace}/{pipeline.name}: local mode needs the pipeline file",
            hint="build the DAG with dag_from_file(path)",
        )
    dag = DAG(
        dag_id=pipeline.dag_id,
        description=f"grocery pipeline {pipeline.namespace}/{pipeline.name} ({spec.execution.mode} mode)",
        doc_md=_doc(pipeline, source_path),
        schedule=_schedule(spec.schedule),
        start_date=pendulum.parse(spec.start_date, tz="UTC"),
        catchup=spec.catchup,
        max_active_runs=1,
        is_paused_upon_creation=spec.suspend,
        tags=["grocery", f"namespace:{pipeline.namespace}", f"execution:{spec.execution.mode}"],
        default_args={
            "owner": "grocery",
            "retries": spec.execution.retries,
            "retry_delay": RETRY_DELAY,
            "retry_exponential_backoff": RETRY_BACKOFF,
            "max_retry_delay": MAX_RETRY_DELAY,
            "execution_timeout": timedelta(minutes=spec.execution.timeout_minutes),
        },
    )
    with dag:
        previous = None
        for stage in registry.STAGES:
            task = stage_task(pipeline, stage, source_path)
            if previous is not None:
                previous >> task
            previous = task
    return dag


def _schedule(schedule: str | None) -> Any:
    if schedule is None or schedule in ("@once", "@continuous"):
        return schedule
    # The spec has checked the expression as this timetable's validate() does (with croniter).
    return CronDataIntervalTimetable(schedule, timezone="UTC")


def _doc(pipeline: NamedPipeline, source: Path | None) -> str:
    spec = pipeline.spec
    rows = "\n".join(f"| `{s.name}` | {s.engine} | {s.summary} |" for s in registry.STAGES)
    return (
        f"# grocery pipeline `{pipeline.namespace}/{pipeline.name}`\n\n"
        f"Each run processes the days of its data interval ({spec.schedule or 'on request only'}): every "
        f"stage runs `grocery <stage> --start <first day> --end <last day>` ({spec.execution.mode} mode), "
        "in this order:\n\n"
        f"| stage | engine | what it does |\n|---|---|---|\n{rows}\n\n"
        f"Pipeline file: `{source or '(built in memory)'}`. Source: {spec.source.kind}; "
        f"warehouse: {spec.warehouse.kind}; Spark submitter: {spec.spark.submitter}.\n"
        + (_local_home_doc(pipeline.key) if spec.execution.mode == "local" else "")
    )


def _local_home_doc(key: str) -> str:
    home, default = commands.HOME_ENV, commands.DEFAULT_LOCAL_HOME
    return f"\nIts lake and warehouse: `${home}/{key}` on the worker (`{home}` defaults to `{default}`).\n"


# -- the one factory of stage tasks ---------------------------------------------------------------


def stage_task(pipeline: NamedPipeline, stage: registry.Stage, source: Path | None) -> BaseOperator:
    """The operator of one stage, chosen by execution mode, stage engine and Spark submitter."""
    if pipeline.spec.execution.mode == "local":
        assert source is not None
        return local_task(pipeline, stage, source)
    if stage.engine == "spark":
        if pipeline.spec.spark.submitter == "operator":
            return spark_application_task(pipeline, stage)
        if pipeline.spec.spark.submitter == "livy":
            return livy_task(pipeline, stage)
    return pod_task(pipeline, stage)


def local_task(pipeline: NamedPipeline, stage: registry.Stage, source: Path) -> BaseOperator:
    """The stage's command on the Airflow worker, as a subprocess: dbt and Spark get a process of their own."""
    from airflow.providers.standard.operators.bash import BashOperator

    return BashOperator(
        task_id=stage.name,
        bash_command=commands.local_command(stage.name, source, pipeline.key),
        doc_md=stage.summary,
        do_xcom_push=False,
    )


def _model(data: Any, kind: str) -> Any:
    """A kubernetes client model from its plain-dict (camelCase) form."""
    from kubernetes.client import ApiClient

    class _Response:  # ApiClient.deserialize reads JSON from a response's .data
        def __init__(self, body: Any) -> None:
            self.data = json.dumps(body)

    return ApiClient().deserialize(_Response(data), kind)


def pod_task(pipeline: NamedPipeline, stage: registry.Stage) -> BaseOperator:
    """The one KubernetesPodOperator factory: every stage pod is built here and nowhere else."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.providers.cncf.kubernetes.secret import Secret

    execution = pipeline.spec.execution
    return KubernetesPodOperator(
        task_id=stage.name,
        doc_md=stage.summary,
        kubernetes_conn_id=KUBERNETES_CONN_ID,
        name=manifests.k8s_name("grocery", pipeline.name, stage.name, max_len=50),
        namespace=execution.namespace,
        image=manifests.stage_image(pipeline, stage),
        image_pull_policy=execution.image_pull_policy,
        cmds=["grocery"],
        arguments=commands.pod_args(stage.name),
        service_account_name=execution.service_account_name,
        # Stage pods never call the Kubernetes API; Workload Identity needs no token in the pod.
        automount_service_account_token=False,
        secrets=[Secret("env", None, name) for name in execution.secret_env],
        env_vars=[_model(e, "V1EnvVar") for e in manifests.pod_env(stage)],
        container_resources=_model(manifests.pod_resources(stage), "V1ResourceRequirements"),
        security_context=_model(manifests.pod_security_context(), "V1PodSecurityContext"),
        container_security_context=_model(manifests.container_security_context(), "V1SecurityContext"),
        volumes=[_model(v, "V1Volume") for v in manifests.pod_volumes()],
        volume_mounts=[_model(m, "V1VolumeMount") for m in manifests.pod_volume_mounts()],
        labels=manifests.labels(pipeline, stage),
        # literal(): the pipeline document is data, never a Jinja template.
        annotations={manifests.PIPELINE_ANNOTATION: literal(pipeline.to_yaml())},
        on_finish_action="delete_succeeded_pod",  # a failed pod stays for `kubectl describe`
        get_logs=True,
        log_events_on_failure=True,
        startup_timeout_seconds=POD_STARTUP_TIMEOUT,
        reattach_on_restart=True,
        do_xcom_push=False,
    )


def spark_application_task(pipeline: NamedPipeline, stage: registry.Stage) -> BaseOperator:
    """A Spark stage as a SparkApplication, submitted and followed by the Spark operator."""
    from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator

    app = manifests.spark_application(pipeline, stage, literal(pipeline.to_yaml()))
    return SparkKubernetesOperator(
        task_id=stage.name,
        doc_md=stage.summary,
        kubernetes_conn_id=KUBERNETES_CONN_ID,
        name=app["metadata"]["name"],
        namespace=app["metadata"]["namespace"],
        template_spec=app,
        get_logs=True,
        log_events_on_failure=True,
        startup_timeout_seconds=POD_STARTUP_TIMEOUT,
        reattach_on_restart=True,
        delete_on_termination=True,
        do_xcom_push=False,
    )


def livy_task(pipeline: NamedPipeline, stage: registry.Stage) -> BaseOperator:
    """A Spark stage as a Livy batch; the task polls it until it ends (polling 0 would not wait)."""
    from airflow.providers.apache.livy.operators.livy import LivyOperator

    return LivyOperator(
        task_id=stage.name,
        doc_md=stage.summary,
        livy_conn_id=LIVY_CONN_ID,
        polling_interval=LIVY_POLL_SECONDS,
        **manifests.livy_batch(pipeline, stage, literal(pipeline.to_yaml())),
    )
