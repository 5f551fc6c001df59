"""KMock's Kubernetes emulator with the object bookkeeping Kopf relies on.

KMock 0.8 stores objects as plain JSON and merges patches, but sets no ``uid``,
``resourceVersion`` or ``generation``. Kopf guards its finalizer JSON patches with a ``test`` of
``/metadata/resourceVersion`` and expects a failed test to come back as 422; the operator reports
``observedGeneration`` and needs a uid for ownerReferences. This subclass fills those in, the
way a real API server does, and nothing more: it still has no schema validation, no garbage
collection and no label selectors (those are tested elsewhere).

A test can make it refuse writes of one resource the way a real server refuses an invalid
object (:meth:`KubernetesApiEmulator.reject`). KMock's own reactions cannot do that: KMock
stores a created or patched object before any reaction answers, so a 422 from a reaction would
still leave the object there.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp.web
import jsonpatch
import kmock
from kmock._internal import enums, rendering

Body = dict[str, Any]


class KubernetesApiEmulator(kmock.KubernetesEmulator):
    """Assigns uid / resourceVersion / generation and answers failed patch tests with 422."""

    _versions = itertools.count(1)

    @property
    def rejections(self) -> dict[str, str]:
        """resource ("apps/v1/statefulsets") -> message of the 422 its creates/patches get.

        Kept in the instance ``__dict__`` (KMock's attrs classes use slots; this one does not).
        """
        found: dict[str, str] = self.__dict__.setdefault("_rejections", {})
        return found

    def reject(self, resource: str, message: str) -> None:
        """Answer every create or patch of ``resource`` with 422 Invalid, storing nothing."""
        self.rejections[resource] = message

    def accept(self, resource: str) -> None:
        self.rejections.pop(resource, None)

    def _live(self, request: rendering.Request) -> Body | None:
        if request.resource is None or request.name is None:
            return None
        key = (request.resource, request.namespace, request.name)
        if key not in self.objects or self.objects[key].deleted:
            return None
        raw: Body = self.objects[key].raw
        return raw

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        writes = (enums.action.CREATE, enums.action.UPDATE)
        if request.resource is not None and request.action in writes:
            for resource, message in self.rejections.items():
                if request.resource == resource and request.subresource is None:
                    raise kmock.KubernetesError(status=422, reason="Invalid", message=message)
        version = str(next(self._versions))
        if request.resource is not None and request.action == enums.action.CREATE:
            meta = request.data.setdefault("metadata", {})
            meta.update(
                uid=str(uuid.uuid4()),
                resourceVersion=version,
                generation=1,
                creationTimestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
        elif request.resource is not None and request.action == enums.action.UPDATE:
            live = self._live(request)
            if live is not None and isinstance(request.data, list):
                try:
                    jsonpatch.apply_patch(copy.deepcopy(live), request.data)
                except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                    raise kmock.KubernetesError(
                        status=422, reason="Invalid", message=str(exc)
                    ) from exc
                request.data.append(
                    {"op": "add", "path": "/metadata/resourceVersion", "value": version}
                )
            elif live is not None and isinstance(request.data, dict):
                meta = request.data.setdefault("metadata", {})
                meta["resourceVersion"] = version
                spec = request.data.get("spec")
                if request.subresource is None and spec is not None and spec != live.get("spec"):
                    meta["generation"] = int(live["metadata"].get("generation", 1)) + 1
        result: aiohttp.web.StreamResponse = await super()._handle(request)
        return result
