"""Make the live children match the spec: the one code path behind create, update, resume and
the sweeper's drift repair, so all four behave the same and every one of them is idempotent.

A child is written only when the live object lacks something the operator wants (live objects
carry server defaults, so "contains what we want" is the comparison, not equality). Each written
child carries a hash of what was applied, so a field the spec no longer sets also counts as a
difference and server-side apply removes it. Changes a StatefulSet cannot take are refused
before anything is written, and a child the API server rejects (HTTP 400/422: the CRD cannot
check everything a pod spec must satisfy) is reported as :class:`ChildRejected`.
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
    set_secret_checksum,
)
from queue_operator.kube import ApiError, KubeApi
from queue_operator.naming import APPLIED_HASH, Owner
from queue_operator.spec import Quantity, RedisQueueSpec, same_quantity

# Maps whose values are resource quantities (container resources, the claim's storage request).
QUANTITY_MAPS = frozenset({"limits", "requests"})
# What the API server answers for an object it will not accept as sent.
REJECTED = frozenset({400, 422})
# StatefulSet fields the API server refuses to change: the operator keeps the live values.
IMMUTABLE = ("selector", "serviceName", "volumeClaimTemplates")


class RefusedChange(Exception):
    """A spec change that would need the StatefulSet recreated (or data deleted)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class MissingSecret(Exception):
    """The named password Secret (or its key) does not exist (yet)."""


class ChildRejected(Exception):
    """The API server refused a child as invalid (HTTP 400/422); ``child`` is ``Kind/name``.

    Retrying the same object cannot succeed: only a spec change (or an admission policy
    change) can. The CRD accepts some of these (limits below requests, a malformed affinity).
    """

    def __init__(self, child: str, error: ApiError) -> None:
        self.child = child
        self.status = error.status
        self.message = f"the API server rejected {child}: {error}"
        super().__init__(self.message)


@dataclass
class Outcome:
    """What a reconcile pass wrote, as ``Kind/name`` strings, for logs and tests."""

    written: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def contains(live: Any, desired: Any, *, quantities: bool = False) -> bool:
    """Whether ``live`` already has everything in ``desired`` (extra server defaults allowed).

    Lists must match item by item: order matters for containers and ports, and a list that
    lost an item has drifted. Values in ``limits``/``requests`` maps (``quantities``) compare as
    amounts: the API server stores ``cpu: 0.5`` as ``500m`` and ``1024Mi`` as ``1Gi``.
    """
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return False
        for key, value in desired.items():
            if key not in live:
                return False
            if quantities and not isinstance(value, dict | list):
                if not same_quantity(live[key], value):
                    return False
            elif not contains(live[key], value, quantities=key in QUANTITY_MAPS):
                return False
        return True
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


def _claim_shape(statefulset: Manifest) -> dict[str, Any]:
    """What a claim template means, independent of spelling and server defaults.

    Labels and annotations are left out: they only reach PVCs created later, and the live ones
    are kept as they are (older versions of the operator put every owner label there).
    """
    templates = statefulset.get("spec", {}).get("volumeClaimTemplates", [])
    names = sorted(str(t.get("metadata", {}).get("name", "")) for t in templates)
    claim = _claim(statefulset)
    return {
        "names": names,
        "accessModes": sorted(claim.get("accessModes", [])),
        "volumeMode": claim.get("volumeMode", "Filesystem"),
        "selector": claim.get("selector"),
        "dataSource": claim.get("dataSource"),
    }


def _selector(statefulset: Manifest) -> dict[str, Any]:
    selector = dict(statefulset.get("spec", {}).get("selector", {}))
    if not selector.get("matchExpressions"):
        selector.pop("matchExpressions", None)
    return selector


def immutable_refusal(
    live_statefulset: Manifest | None, desired_statefulset: Manifest, spec: RedisQueueSpec
) -> RefusedChange | None:
    """Everything about the StatefulSet the API server will not change, checked before writing.

    Storage first (its own reasons and way out), then the selector, the governing Service and
    the rest of the claim template. Without this, such a change is an HTTP 422 on every pass.
    """
    storage = storage_refusal(live_statefulset, spec)
    if storage is not None or live_statefulset is None:
        return storage
    changed = []
    if _selector(live_statefulset) != _selector(desired_statefulset):
        changed.append("spec.selector")
    live_service = live_statefulset.get("spec", {}).get("serviceName")
    if live_service != desired_statefulset["spec"]["serviceName"]:
        changed.append("spec.serviceName")
    live_claim, desired_claim = _claim_shape(live_statefulset), _claim_shape(desired_statefulset)
    changed += [
        f"spec.volumeClaimTemplates {key}"
        for key in desired_claim
        if live_claim[key] != desired_claim[key]
    ]
    if not changed:
        return None
    return RefusedChange(
        "StatefulSetChangeRefused",
        f"the live StatefulSet differs in {', '.join(changed)}, which Kubernetes does not let "
        "change; delete the StatefulSet with --cascade=orphan (the pod and the PVC stay) and "
        "the operator recreates it (see docs/operator.md)",
    )


