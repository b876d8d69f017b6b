"""The few Kubernetes API calls the operator makes besides kopf's own: ConfigMaps, one Secret, data-deletion Jobs.

It connects the way kopf does: the operator's login handler hands it the same `kopf.ConnectionInfo`
(server, CA, token or client certificate), so there is one source of credentials. Writes are JSON
merge patches; a missing object is `None`, not an error; creating one that exists already is `None`
too (a deterministic name: a repeated handler finds its own object). Any other failure is a `KubeError`.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import kopf


class KubeError(Exception):
    """The Kubernetes API failed or refused a call; `status` is its HTTP status (None: no answer)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class KubeClient:
    """ConfigMaps, Secrets and Jobs over one httpx connection pool; close it with `aclose()`."""

    def __init__(self, info: kopf.ConnectionInfo, timeout: float = 30.0) -> None:
        verify: Any = info.as_ssl_context() if info.server.startswith("https://") else True
        self._http = httpx.AsyncClient(
            base_url=info.server.rstrip("/"), headers=info.as_http_headers(), verify=verify, timeout=timeout
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- ConfigMaps ------------------------------------------------------------------------------

    async def get_configmap(self, namespace: str, name: str) -> dict | None:
        return await self._get(_path("configmaps", namespace, name))

    async def create_configmap(self, body: dict) -> dict:
        namespace = body["metadata"]["namespace"]
        return await self._request("POST", _path("configmaps", namespace), json=body)

    async def patch_configmap(self, namespace: str, name: str, patch: dict) -> dict:
        headers = {"Content-Type": "application/merge-patch+json"}
        return await self._request("PATCH", _path("configmaps", namespace, name), json=patch, headers=headers)

    async def delete_configmap(self, namespace: str, name: str) -> bool:
        """Delete; False when it was already gone."""
        try:
            await self._request("DELETE", _path("configmaps", namespace, name))
        except _Missing:
            return False
        return True

    # -- Secrets ---------------------------------------------------------------------------------

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        """The Secret's data, decoded; None when there is no such Secret."""
        secret = await self._get(_path("secrets", namespace, name))
        if secret is None:
            return None
        decoded = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        return {**decoded, **(secret.get("stringData") or {})}

    # -- Jobs ------------------------------------------------------------------------------------

    async def get_job(self, namespace: str, name: str) -> dict | None:
        return await self._get(_path("jobs", namespace, name, api=BATCH))

    async def create_job(self, body: dict) -> dict | None:
        """Create; None when a Job of that name exists already (409)."""
        try:
            return await self._request(
                "POST", _path("jobs", body["metadata"]["namespace"], api=BATCH), json=body
            )
        except KubeError as exc:
            if exc.status == 409:
                return None
            raise

    async def delete_job(self, namespace: str, name: str) -> bool:
        """Delete the Job and, in the background, its pods; False when it was already gone."""
        try:
            await self._request(
                "DELETE",
                _path("jobs", namespace, name, api=BATCH),
                params={"propagationPolicy": "Background"},
            )
        except _Missing:
            return False
        return True

    # -- transport -------------------------------------------------------------------------------

    async def _get(self, path: str) -> dict | None:
        try:
            return await self._request("GET", path)
        except _Missing:
            return None

    async def _request(self, method: str, path: str, **kwargs: Any) -> dict:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise KubeError(f"Kubernetes API {method} {path} failed: {exc.__class__.__name__}") from None
        if response.status_code == 404:
            raise _Missing(path, 404)
        if response.status_code >= 300:
            raise KubeError(
                f"Kubernetes API answered {response.status_code} to {method} {path}: {_message(response)}",
                response.status_code,
            )
        return response.json() if response.content else {}


class _Missing(KubeError):
    pass


CORE = "/api/v1"
BATCH = "/apis/batch/v1"


def _path(plural: str, namespace: str, name: str | None = None, api: str = CORE) -> str:
    path = f"{api}/namespaces/{namespace}/{plural}"
    return f"{path}/{name}" if name else path


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", ""))[:200]
    except ValueError:
        return response.text[:200]
