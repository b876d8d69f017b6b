"""The operator's test bench (helpers; the fixtures are in conftest.py): kmock as the Kubernetes API, a fake Airflow, and the real operator.

kmock (an in-memory Kubernetes API on 127.0.0.1) is extended by `ApiServer` with what a real API
server does and kopf relies on: `metadata.resourceVersion` (without it kopf's finalizer JSON patch,
whose first op is a `test` of the resourceVersion, fails forever), uid/creationTimestamp/generation
(generation moves when the spec changes), the status subresource (status ignored on the main
endpoint, only status on /status), a failed JSON-patch `test` as 422 (kopf's "retry next cycle"), a
merge patch naming a `metadata.resourceVersion` other than the object's as 409 (a precondition),
and for GroceryPipelines the CRD's defaulting and validation.

kopf runs cluster-wide: kmock 0.8 cannot parse `GET /api/v1/namespaces` (a 500), which kopf's
namespace-restricted mode needs. The operator is started inside each test body (`operator_running`),
not in a fixture: kopf cancels the tasks it did not see at its start, pytest-asyncio's among them.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import attrs
import httpx
import jsonpatch
import jsonpointer
import kmock as km
import kopf
from crdcheck import apply_defaults, crd_schema, spec_errors
from kmock._internal import dicts as kmock_dicts

from grocery.config import API_GROUP, API_VERSION, KIND
from grocery.operator.handlers import register
from grocery.operator.resources import PLURAL
from grocery.operator.settings import Settings

PIPELINES = f"{API_GROUP}/{API_VERSION}/{PLURAL}"
JOBS = "batch/v1/jobs"
OPERATOR_NAMESPACE = "grocery-system"
AIRFLOW_SECRET = "airflow-api"
AIRFLOW_USER, AIRFLOW_PASSWORD = "grocery-operator", "s3cret"
T = TypeVar("T")


@attrs.define(kw_only=True)
class ApiServer(km.KubernetesEmulator):
    """kmock plus the API-server behaviour kopf and the operator depend on (see the module docstring)."""

    _versions: Any = attrs.field(factory=lambda: itertools.count(1), init=False)
    _writes: asyncio.Lock = attrs.field(factory=asyncio.Lock, init=False)

    async def _handle(self, request: km.Request) -> Any:
        if request.resource is None or request.action not in (km.action.CREATE, km.action.UPDATE):
            return await super()._handle(request)
        async with self._writes:  # one write at a time, so the resourceVersion check is meaningful
            # kmock finds a request's reactions by identity, so the (frozen) request is changed in place.
            object.__setattr__(request, "data", self._as_api_server_would(request))
            return await super()._handle(request)

    def _as_api_server_would(self, request: km.Request) -> Any:
        subresources = self._subresources(request.resource)
        if request.action == km.action.CREATE:
            obj = copy.deepcopy(request.data)
            meta = obj.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):  # kopf's Events are named this way
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:8]
            meta.update(
                uid=str(uuid.uuid4()), generation=1, resourceVersion=str(next(self._versions)),
                creationTimestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            )  # fmt: skip
            if "status" in subresources:
                obj.pop("status", None)
            self._admit(request.resource, obj)
            return obj
        key = (request.resource, request.namespace, request.name)
        if key not in self.objects or self.objects[key].deleted:
            return request.data  # kmock answers the 404
        current = copy.deepcopy(dict(self.objects[key].raw))
        expected = ((request.data or {}).get("metadata") or {}) if isinstance(request.data, dict) else {}
        if expected.get("resourceVersion") not in (None, current["metadata"]["resourceVersion"]):
            raise km.KubernetesError(
                status=409, reason="Conflict", message="the object has been modified; apply your changes "
                "to the latest version and try again",
            )  # fmt: skip
        try:
            new = copy.deepcopy(dict(kmock_dicts.patch_dict(current, request.data)))
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
            raise km.KubernetesError(
                status=422, reason="Invalid", message=f"the patch does not apply: {exc}"
            ) from None
        if "status" in subresources:
            if request.subresource == "status":
                new = {**current, "status": new.get("status")}
            else:
                new["status"] = current.get("status")
            if new["status"] is None:
                del new["status"]
        meta = new.setdefault("metadata", {})
        if new.get("spec") != current.get("spec"):
            meta["generation"] = int(meta.get("generation") or 1) + 1
        meta["resourceVersion"] = str(next(self._versions))
        self._admit(request.resource, new)
        return _merge_patch(current, new)

    def _admit(self, resource: Any, obj: dict) -> None:
        if resource == PIPELINES:
            obj["spec"] = apply_defaults(crd_schema()["properties"]["spec"], obj.get("spec") or {})
            if errors := spec_errors(obj["spec"]):
                raise km.KubernetesError(status=422, reason="Invalid", message="; ".join(errors))

    def _subresources(self, resource: Any) -> set[str]:
        for known in self.resources:
            if known == resource:
                return set(self.resources[known].subresources)
        return set()


def _merge_patch(old: Any, new: Any) -> Any:
    """The JSON merge patch that turns `old` into `new`."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch = {key: None for key in old if key not in new}
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            patch[key] = _merge_patch(old[key], value)
    return patch


