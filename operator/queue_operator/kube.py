"""A small async Kubernetes REST client for the operator's own objects.

Kopf talks to the API for the RedisQueue itself; the children (ConfigMap, Secret, StatefulSet,
Services, Deployment, PDB) go through this client. It reuses Kopf's public credentials type
(:class:`kopf.ConnectionInfo`, from the same login handler Kopf uses), so the operator needs no
Kubernetes client library and authenticates exactly as Kopf does: service account in the
cluster, kubeconfig outside it.

Writes use server-side apply (``application/apply-patch+yaml`` with a field manager and
``force``): the API server then owns the merge, and fields the operator stops setting are
removed. An apply on a missing object creates it on a real server; API servers without apply
semantics answer 404, and the client falls back to a plain create.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import kopf

from queue_operator.naming import API_VERSION, MANAGER, PLURAL

Manifest = dict[str, Any]

PLURALS = {
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "Service": "services",
    "StatefulSet": "statefulsets",
    "Deployment": "deployments",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "RedisQueue": PLURAL,
}
TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=10)


class ApiError(Exception):
    """A failed API call; ``status`` is the HTTP status, or 0 when the server was unreachable."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status


def object_path(api_version: str, kind: str, namespace: str, name: str = "") -> str:
    """The REST path of a namespaced object (or of its collection when ``name`` is empty)."""
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    path = f"{prefix}/namespaces/{namespace}/{PLURALS[kind]}"
    return f"{path}/{name}" if name else path


class KubeApi:
    """One aiohttp session per set of credentials; (re)built by :meth:`connect` on each login."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._server = ""

    async def connect(self, info: kopf.ConnectionInfo) -> None:
        """Switch to fresh credentials (Kopf calls the login handler again on HTTP 401)."""
        await self.close()
        self._server = info.server.rstrip("/")
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=info.as_ssl_context()),
            headers={**info.as_http_headers(), "User-Agent": MANAGER},
            timeout=TIMEOUT,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: Manifest | None = None,
        content_type: str = "application/json",
        params: dict[str, str] | None = None,
    ) -> Manifest | None:
        """One call; ``None`` for 404, :class:`ApiError` for anything else that is not 2xx."""
        if self._session is None:
            raise ApiError(0, "not logged in to the Kubernetes API yet")
        try:
            async with self._session.request(
                method,
                self._server + path,
                data=None if body is None else json.dumps(body),
                headers={"Content-Type": content_type},
                params=params,
            ) as response:
                if response.status == 404:
                    return None
                text = await response.text()
                if response.status >= 400:
                    raise ApiError(response.status, _message(text))
                result: Manifest = json.loads(text) if text else {}
                return result
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(0, f"{method} {path}: {exc!r}") from exc

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> Manifest | None:
        return await self._request("GET", object_path(api_version, kind, namespace, name))

    async def create(self, obj: Manifest) -> Manifest:
        """Create; if it already exists (409, someone was faster), return the live object."""
        meta = obj["metadata"]
        collection = object_path(obj["apiVersion"], obj["kind"], meta["namespace"])
        try:
            created = await self._request(
                "POST", collection, body=obj, params={"fieldManager": MANAGER}
            )
        except ApiError as exc:
            if exc.status != 409:
                raise
            created = await self.get(
                obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"]
            )
        if created is None:
            raise ApiError(404, f"{obj['kind']} {meta['name']} vanished while being created")
        return created

    async def apply(self, obj: Manifest) -> Manifest:
        """Server-side apply ``obj`` as the operator's field manager, creating it if needed."""
        meta = obj["metadata"]
        path = object_path(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])
        applied = await self._request(
            "PATCH",
            path,
            body=obj,
            content_type="application/apply-patch+yaml",  # JSON is valid YAML
            params={"fieldManager": MANAGER, "force": "true"},
        )
        return applied if applied is not None else await self.create(obj)

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """Delete if present; ``True`` when something was deleted."""
        path = object_path(api_version, kind, namespace, name)
        return await self._request("DELETE", path) is not None

    async def get_queue(self, namespace: str, name: str) -> Manifest | None:
        return await self.get(API_VERSION, "RedisQueue", namespace, name)

    async def patch_queue_status(self, namespace: str, name: str, status: Manifest) -> None:
        """Merge-patch the status subresource (the spec is the user's; only status is ours)."""
        path = object_path(API_VERSION, "RedisQueue", namespace, name) + "/status"
        await self._request(
            "PATCH", path, body={"status": status}, content_type="application/merge-patch+json"
        )


def _message(text: str) -> str:
    """The ``message`` of a Kubernetes Status reply, or the raw text (truncated)."""
    try:
        return str(json.loads(text)["message"])
    except (ValueError, KeyError, TypeError):
        return text[:300]
