"""The kopf handlers of the GroceryPipeline operator, registered by `register(settings)`.

    render     create/update/resume: the pipeline's ConfigMap for the DAG factory (owned by the resource)
    suspend    create/resume, and updates of spec.suspend: pause or unpause the DAG in Airflow
    run-now    the grocery.io/run-now annotation: one DAG run per annotation value, acknowledged in
               status.lastRunRequest; the run id is derived from the value, so Airflow itself refuses
               a second run for the same request (after a restart, a replayed event, a lost status write)
    status     a timer: reads Airflow and writes phase, runs, stages and conditions; re-applies
               spec.suspend when someone paused or unpaused the DAG by hand; posts Events on changes
    finalize   delete: removes the ConfigMap, records a data-deletion request when spec.onDelete is
               Delete, pauses the DAG

Airflow or Kubernetes failing is `kopf.TemporaryError` with a doubling delay, and the status timer
writes it as a condition (Ready False, Degraded True, reason AirflowUnreachable, ...): no crash loop.
The face `operator/main.py` reads `Settings` from the environment once and calls `register`.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from grocery.config import API_GROUP, API_VERSION, NamedPipeline, PipelineSpec, parse_spec
from grocery.errors import ConfigError
from grocery.operator import resources
from grocery.operator.airflow import AirflowClient, AirflowError, CredentialsMissing, NotFound
from grocery.operator.kube import KubeClient, KubeError
from grocery.operator.settings import Settings
from grocery.operator.status import Observation, Phase, PipelineStatus, build_status, transitions, utcnow

RESOURCE = (API_GROUP, API_VERSION, resources.PLURAL)
FINALIZER = f"{API_GROUP}/finalizer"
KOPF_PREFIX = f"kopf.{API_GROUP}"
TIMER_FIELDS = {"phase", "dag_id", "last_run", "last_successful_run", "stages", "conditions", "last_checked"}


class PipelineOperator:
    """The handlers, sharing the settings and the two API clients."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._kube: KubeClient | None = None
        self._airflow: AirflowClient | None = None

    @property
    def kube(self) -> KubeClient:
        if self._kube is None:
            raise kopf.TemporaryError("not logged in to Kubernetes yet", delay=1)
        return self._kube

    @property
    def airflow(self) -> AirflowClient:
        if self._airflow is None:
            raise kopf.TemporaryError("the operator has not started yet", delay=1)
        return self._airflow

    # -- activities ------------------------------------------------------------------------------

    async def startup(self, settings: kopf.OperatorSettings, logger: logging.Logger, **_: Any) -> None:
        """Tune kopf (watch timeouts, where it keeps its state) and open the Airflow client."""
        # A watch without timeouts can hang silently forever after a network hiccup: the operator goes blind.
        settings.watching.server_timeout = self.settings.watch_timeout
        settings.watching.client_timeout = self.settings.watch_timeout + 60
        settings.watching.connect_timeout = 30
        settings.networking.request_timeout = 60
        # kopf's own bookkeeping in annotations, so the status stays ours (and schema-valid). Not under
        # grocery.io/ itself: kopf ignores every annotation of its storage prefix, grocery.io/run-now too.
        settings.persistence.finalizer = FINALIZER
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=KOPF_PREFIX, key="last-handled-configuration"
        )
        self._airflow = AirflowClient(
            self.settings.airflow_url, self._airflow_credentials, self.settings.airflow_timeout
        )
        logger.info(
            f"Airflow at {self.settings.airflow_url}; status every {self.settings.status_interval:g}s"
        )

    async def login(self, **kwargs: Any) -> kopf.ConnectionInfo:
        """Credentials for kopf and for our own Kubernetes client: one source for both."""
        if self.settings.kube_api_url:
            info = kopf.ConnectionInfo(
                server=self.settings.kube_api_url, default_namespace=self.settings.namespace
            )
        else:
            info = kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)
        if info is None:
            raise kopf.LoginError(
                "no Kubernetes credentials: not in a pod, no kubeconfig, GROCERY_KUBE_API_URL unset"
            )
        old, self._kube = self._kube, KubeClient(info)
        if old is not None:
            await old.aclose()
        return info

    async def cleanup(self, **_: Any) -> None:
        for client in (self._airflow, self._kube):
            if client is not None:
                await client.aclose()
        self._airflow = self._kube = None

    async def _airflow_credentials(self) -> tuple[str, str] | None:
        name, namespace = self.settings.airflow_secret, self.settings.namespace
        if not name:
            return None
        try:
            data = await self.kube.read_secret(namespace, name)
        except KubeError as exc:
            raise CredentialsMissing(f"cannot read Secret {namespace}/{name}: {exc}") from None
        if data is None:
            raise CredentialsMissing(f"Secret {namespace}/{name} (GROCERY_AIRFLOW_SECRET) does not exist")
        if not data.get("username") or not data.get("password"):
            raise CredentialsMissing(f"Secret {namespace}/{name} needs the keys username and password")
        return data["username"], data["password"]

    # -- resource handlers -----------------------------------------------------------------------

    async def render(
        self, body: kopf.Body, name: str, namespace: str, meta: kopf.Meta, status: kopf.Status,
        patch: kopf.Patch, retry: int, logger: logging.Logger, **_: Any,
    ) -> None:  # fmt: skip
        """Create or update the ConfigMap the DAG factory reads; nothing changes when nothing differs."""
        pipeline = _pipeline(body, name, namespace)
        target = self._config_namespace(namespace)
        desired = resources.build_configmap(pipeline, target)
        if target == namespace:  # owner references cannot cross namespaces; the finalizer cleans up otherwise
            kopf.adopt(desired, owner=body)
        cm_name = desired["metadata"]["name"]
        try:
            live = await self.kube.get_configmap(target, cm_name)
            if live is None:
                await self.kube.create_configmap(desired)
                kopf.info(body, reason="ConfigMapCreated", message=f"rendered {target}/{cm_name} for Airflow")
            elif drift := resources.configmap_drift(live, desired):
                await self.kube.patch_configmap(target, cm_name, drift)
                kopf.info(body, reason="ConfigMapUpdated", message=f"re-rendered {target}/{cm_name}")
            else:
                logger.debug(f"ConfigMap {target}/{cm_name} is up to date")
        except KubeError as exc:
            raise kopf.TemporaryError(str(exc), delay=self.settings.backoff(retry)) from None
        patch.status["observedGeneration"] = meta.get("generation")
        patch.status["dagId"] = pipeline.dag_id
        patch.status["configMap"] = f"{target}/{cm_name}"
        if not status.get("phase"):
            patch.status["phase"] = Phase.PENDING.value

    async def suspend(
        self, body: kopf.Body, name: str, namespace: str, retry: int, logger: logging.Logger, **_: Any
    ) -> None:
        """Pause or unpause the DAG as spec.suspend says (the status timer applies it once Airflow loads the DAG)."""
        pipeline = _pipeline(body, name, namespace)
        paused = pipeline.spec.suspend
        try:
            applied = await self.airflow.set_paused(pipeline.dag_id, paused)
        except AirflowError as exc:
            raise kopf.TemporaryError(
                f"cannot {'pause' if paused else 'unpause'}: {exc.message}",
                delay=self.settings.backoff(retry),
            ) from None
        if applied:
            kopf.info(
                body,
                reason="Paused" if paused else "Resumed",
                message=f"DAG {pipeline.dag_id} is_paused={paused}",
            )
        else:
            logger.info(f"DAG {pipeline.dag_id} is not loaded yet; suspend={paused} is applied once it is")

    async def run_now(
        self, body: kopf.Body, name: str, namespace: str, uid: str, annotations: kopf.Annotations,
        status: kopf.Status, patch: kopf.Patch, retry: int, logger: logging.Logger, **_: Any,
    ) -> None:  # fmt: skip
        """Trigger one DAG run for the annotation's value and acknowledge it in the status."""
        value = annotations.get(resources.RUN_NOW)
        if value is None or status.get("lastRunRequest") == value:
            return
        pipeline = _pipeline(body, name, namespace)
        run_id = resources.run_now_id(uid or "", value)
        try:
            started = await self.airflow.trigger(
                pipeline.dag_id, run_id, note=f"{resources.RUN_NOW}: {value}"
            )
        except NotFound:
            raise kopf.TemporaryError(
                f"DAG {pipeline.dag_id} is not loaded in Airflow yet; the run waits",
                delay=self.settings.backoff(retry),
            ) from None
        except AirflowError as exc:
            raise kopf.TemporaryError(
                f"cannot trigger a run: {exc.message}", delay=self.settings.backoff(retry)
            ) from None
        if started:
            note = (
                " (the DAG is paused: the run waits for spec.suspend=false)" if pipeline.spec.suspend else ""
            )
            kopf.info(
                body, reason="RunTriggered", message=f"DAG run {run_id} for {resources.RUN_NOW}={value}{note}"
            )
        else:
            logger.info(
                f"DAG run {run_id} exists already: acknowledging {resources.RUN_NOW}={value} without a second run"
            )
        patch.status["lastRunRequest"] = value
        patch.status["lastRunRequestId"] = run_id

    async def refresh_status(
        self, body: kopf.Body, name: str, namespace: str, meta: kopf.Meta, status: kopf.Status,
        patch: kopf.Patch, retry: int, logger: logging.Logger, **_: Any,
    ) -> None:  # fmt: skip
        """Ask Airflow how the pipeline is doing and write it down; Airflow failing is a condition, then a retry."""
        if self._airflow is None:  # the operator is stopping: its clients are closed
            return
        try:
            pipeline = _pipeline(body, name, namespace)
        except kopf.PermanentError as exc:
            logger.warning(f"status not refreshed: {exc}")
            return
        previous = PipelineStatus.model_validate(dict(status))
        try:
            seen: Observation | AirflowError = await self._observe(body, pipeline)
        except AirflowError as exc:
            seen = exc
        new = build_status(pipeline.spec, meta.get("generation"), pipeline.dag_id, previous, seen, utcnow())
        patch.status.update(new.model_dump(mode="json", by_alias=True, include=TIMER_FIELDS))
        for event in transitions(previous, new):
            kopf.event(body, type=event.type, reason=event.reason, message=event.message)
        if isinstance(seen, AirflowError):
            raise kopf.TemporaryError(seen.message, delay=self.settings.backoff(retry))

    async def _observe(self, body: kopf.Body, pipeline: NamedPipeline) -> Observation:
        airflow, dag_id, suspend = self.airflow, pipeline.dag_id, pipeline.spec.suspend
        dag = await airflow.get_dag(dag_id)
        if dag is None:
            return Observation(dag_loaded=False)
        # New DAGs start paused in Airflow, and someone may have flipped it in the UI.
        if dag.is_paused != suspend:
            await airflow.set_paused(dag_id, suspend)
            reason, verb = ("Paused", "paused") if suspend else ("Resumed", "unpaused")
            kopf.info(body, reason=reason, message=f"DAG {dag_id} {verb} to match spec.suspend={suspend}")
        last = await airflow.latest_run(dag_id)
        success = (
            last
            if last is not None and last.state == "success"
            else await airflow.latest_run(dag_id, "success")
        )
        tasks = await airflow.task_instances(dag_id, last.run_id) if last is not None else []
        return Observation(dag_loaded=True, paused=suspend, last_run=last, last_success=success, tasks=tasks)

    async def finalize(
        self, body: kopf.Body, name: str, namespace: str, retry: int, logger: logging.Logger, **_: Any
    ) -> None:
        """Remove what the operator made, keep the data unless spec.onDelete is Delete, pause the DAG."""
        try:
            pipeline = _pipeline(body, name, namespace)
        except kopf.PermanentError:  # an unparseable spec still names its ConfigMap and DAG; data is kept
            pipeline = NamedPipeline(name=name, namespace=namespace, spec=PipelineSpec())
        target = self._config_namespace(namespace)
        try:
            await self.kube.delete_configmap(target, resources.configmap_name(namespace, name))
            if pipeline.spec.on_delete == "Delete":
                await self._request_data_deletion(body, pipeline, target)
        except KubeError as exc:
            raise kopf.TemporaryError(str(exc), delay=self.settings.backoff(retry)) from None
        try:
            paused = await self.airflow.set_paused(pipeline.dag_id, True)
        except AirflowError as exc:
            raise kopf.TemporaryError(
                f"cannot pause DAG {pipeline.dag_id}: {exc.message}", delay=self.settings.backoff(retry)
            ) from None
        logger.info(
            f"finalized: ConfigMap removed, DAG {pipeline.dag_id} {'paused' if paused else 'was never loaded'}"
        )

    async def _request_data_deletion(self, body: kopf.Body, pipeline: NamedPipeline, target: str) -> None:
        # TODO(operator): a Job that consumes these requests and deletes the lake prefix and warehouse
        # datasets; that needs cloud credentials the operator deliberately does not have.
        record = resources.build_deletion_request(pipeline, target, utcnow().isoformat())
        if await self.kube.get_configmap(target, record["metadata"]["name"]) is None:
            await self.kube.create_configmap(record)
        kopf.warn(
            body, reason="DataDeletionRequested",
            message=f"spec.onDelete=Delete: recorded in ConfigMap {target}/{record['metadata']['name']}; "
            "the lake and warehouse are not deleted by the operator itself",
        )  # fmt: skip

    def _config_namespace(self, namespace: str) -> str:
        return self.settings.config_namespace or namespace