def declare_resources(server: km.KubernetesEmulator) -> None:
    """What kopf and the operator need discovered: our CRD, plus namespaces, events, configmaps, secrets, jobs, CRDs."""
    server.resources[PIPELINES] = km.ResourceInfo(
        kind=KIND, namespaced=True, singular="grocerypipeline", shortnames={"gp"},
        verbs={"list", "watch", "get", "patch", "create", "delete"}, subresources={"status"},
    )  # fmt: skip
    core = {"list", "watch", "get", "patch", "create", "delete"}
    server.resources["v1/namespaces"] = km.ResourceInfo(kind="Namespace", namespaced=False, verbs=core)
    server.resources["v1/events"] = km.ResourceInfo(kind="Event", namespaced=True, verbs=core)
    server.resources["v1/configmaps"] = km.ResourceInfo(kind="ConfigMap", namespaced=True, verbs=core)
    server.resources["v1/secrets"] = km.ResourceInfo(kind="Secret", namespaced=True, verbs=core)
    server.resources[JOBS] = km.ResourceInfo(kind="Job", namespaced=True, verbs=core, subresources={"status"})
    server.resources["apiextensions.k8s.io/v1/customresourcedefinitions"] = km.ResourceInfo(
        kind="CustomResourceDefinition", namespaced=False, verbs=core
    )


class Kubectl:
    """What a person does with kubectl, over HTTP to the API (kmock)."""

    def __init__(self, url: str) -> None:
        self.http = httpx.AsyncClient(base_url=url, timeout=5)

    async def close(self) -> None:
        await self.http.aclose()

    @staticmethod
    def _pipelines(namespace: str, name: str | None = None) -> str:
        path = f"/apis/{API_GROUP}/{API_VERSION}/namespaces/{namespace}/{PLURAL}"
        return f"{path}/{name}" if name else path

    async def apply(self, manifest: dict) -> dict:
        namespace = manifest["metadata"].get("namespace", "default")
        response = await self.http.post(self._pipelines(namespace), json=manifest)
        response.raise_for_status()
        return response.json()

    async def patch(self, name: str, patch: dict, namespace: str = "default") -> dict:
        headers = {"Content-Type": "application/merge-patch+json"}
        response = await self.http.patch(self._pipelines(namespace, name), json=patch, headers=headers)
        response.raise_for_status()
        return response.json()

    async def delete(self, name: str, namespace: str = "default") -> None:
        (await self.http.delete(self._pipelines(namespace, name))).raise_for_status()

    async def get(self, name: str, namespace: str = "default") -> dict | None:
        response = await self.http.get(self._pipelines(namespace, name))
        return None if response.status_code == 404 else response.raise_for_status().json()

    async def configmaps(self, namespace: str = "default") -> list[dict]:
        response = await self.http.get(f"/api/v1/namespaces/{namespace}/configmaps")
        return response.raise_for_status().json()["items"]

    async def patch_configmap(self, namespace: str, name: str, patch: dict) -> None:
        headers = {"Content-Type": "application/merge-patch+json"}
        path = f"/api/v1/namespaces/{namespace}/configmaps/{name}"
        (await self.http.patch(path, json=patch, headers=headers)).raise_for_status()

    async def delete_configmap(self, namespace: str, name: str) -> None:
        (await self.http.delete(f"/api/v1/namespaces/{namespace}/configmaps/{name}")).raise_for_status()

    async def events(self, namespace: str = "default") -> list[dict]:
        response = await self.http.get(f"/api/v1/namespaces/{namespace}/events")
        return response.raise_for_status().json()["items"]

    async def jobs(self, namespace: str) -> list[dict]:
        response = await self.http.get(f"/apis/batch/v1/namespaces/{namespace}/jobs")
        return response.raise_for_status().json()["items"]

    async def finish_job(self, namespace: str, name: str, condition: str, reason: str = "") -> None:
        """What the Job controller writes when a Job ends: a Complete or Failed condition."""
        status = {"conditions": [{"type": condition, "status": "True", "reason": reason, "message": reason}]}
        status["succeeded" if condition == "Complete" else "failed"] = 1
        headers = {"Content-Type": "application/merge-patch+json"}
        path = f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}/status"
        (await self.http.patch(path, json={"status": status}, headers=headers)).raise_for_status()

    async def delete_job(self, namespace: str, name: str) -> None:
        (await self.http.delete(f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}")).raise_for_status()

    async def create_secret(self, namespace: str, name: str, string_data: dict[str, str]) -> None:
        import base64

        data = {k: base64.b64encode(v.encode()).decode() for k, v in string_data.items()}
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "data": data,
        }
        (await self.http.post(f"/api/v1/namespaces/{namespace}/secrets", json=body)).raise_for_status()


