"""Make the live children match the spec: the one code path behind create, update, resume and
the drift timer, so all four behave the same and every one of them is idempotent.

A child is written only when the live object lacks something the operator wants (live objects
carry server defaults, so "contains what we want" is the comparison, not equality). Each written
child carries a hash of what was applied, so a field the spec no longer sets also counts as a
difference and server-side apply removes it. Changes a StatefulSet cannot take are refused
before anything is written.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from queue_operator.builders import (
    Manifest,
    build_children,
    build_secret,
    checksum,
    disabled_children,
    generate_password,
    secret_ref,
)
from queue_operator.kube import KubeApi
from queue_operator.naming import APPLIED_HASH, Owner
from queue_operator.spec import RedisQueueSpec, parse_quantity


class RefusedChange(Exception):
    """A spec change that would need the StatefulSet recreated (or data deleted)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class MissingSecret(Exception):
    """The named password Secret (or its key) does not exist (yet)."""


@dataclass
class Outcome:
    """What a reconcile pass wrote, as ``Kind/name`` strings, for logs and tests."""

    written: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def contains(live: Any, desired: Any) -> bool:
    """Whether ``live`` already has everything in ``desired`` (extra server defaults allowed).

    Lists must match item by item: order matters for containers and ports, and a list that
    lost an item has drifted.
    """
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(
            key in live and contains(live[key], value) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(live) == len(desired)
            and all(contains(a, b) for a, b in zip(live, desired, strict=True))
        )
    return bool(live == desired)


def stamp(desired: Manifest) -> Manifest:
    """A copy of ``desired`` annotated with the hash of its content."""
    digest = hashlib.sha256(json.dumps(desired, sort_keys=True).encode()).hexdigest()[:20]
    stamped = copy.deepcopy(desired)
    stamped["metadata"].setdefault("annotations", {})[APPLIED_HASH] = digest
    return stamped


def _claim(statefulset: Manifest) -> dict[str, Any]:
    for template in statefulset.get("spec", {}).get("volumeClaimTemplates", []):
        if template.get("metadata", {}).get("name") == "data":
            return dict(template.get("spec", {}))
    return {}


def storage_refusal(
    live_statefulset: Manifest | None, spec: RedisQueueSpec
) -> RefusedChange | None:
    """A StatefulSet's volumeClaimTemplates are immutable, and a PVC can never shrink.

    Returns the refusal to report, or ``None`` when the live StatefulSet (if any) already has
    the requested storage.
    """
    if live_statefulset is None:
        return None
    claim = _claim(live_statefulset)
    live_size = str(claim.get("resources", {}).get("requests", {}).get("storage", "0"))
    wanted = spec.persistence
    if parse_quantity(wanted.size) < parse_quantity(live_size):
        return RefusedChange(
            "StorageShrinkRefused",
            f"persistence.size {wanted.size} is smaller than the existing volume ({live_size}); "
            "a volume cannot shrink without losing the AOF. Set it back to "
            f"{live_size} or larger.",
        )
    live_class = str(claim.get("storageClassName", ""))
    if parse_quantity(wanted.size) > parse_quantity(live_size) or (
        wanted.storage_class_name != live_class
    ):
        return RefusedChange(
            "StorageChangeRefused",
            f"the StatefulSet's volume template ({live_size}, class {live_class or 'default'!r}) "
            "is immutable; to grow the volume, expand the PVC, then delete the StatefulSet with "
            "--cascade=orphan and the operator recreates it (see the README section 'Operator')",
        )
    return None


async def ensure_password(api: KubeApi, owner: Owner, spec: RedisQueueSpec) -> str:
    """Make sure the password Secret exists and return the checksum of the password.

    The generated Secret is created once and never rewritten: the AOF and every client already
    use that password. A named existing Secret is only read.
    """
    name, key = secret_ref(owner, spec)
    live = await api.get("v1", "Secret", owner.namespace, name)
    if live is None:
        if spec.auth.existing_secret:
            raise MissingSecret(f"Secret {name!r} named in spec.auth.existingSecret is missing")
        live = await api.create(build_secret(owner, generate_password()))
    value = live.get("data", {}).get(key)
    if not value:
        raise MissingSecret(f"Secret {name!r} has no key {key!r}")
    return checksum({key: value})


async def reconcile(api: KubeApi, owner: Owner, spec: RedisQueueSpec) -> Outcome:
    """Create or repair every child; raises :class:`RefusedChange` having written nothing."""
    live_statefulset = await api.get("apps/v1", "StatefulSet", owner.namespace, owner.redis)
    refusal = storage_refusal(live_statefulset, spec)
    if refusal is not None:
        raise refusal
    outcome = Outcome()
    secret_checksum = await ensure_password(api, owner, spec)
    for child in build_children(owner, spec, secret_checksum=secret_checksum):
        desired = stamp(child)
        meta = desired["metadata"]
        if desired["kind"] == "StatefulSet":
            live = live_statefulset
        else:
            live = await api.get(
                desired["apiVersion"], desired["kind"], owner.namespace, meta["name"]
            )
        if live is None or not contains(live, desired):
            await api.apply(desired)
            outcome.written.append(f"{desired['kind']}/{meta['name']}")
    for api_version, kind, name in disabled_children(owner, spec):
        if await api.delete(api_version, kind, owner.namespace, name):
            outcome.deleted.append(f"{kind}/{name}")
    return outcome


async def read_password(api: KubeApi, owner: Owner, spec: RedisQueueSpec) -> str | None:
    """The password in clear, for the status timer's own connection to Redis."""
    name, key = secret_ref(owner, spec)
    secret = await api.get("v1", "Secret", owner.namespace, name)
    encoded = (secret or {}).get("data", {}).get(key)
    return base64.b64decode(encoded).decode() if encoded else None