def _pipeline(body: kopf.Body, name: str, namespace: str) -> NamedPipeline:
    """The resource as a pipeline; a spec the model refuses (the CRD should have) is a permanent error."""
    try:
        spec = parse_spec(dict(body.get("spec") or {}), origin=f"{resources.SINGULAR} {namespace}/{name}")
    except ConfigError as exc:
        raise kopf.PermanentError(str(exc)) from None
    return NamedPipeline(name=name, namespace=namespace, spec=spec)


def _run_requested(annotations: kopf.Annotations, status: kopf.Status, **_: Any) -> bool:
    value = annotations.get(resources.RUN_NOW)
    return value is not None and status.get("lastRunRequest") != value


def register(settings: Settings, registry: kopf.OperatorRegistry | None = None) -> kopf.OperatorRegistry:
    """Register every handler, configured by `settings`, in `registry` (default: kopf's own)."""
    registry = registry if registry is not None else kopf.get_default_registry()
    op = PipelineOperator(settings)
    kopf.on.startup(registry=registry)(op.startup)
    kopf.on.login(registry=registry)(op.login)
    kopf.on.cleanup(registry=registry)(op.cleanup)

    for on in (kopf.on.create, kopf.on.resume):
        on(*RESOURCE, id="render", registry=registry)(op.render)
        on(*RESOURCE, id="suspend", registry=registry)(op.suspend)
        on(*RESOURCE, id="run-now", registry=registry, when=_run_requested)(op.run_now)
    kopf.on.update(*RESOURCE, id="render", field="spec", registry=registry)(op.render)
    kopf.on.update(*RESOURCE, id="suspend", field="spec.suspend", registry=registry)(op.suspend)
    kopf.on.update(*RESOURCE, id="run-now", registry=registry, when=_run_requested)(op.run_now)

    kopf.timer(*RESOURCE, id="status", interval=settings.status_interval, registry=registry)(
        op.refresh_status
    )
    # A deletion waits for Airflow to pause the DAG, but not forever: the ConfigMap is gone already.
    kopf.on.delete(*RESOURCE, id="finalize", timeout=settings.delete_timeout, registry=registry)(op.finalize)
    return registry