def pipeline_manifest(
    name: str, spec: dict | None = None, namespace: str = "default", annotations: dict | None = None
) -> dict:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": KIND, "metadata": meta, "spec": spec or {}}


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 10.0, what: str = "") -> T:
    """Poll `check` until it returns something truthy (and return it) or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = await check()
            if last:
                return last
        except (AssertionError, LookupError) as exc:  # "not yet": a missing key or a failed assert
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what or check.__name__}; last: {last!r}"
            )
        await asyncio.sleep(0.05)


def make_settings(kube_url: str, airflow_url: str, **overrides: str) -> Settings:
    env = {
        "GROCERY_AIRFLOW_URL": airflow_url,
        "GROCERY_KUBE_API_URL": kube_url,
        "GROCERY_NAMESPACE": OPERATOR_NAMESPACE,
        "GROCERY_AIRFLOW_SECRET": AIRFLOW_SECRET,
        "GROCERY_STATUS_INTERVAL": "0.3",
        "GROCERY_RETRY_DELAY": "0.2",
        "GROCERY_AIRFLOW_TIMEOUT": "2",
        "GROCERY_DELETE_TIMEOUT": "20",
        "GROCERY_WATCH_TIMEOUT": "30",
    }
    env.update({f"GROCERY_{k.upper()}": v for k, v in overrides.items()})
    return Settings.from_env(env)


def _watches(server: km.KubernetesEmulator) -> int:
    return sum(1 for r in list(server) if r.action == km.action.WATCH and r.resource == PIPELINES)


class _NotTheOperators(Collection[asyncio.Task]):
    """Tasks kopf must leave alone when it stops: the ones before it, and the HTTP servers' (kmock's).

    kopf cancels every task that appeared while it ran, after waiting 5 s for it; aiohttp's per-connection
    tasks of kmock would be among them (a slow stop, and a broken connection for the test's client).
    """

    def __init__(self, before: set[asyncio.Task]) -> None:
        self.before = set(before)

    def __contains__(self, task: object) -> bool:
        if task in self.before:
            return True
        code = getattr(task.get_coro(), "cr_code", None) if isinstance(task, asyncio.Task) else None
        return code is not None and ("/aiohttp/web_" in code.co_filename or "/kmock/" in code.co_filename)

    def __iter__(self) -> Iterator[asyncio.Task]:
        return iter(self.before)

    def __len__(self) -> int:
        return len(self.before)


@contextlib.asynccontextmanager
async def operator_running(server: km.KubernetesEmulator, settings: Settings) -> AsyncIterator[None]:
    """The real operator (our handlers in a fresh kopf registry) until the block ends."""
    registry = register(settings, kopf.OperatorRegistry())
    stop = asyncio.Event()
    seen = _watches(server)
    others = _NotTheOperators(asyncio.all_tasks())
    tasks = await kopf.spawn_tasks(registry=registry, clusterwide=True, standalone=True, stop_flag=stop)
    task = asyncio.create_task(kopf.run_tasks(tasks, ignored=others))

    async def watching() -> bool:
        if task.done():
            task.result()
        return _watches(server) > seen

    # kmock has no resourceVersion on lists: whatever exists before the WATCH would be replayed twice.
    await eventually(watching, timeout=10, what="kopf's watch on grocerypipelines")
    try:
        yield
    finally:
        stop.set()
        # kopf gives tasks still busy at a stop (a timer, a handler in its retry delay) 5 s to end; a test
        # does not wait that long: after 2 s the operator is cancelled, as a killed pod would be.
        done, _ = await asyncio.wait({task}, timeout=2)
        if not done:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=20)


async def wait_for(
    kubectl: Kubectl, name: str, check: Callable[[dict], Any], timeout: float = 10.0, what: str = ""
) -> dict:
    """The pipeline once `check(obj)` holds (an AssertionError inside `check` counts as "not yet")."""

    async def satisfied() -> dict | None:
        obj = await kubectl.get(name)
        return obj if obj is not None and check(obj) else None

    return await eventually(satisfied, timeout=timeout, what=what or f"{name} to satisfy {check.__name__}")


def condition(obj: dict, type_: str) -> dict:
    """One condition of a pipeline's status ({} when absent)."""
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_), {})


def writes(server: km.KubernetesEmulator, resource: str, action: Any = None) -> list[km.Request]:
    """The create/update/delete requests kmock received for a resource."""
    actions = (action,) if action else (km.action.CREATE, km.action.UPDATE, km.action.DELETE)
    return [r for r in list(server) if r.resource == resource and r.action in actions]
