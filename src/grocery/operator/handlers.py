"""The kopf handlers of the GroceryPipeline operator, registered by `register(settings)`.

    render     create/update/resume: the pipeline's ConfigMap for the DAG factory (owned by the resource)
    suspend    create/resume, and updates of spec.suspend: pause or unpause the DAG in Airflow
    run-now    the grocery.io/run-now annotation: one DAG run per annotation value, acknowledged in
               status.lastRunRequest; the run id is derived from the value, so Airflow itself refuses
               a second run for the same request (after a restart, a replayed event, a lost status write)
    status     a timer: reads Airflow and writes phase, runs, stages and conditions; re-applies
               spec.suspend when someone paused or unpaused the DAG by hand; posts Events on changes
    configmap  a timer: puts back the ConfigMap render made when it was deleted or changed by hand
               (a Warning event, ConfigMapRestored, says what); writes nothing while it is as rendered
    finalize   delete: removes the ConfigMap and pauses the DAG; with spec.onDelete Delete marks the DAG's
               unfinished runs failed, then runs a Job (`grocery purge --yes`, built like a stage pod),
               keeps the resource until it succeeded, and deletes the DAG in Airflow with its runs

Airflow or Kubernetes failing is `kopf.TemporaryError` with a doubling delay, and the status timer
writes it as a condition (Ready False, Degraded True, reason AirflowUnreachable, ...): no crash loop.
The face `operator/main.py` reads `Settings` from the environment once and calls `register`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import kopf

from grocery.airflow.dagfile import dag_file_name
from grocery.config import API_GROUP, API_VERSION, NamedPipeline, PipelineSpec, named_pipeline, parse_spec
from grocery.errors import ConfigError
from grocery.operator import resources
from grocery.operator.airflow import (
    AirflowClient,
    AirflowError,
    AirflowUnauthorized,
    CredentialsMissing,
    NotFound,
)
from grocery.operator.kube import KubeClient, KubeError
from grocery.operator.settings import Settings
from grocery.operator.status import (
    Observation,
    Phase,
    PipelineStatus,
    build_status,
    refused,
    transitions,
    utcnow,
)

RESOURCE = (API_GROUP, API_VERSION, resources.PLURAL)
FINALIZER = f"{API_GROUP}/finalizer"
KOPF_PREFIX = f"kopf.{API_GROUP}"
# Per-resource notes of a deletion in progress (kopf's memo): done once, even across retries.
_DAG_STATE = "finalize_dag_state"
_FAILURE_REPORTED = "finalize_failure_reported"
_RUNS_STOPPED = "finalize_runs_stopped"
_LOCAL_DATA_REPORTED = "finalize_local_data_reported"
_DATA_STATE = "finalize_data_state"
_DAG_DELETE_BEGAN = "finalize_dag_delete_began"  # seconds into the deletion when deleting the DAG began
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
        """Create or update the ConfigMap the DAG factory reads; nothing changes when nothing differs.

        A spec the model refuses renders nothing: the status says why, and the handler fails for good
        (kopf posts the error as an event) until the spec changes."""
        try:
            pipeline = self._pipeline(body, name, namespace)
        except kopf.PermanentError as exc:
            previous = PipelineStatus.model_validate(dict(status))
            new = refused(previous, meta.get("generation"), str(exc), utcnow())
            patch.status.update(new.model_dump(mode="json", by_alias=True, include={"phase", "conditions"}))
            raise
        where, change = await self._sync_configmap(body, pipeline, meta.get("generation"), retry)
        if change == "created":
            kopf.info(body, reason="ConfigMapCreated", message=f"rendered {where} for Airflow")
        elif change:
            kopf.info(body, reason="ConfigMapUpdated", message=f"re-rendered {where}")
        else:
            logger.debug(f"ConfigMap {where} is up to date")
        patch.status["observedGeneration"] = meta.get("generation")
        patch.status["dagId"] = pipeline.dag_id
        patch.status["configMap"] = where
        if not status.get("phase"):
            patch.status["phase"] = Phase.PENDING.value

    async def keep_configmap(
        self, body: kopf.Body, name: str, namespace: str, meta: kopf.Meta, status: kopf.Status,
        stopped: kopf.DaemonStopped, retry: int, **_: Any,
    ) -> None:  # fmt: skip
        """Put the rendered ConfigMap back when someone deleted or changed it (level-triggered: render
        reacts to the spec only); a ConfigMap as rendered is left alone, not rewritten.

        It waits for render to have rendered the current generation, and never renders a spec render
        refused. A spec updated during a tick is render's: the tick writes nothing over a ConfigMap
        rendered from a newer generation, nor over one changed since it read it (see _sync_configmap).
        A deletion in progress stops it (the finalizer removes the ConfigMap)."""
        generation = meta.get("generation")
        if stopped or status.get("observedGeneration") != generation:
            return
        try:
            pipeline = self._pipeline(body, name, namespace)
        except kopf.PermanentError:  # render refused it and said why
            return
        where, change = await self._sync_configmap(body, pipeline, generation, retry, repair=True)
        if change:
            what = "was deleted" if change == "created" else f"had its {change} changed"
            kopf.warn(
                body, reason="ConfigMapRestored",
                message=f"{where} {what} outside the operator: restored as rendered from the spec",
            )  # fmt: skip

    async def _sync_configmap(
        self, body: kopf.Body, pipeline: NamedPipeline, generation: int, retry: int, repair: bool = False
    ) -> tuple[str, str]:
        """Make the pipeline's ConfigMap as rendered from `generation`: (namespace/name, what changed). What
        changed is "created", the parts patched ("data, labels"), or "" when it was as rendered already.

        With `repair` (the configmap timer, whose spec may be a tick old) it writes nothing, and says "",
        when the ConfigMap was rendered from a newer generation, when the resource is being deleted
        (`body` is kopf's live view: finalize may have removed the ConfigMap), or when the ConfigMap
        changed or appeared since it was read (the write's precondition fails, 409): the next tick looks
        again."""
        target = self._config_namespace(pipeline.namespace)
        desired = resources.build_configmap(pipeline, target, generation)
        # Owner references cannot cross namespaces; the finalizer cleans up otherwise. Not kopf.adopt:
        # it copies the resource's labels too, and a relabelled resource would look like drift.
        if target == pipeline.namespace:
            kopf.append_owner_reference(desired, owner=body)
        cm_name = desired["metadata"]["name"]
        try:
            live = await self.kube.get_configmap(target, cm_name)
            if repair and (
                body.metadata.get("deletionTimestamp")
                or (live is not None and (resources.rendered_generation(live) or 0) > generation)
            ):
                change = ""
            elif live is None:
                await self.kube.create_configmap(desired)
                change = "created"
            elif drift := resources.configmap_drift(live, desired):
                change = ", ".join([*(["data"] if "data" in drift else []), *drift.get("metadata", {})])
                if repair:  # only over the ConfigMap it read
                    drift.setdefault("metadata", {})["resourceVersion"] = live["metadata"]["resourceVersion"]
                await self.kube.patch_configmap(target, cm_name, drift)
            else:
                change = ""
        except KubeError as exc:
            if repair and exc.status == 409:
                return f"{target}/{cm_name}", ""
            raise kopf.TemporaryError(str(exc), delay=self.settings.backoff(retry)) from None
        return f"{target}/{cm_name}", change

    async def suspend(
        self, body: kopf.Body, name: str, namespace: str, retry: int, logger: logging.Logger, **_: Any
    ) -> None:
        """Pause or unpause the DAG as spec.suspend says (the status timer applies it once Airflow loads the DAG)."""
        pipeline = self._pipeline(body, name, namespace)
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
        pipeline = self._pipeline(body, name, namespace)
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
            pipeline = self._pipeline(body, name, namespace)
        except kopf.PermanentError as exc:  # render wrote it into Ready (InvalidSpec) and an event
            logger.debug(f"status not refreshed: {exc}")
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
        if dag is None:  # not loaded yet, or its file does not import (a schedule Airflow refuses, ...)
            error = await airflow.import_error(dag_file_name(pipeline.file_name))
            return Observation(dag_loaded=False, import_error=error)
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
        self, body: kopf.Body, name: str, namespace: str, uid: str, memo: kopf.Memo,
        runtime: timedelta, retry: int, logger: logging.Logger, **_: Any,
    ) -> None:  # fmt: skip
        """Stop the pipeline (ConfigMap removed, DAG paused), then delete its data when spec.onDelete is Delete
        (its unfinished runs marked failed first, so no stage writes while the data goes).

        kopf calls it again after every `kopf.TemporaryError` until it returns, and each step is
        idempotent. Airflow is waited for at most GROCERY_DELETE_TIMEOUT (the ConfigMap is gone, so the
        DAG stops anyway); the data-deletion Job as long as it takes, because letting the resource go
        first would leave the data behind. spec.onDelete switched to Retain meanwhile keeps the data.
        """
        try:
            pipeline = self._pipeline(body, name, namespace)
        except kopf.PermanentError:  # an unparseable spec still names its ConfigMap and DAG; data is kept
            # Built unchecked: a name refused as too long for a DAG must not stop the deletion.
            pipeline = NamedPipeline.model_construct(name=name, namespace=namespace, spec=PipelineSpec())
        target = self._config_namespace(namespace)
        try:
            await self.kube.delete_configmap(target, resources.configmap_name(namespace, name))
        except KubeError as exc:
            raise kopf.TemporaryError(str(exc), delay=self.settings.backoff(retry)) from None
        # Paused once per deletion (memo is per resource): waiting for the Job must not hang on Airflow.
        if _DAG_STATE not in memo:
            memo[_DAG_STATE] = await self._pause_dag(pipeline, runtime, retry, logger)
        if pipeline.spec.on_delete == "Delete":
            if _DATA_STATE not in memo:  # deleted once: a retry for Airflow below posts no second event
                memo[_DATA_STATE] = await self._delete_data(body, pipeline, uid, memo, runtime, retry)
            history = await self._delete_dag(body, pipeline, memo, runtime, retry)
            data = f"{memo[_DATA_STATE]}, {history}"
        else:
            data = await self._keep_data(body, pipeline, uid, retry, logger)
        logger.info(f"finalized: ConfigMap removed, DAG {pipeline.dag_id} {memo[_DAG_STATE]}, {data}")

    def _retry_within_delete_timeout(
        self, failed: str, exc: AirflowError, runtime: timedelta, retry: int
    ) -> None:
        """Airflow failed during a deletion: retry (TemporaryError) until GROCERY_DELETE_TIMEOUT since the
        deletion began; past it, return, and the deletion goes on without Airflow."""
        if runtime.total_seconds() < self.settings.delete_timeout:
            raise kopf.TemporaryError(
                f"{failed}: {exc.message}", delay=self.settings.backoff(retry)
            ) from None

    async def _pause_dag(
        self, pipeline: NamedPipeline, runtime: timedelta, retry: int, logger: logging.Logger
    ) -> str:
        """Pause the deleted pipeline's DAG; after GROCERY_DELETE_TIMEOUT of Airflow failing, go on without."""
        try:
            paused = await self.airflow.set_paused(pipeline.dag_id, True)
        except AirflowError as exc:
            self._retry_within_delete_timeout(f"cannot pause DAG {pipeline.dag_id}", exc, runtime, retry)
            logger.warning(
                f"gave up pausing DAG {pipeline.dag_id} after {self.settings.delete_timeout:g}s: {exc.message}"
            )
            return "not paused (Airflow failed)"
        return "paused" if paused else "was never loaded"

    async def _stop_runs(
        self, body: kopf.Body, pipeline: NamedPipeline, memo: kopf.Memo, runtime: timedelta, retry: int
    ) -> None:
        """Before the data goes: mark the DAG's unfinished runs failed, so no stage writes while it is deleted.

        Airflow fails their running tasks, whose processes then stop; the Job starts one retry later,
        once Airflow lists no unfinished run. Airflow failing is retried up to GROCERY_DELETE_TIMEOUT
        (counted from the deletion), then the deletion goes ahead with a Warning.
        """
        if memo.get(_RUNS_STOPPED):
            return
        dag_id, delay = pipeline.dag_id, self.settings.backoff(retry)
        try:
            runs = await self.airflow.unfinished_runs(dag_id)
            for run in runs:
                await self.airflow.fail_run(
                    dag_id,
                    run.run_id,
                    note=f"stopped by the grocery operator: {pipeline.name} deleted with its data",
                )
        except AirflowError as exc:
            self._retry_within_delete_timeout(f"cannot stop the runs of DAG {dag_id}", exc, runtime, retry)
            memo[_RUNS_STOPPED] = True
            kopf.warn(
                body, reason="RunsNotStopped",
                message=f"Airflow failed ({exc.message}): a run of DAG {dag_id} in progress, if any, was not "
                "stopped before the data deletion and may write again; check the DAG in Airflow",
            )  # fmt: skip
            return
        if runs:
            ids = ", ".join(run.run_id for run in runs)
            kopf.info(body, reason="RunsStopped", message=f"marked failed before deleting the data: {ids}")
            raise kopf.TemporaryError(f"waiting for the stopped runs of DAG {dag_id} to end", delay=delay)
        memo[_RUNS_STOPPED] = True

    async def _delete_data(
        self, body: kopf.Body, pipeline: NamedPipeline, uid: str, memo: kopf.Memo, runtime: timedelta,
        retry: int,
    ) -> str:  # fmt: skip
        """Run the purge Job (`grocery purge --yes`) until it has succeeded; TemporaryError until then.

        A failed Job is reported once as a Warning event and left for its logs: Kubernetes removes it
        after resources.PURGE_TTL_SECONDS (or someone deletes it) and the next attempt runs a new one;
        a changed spec re-runs it at once. Data on local disks is out of a Job's reach: a Warning says so.
        """
        remote, local = resources.data_locations(pipeline.spec)
        if local and pipeline.spec.execution.mode == "local" and not memo.get(_LOCAL_DATA_REPORTED):
            memo[_LOCAL_DATA_REPORTED] = True
            kopf.warn(
                body, reason="DataNotDeleted",
                message=f"not deleted: {' and '.join(local)}, on the Airflow workers' disks (execution.mode "
                "local) out of the operator's reach; run `grocery purge --yes --config <pipeline file>` there",
            )  # fmt: skip
        if not remote:
            return "no data in the cluster's reach"
        desired = resources.build_purge_job(pipeline, uid)
        ns, job = desired["metadata"]["namespace"], desired["metadata"]["name"]
        what, where, delay = " and ".join(remote), f"{ns}/{job}", self.settings.backoff(retry)
        try:
            live = await self.kube.get_job(ns, job)
            if (
                live is not None
                and resources.job_state(live)[0] != "running"
                and resources.job_pipeline(live) != resources.job_pipeline(desired)
            ):
                await self.kube.delete_job(ns, job)
                kopf.info(
                    body, reason="DataDeletionRestarted", message=f"the spec changed: Job {where} runs again"
                )
                raise kopf.TemporaryError(f"waiting for the old Job {where} to go", delay=delay)
            if live is None:
                await self._stop_runs(body, pipeline, memo, runtime, retry)
                if await self.kube.create_job(desired) is not None:
                    kopf.info(body, reason="DataDeletionStarted", message=f"Job {where} deletes {what}")
                raise kopf.TemporaryError(f"waiting for Job {where} to delete the data", delay=delay)
        except KubeError as exc:
            raise kopf.TemporaryError(str(exc), delay=delay) from None
        state, reason = resources.job_state(live)
        if state == "succeeded":
            kopf.info(body, reason="DataDeleted", message=f"Job {where} deleted {what}")
            return "data deleted"
        if state == "failed":
            failed = (live.get("metadata") or {}).get("uid") or job
            if memo.get(_FAILURE_REPORTED) != failed:
                memo[_FAILURE_REPORTED] = failed
                kopf.warn(
                    body, reason="DataDeletionFailed",
                    message=f"Job {where} failed ({reason}): the data is not deleted, so the pipeline stays. "
                    f"See `kubectl logs -n {ns} job/{job}`. Fix the cause and the Job runs again, at once after "
                    f"`kubectl delete job -n {ns} {job}`, else within {resources.PURGE_TTL_SECONDS // 60} minutes; "
                    "or set spec.onDelete=Retain to keep the data and let the deletion finish",
                )  # fmt: skip
            raise kopf.TemporaryError(
                f"Job {where} failed ({reason}): waiting for it to run again, or for spec.onDelete=Retain",
                delay=delay,
            )
        raise kopf.TemporaryError(f"waiting for Job {where} to delete the data", delay=delay)

    async def _delete_dag(
        self, body: kopf.Body, pipeline: NamedPipeline, memo: kopf.Memo, runtime: timedelta, retry: int
    ) -> str:
        """spec.onDelete is Delete, the data gone: delete the DAG's records in Airflow, its runs with them.

        Airflow keeps a DAG's runs when its file goes, and a pipeline applied again under the same name
        has the same dag_id: it would report the deleted pipeline's runs (Succeeded, Fresh over purged
        data), and Airflow's scheduler would carry on after them instead of processing their days again.
        Runs still unfinished are failed first (Airflow refuses while a task runs). The ConfigMap went
        first, so the DAG file is gone or going. Airflow failing is retried for GROCERY_DELETE_TIMEOUT
        from here (the Job may have taken longer than that), then a Warning; a 403 at once."""
        dag_id = pipeline.dag_id
        began = memo.setdefault(_DAG_DELETE_BEGAN, runtime.total_seconds())
        await self._stop_runs(body, pipeline, memo, runtime, retry)
        try:
            deleted = await self.airflow.delete_dag(dag_id)
        except AirflowError as exc:
            forbidden = isinstance(exc, AirflowUnauthorized) and exc.status == 403
            if not forbidden and runtime.total_seconds() - began < self.settings.delete_timeout:
                raise kopf.TemporaryError(
                    f"cannot delete DAG {dag_id}: {exc.message}", delay=self.settings.backoff(retry)
                ) from None
            kopf.warn(
                body, reason="DagNotDeleted",
                message=f"Airflow failed ({exc.message}): DAG {dag_id} keeps the deleted pipeline's runs, which "
                f"a pipeline applied again as {pipeline.namespace}/{pipeline.name} would report as its own; "
                f"delete the DAG in Airflow (its UI, or `airflow dags delete {dag_id}`) before applying it again",
            )  # fmt: skip
            return "DAG's runs kept (Airflow failed)"
        if not deleted:
            return "no DAG in Airflow"
        kopf.info(body, reason="DagDeleted", message=f"DAG {dag_id} and its runs deleted from Airflow")
        return "DAG deleted"

    async def _keep_data(
        self, body: kopf.Body, pipeline: NamedPipeline, uid: str, retry: int, logger: logging.Logger
    ) -> str:
        """spec.onDelete is Retain: stop a purge Job that spec.onDelete=Delete had started, if it still runs."""
        ns = pipeline.spec.execution.namespace
        job = resources.purge_job_name(pipeline.namespace, pipeline.name, uid)
        try:
            live = await self.kube.get_job(ns, job)
            if live is None or resources.job_state(live)[0] != "running":
                return "data kept"
            await self.kube.delete_job(ns, job)
        except KubeError as exc:
            if exc.status == 403:  # no rights on Jobs there: the operator cannot have started one
                logger.debug(f"no purge Job looked for in {ns}: {exc}")
                return "data kept"
            raise kopf.TemporaryError(str(exc), delay=self.settings.backoff(retry)) from None
        kopf.warn(
            body, reason="DataDeletionStopped",
            message=f"spec.onDelete=Retain: stopped Job {ns}/{job}; what it had deleted is gone, the rest is kept",
        )  # fmt: skip
        return "data kept (purge stopped)"

    def _config_namespace(self, namespace: str) -> str:
        return self.settings.config_namespace or namespace

    def _pipeline(self, body: kopf.Body, name: str, namespace: str) -> NamedPipeline:
        """The resource as a pipeline, with the operator's (the release's) images where it names none; a
        spec the model refuses (the CRD should have) is a permanent error."""
        document = resources.with_images(
            dict(body.get("spec") or {}), self.settings.pipeline_image, self.settings.spark_image
        )
        origin = f"{resources.SINGULAR} {namespace}/{name}"
        try:
            return named_pipeline(name, namespace, parse_spec(document, origin=origin), origin)
        except ConfigError as exc:  # the CLI's hint (`grocery config`) is no help to kubectl
            raise kopf.PermanentError(f"{exc.message} (fix the spec and apply it again)") from None


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
    # First look one interval after the start: create/resume render it then, and the two must not race.
    kopf.timer(
        *RESOURCE, id="configmap", interval=settings.status_interval,
        initial_delay=settings.status_interval, registry=registry,
    )(op.keep_configmap)  # fmt: skip
    # No kopf timeout: a timed-out handler lets the resource go, and the data-deletion Job is waited for
    # as long as it takes. Waiting for Airflow is bounded inside (settings.delete_timeout).
    kopf.on.delete(*RESOURCE, id="finalize", registry=registry)(op.finalize)
    return registry