def keep_immutable(desired: Manifest, live: Manifest) -> Manifest:
    """``desired`` with the live StatefulSet's immutable fields, so that an apply never tries to
    change them (after :func:`immutable_refusal` found no real difference in them)."""
    kept = copy.deepcopy(desired)
    for key in IMMUTABLE:
        if key in live.get("spec", {}):
            kept["spec"][key] = copy.deepcopy(live["spec"][key])
    return kept


def storage_refusal(
    live_statefulset: Manifest | None, spec: RedisQueueSpec
) -> RefusedChange | None:
    """A StatefulSet's volumeClaimTemplates are immutable, and a PVC can never shrink.

    Returns the refusal to report, or ``None`` when the live StatefulSet (if any) already has
    the requested storage.
    """
    claim = _claim(live_statefulset or {})
    if not claim:
        return None  # no StatefulSet yet, or no "data" template (immutable_refusal says so)
    live_size = str(claim.get("resources", {}).get("requests", {}).get("storage", "0"))
    wanted = spec.persistence
    live_amount = Quantity(live_size).amount
    if wanted.size.amount < live_amount:
        return RefusedChange(
            "StorageShrinkRefused",
            f"persistence.size {wanted.size} is smaller than the existing volume ({live_size}); "
            "a volume cannot shrink without losing the AOF. Set it back to "
            f"{live_size} or larger.",
        )
    live_class = str(claim.get("storageClassName", ""))
    if wanted.size.amount > live_amount or (wanted.storage_class_name != live_class):
        return RefusedChange(
            "StorageChangeRefused",
            f"the StatefulSet's volume template ({live_size}, class {live_class or 'default'!r}) "
            "is immutable; to grow the volume, expand the PVC, then delete the StatefulSet with "
            "--cascade=orphan and the operator recreates it (see docs/operator.md)",
        )
    return None


async def get_password_secret(
    api: KubeApi, owner: Owner, spec: RedisQueueSpec
) -> tuple[str, str, Manifest | None]:
    """The name and key of the password Secret (the user's or the generated one), and the live
    Secret, ``None`` when it does not exist."""
    name, key = secret_ref(owner, spec)
    return name, key, await api.get("v1", "Secret", owner.namespace, name)


def encoded_password(secret: Manifest | None, key: str) -> str | None:
    """The password as the Secret stores it (base64), ``None`` when the Secret or key is
    missing or the value empty."""
    value = (secret or {}).get("data", {}).get(key)
    return str(value) if value else None


async def ensure_password(api: KubeApi, owner: Owner, spec: RedisQueueSpec) -> str:
    """Make sure the password Secret exists and return the checksum of the password.

    The generated Secret is created once and never rewritten: the AOF and every client already
    use that password. A named existing Secret is only read.
    """
    name, key, live = await get_password_secret(api, owner, spec)
    if live is None:
        if spec.auth.existing_secret:
            raise MissingSecret(f"Secret {name!r} named in spec.auth.existingSecret is missing")
        try:
            live = await api.create(build_secret(owner, spec, generate_password()))
        except ApiError as exc:
            if exc.status in REJECTED:
                raise ChildRejected(f"Secret/{name}", exc) from exc
            raise
    value = encoded_password(live, key)
    if value is None:
        raise MissingSecret(f"Secret {name!r} has no key {key!r}")
    return checksum({key: value})


async def reconcile(api: KubeApi, owner: Owner, spec: RedisQueueSpec) -> Outcome:
    """Create or repair every child.

    Raises :class:`RefusedChange` having written nothing, and :class:`ChildRejected` when the
    API server refuses a child (the ones before it in apply order are written).
    """
    live_statefulset = await api.get("apps/v1", "StatefulSet", owner.namespace, owner.redis)
    outcome = Outcome()
    # The password checksum only changes pod annotations, never an immutable field, so the
    # children are built with a placeholder and the refusal check runs before the Secret is
    # created; the real checksum is set once the Secret exists.
    children = build_children(owner, spec, secret_checksum="")
    (wanted_statefulset,) = [child for child in children if child["kind"] == "StatefulSet"]
    refusal = immutable_refusal(live_statefulset, wanted_statefulset, spec)
    if refusal is not None:
        raise refusal
    set_secret_checksum(children, await ensure_password(api, owner, spec))
    for child in children:
        desired = stamp(child)
        meta = desired["metadata"]
        if desired["kind"] == "StatefulSet":
            live = live_statefulset
            if live is not None:
                desired = keep_immutable(desired, live)
        else:
            live = await api.get(
                desired["apiVersion"], desired["kind"], owner.namespace, meta["name"]
            )
        if live is None or not contains(live, desired):
            try:
                await api.apply(desired)
            except ApiError as exc:
                if exc.status in REJECTED:
                    raise ChildRejected(f"{desired['kind']}/{meta['name']}", exc) from exc
                raise
            outcome.written.append(f"{desired['kind']}/{meta['name']}")
    for api_version, kind, name in disabled_children(owner, spec):
        if await api.delete(api_version, kind, owner.namespace, name):
            outcome.deleted.append(f"{kind}/{name}")
    return outcome


async def read_password(api: KubeApi, owner: Owner, spec: RedisQueueSpec) -> str | None:
    """The password in clear, for the status refresh's own connection to Redis."""
    _, key, secret = await get_password_secret(api, owner, spec)
    encoded = encoded_password(secret, key)
    return None if encoded is None else base64.b64decode(encoded).decode()
