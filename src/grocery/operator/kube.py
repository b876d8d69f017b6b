"""The few Kubernetes API calls the operator makes besides kopf's own: ConfigMaps and one Secret.

It connects the way kopf does: the operator's login handler hands it the same `kopf.ConnectionInfo`
(server, CA, token or client certificate), so there is one source of credentials. Writes are JSON
merge patches; a missing object is `None`, not an error. Any other failure is a `KubeError`.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import kopf


class KubeError(Exception):
    """The Kubernetes API failed or refused a call."""


class KubeClient:
    """ConfigMaps and Secrets over one httpx connection pool; close it with `aclose()`."""

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
            raise _Missing(path)
        if response.status_code >= 300:
            raise KubeError(
                f"Kubernetes API answered {response.status_code} to {method} {path}: {_message(response)}"
            )
        return response.json() if response.content else {}


class _Missing(KubeError):
    pass


def _path(plural: str, namespace: str, name: str | None = None) -> str:
    path = f"/api/v1/namespaces/{namespace}/{plural}"
    return f"{path}/{name}" if name else path


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", ""))[:200]
    except ValueError:
        return response.text[:200]
