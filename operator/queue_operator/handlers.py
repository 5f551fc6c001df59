"""Kopf handler registration: thin glue from Kopf's events to reconcile and status.

Handlers are registered into a given registry by :func:`register` (not at import time), so the
CLI and the tests each run the operator with their own :class:`OperatorConfig`. All decisions
live in :mod:`queue_operator.reconcile` and :mod:`queue_operator.status`; this module only maps
their outcomes to Kopf's retry semantics, status conditions and Events.

No handler here makes Kopf put a finalizer on a RedisQueue: create/update/resume handlers and
indexes need none, and the periodic work (drift repair, status reads) runs in a
:class:`~queue_operator.sweeper.Sweeper` fed by a Kopf index instead of Kopf timers, which would
require one. Deleting a RedisQueue therefore never waits for the operator, which may already be
gone (``helm uninstall`` deletes it at the same time).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import weakref
from dataclasses import dataclass
from typing import Any

import kopf

from queue_operator.conditions import Condition
from queue_operator.config import OperatorConfig
from queue_operator.kube import ApiError, KubeApi
from queue_operator.naming import GROUP, PLURAL, VERSION, Owner
from queue_operator.reconcile import (
    ChildRejected,
    MissingSecret,
    RefusedChange,
    read_password,
    reconcile,
)
from queue_operator.reporting import write_status
from queue_operator.spec import parse_spec
from queue_operator.status import StatusReport, probe_redis, report_unreachable
from queue_operator.sweeper import Schedule, Sweeper, Tracked

RESOURCE = (GROUP, VERSION, PLURAL)
INDEX = "redisqueue_index"
logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Setback:
    """Why a reconcile pass did not finish, and what to do about it."""

    reason: str
    message: str
    retry_after: float | None  # None: nothing to retry until the spec changes
    event: bool  # worth a Warning Event (from the change handlers)


class Locks:
    """One lock per RedisQueue (by uid): a change handler and the sweeper's two jobs run
    concurrently, and each rewrites the whole conditions list. Unused locks are dropped."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def get(self, uid: str) -> asyncio.Lock:
        lock = self._locks.get(uid)
        if lock is None:
            lock = self._locks[uid] = asyncio.Lock()
        return lock


def tracked(body: kopf.Body) -> Tracked:
    meta = body.meta
    owner = Owner(meta.name or "", meta.namespace or "", meta.uid or "")
    return Tracked(owner, meta.get("generation"), copy.deepcopy(body.get("spec")))


def register(registry: kopf.OperatorRegistry, config: OperatorConfig) -> None:
    """Register every handler of the operator into ``registry``."""
    api = KubeApi()
    locks = Locks()
    sweepers: list[Sweeper] = []

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # Kopf's bookkeeping goes to annotations: the CRD's status schema stays strict and
        # holds only what users read.
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=GROUP, key="last-handled-configuration"
        )
        # Namespaces are given by name (-n) or all (-A): no need to list namespaces or CRDs,
        # which keeps the RBAC to what the operator manages.
        settings.scanning.disabled = True
        # Only warnings become Kubernetes Events; routine progress stays in the log.
        settings.posting.level = logging.WARNING

    @kopf.on.login(registry=registry)
    async def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        info = kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)
        if info is not None:
            await api.connect(info)
        return info

    @kopf.index(*RESOURCE, id=INDEX, registry=registry)
    async def index_queue(body: kopf.Body, **_: Any) -> dict[str, Tracked]:
        """Every RedisQueue the watch sees, for the sweeper; Kopf drops it when it is deleted."""
        return {body.meta.uid or "": tracked(body)}

    async def ensure(item: Tracked, log: kopf.Logger) -> Setback | None:
        """One reconcile pass with its status; ``None`` when every child matches the spec."""
        owner = item.owner
        seen = {"observedGeneration": item.generation}
        async with locks.get(owner.uid):
            try:
                try:
                    spec = parse_spec(owner.name, item.spec)
                except ValueError as exc:
                    message = f"invalid spec: {exc}"
                    degraded = Condition("Degraded", "True", "InvalidSpec", message)
                    await write_status(api, owner, [degraded, _settled("InvalidSpec")], seen)
                    return Setback("InvalidSpec", message, None, event=True)
                try:
                    outcome = await reconcile(api, owner, spec)
                except RefusedChange as exc:
                    degraded = Condition("Degraded", "True", exc.reason, exc.message)
                    await write_status(api, owner, [degraded, _settled(exc.reason)], seen)
                    return Setback(exc.reason, exc.message, None, event=True)
                except ChildRejected as exc:
                    # observedGeneration: these conditions are about this generation. Retrying
                    # the same object cannot succeed, hence the longer delay.
                    retry = config.rejected_retry_delay
                    degraded = Condition("Degraded", "True", "ChildRejected", exc.message)
                    retrying = Condition(
                        "Progressing", "True", "ChildRejected", f"retrying every {retry:g} s"
                    )
                    await write_status(api, owner, [degraded, retrying], seen)
                    return Setback("ChildRejected", exc.message, retry, event=True)
                except MissingSecret as exc:
                    waiting = Condition("Progressing", "True", "WaitingForSecret", str(exc))
                    await write_status(api, owner, [waiting])
                    return Setback("WaitingForSecret", str(exc), config.retry_delay, event=False)
                if outcome.written or outcome.deleted:
                    log.info(f"Wrote {outcome.written}, deleted {outcome.deleted}")
                await write_status(
                    api,
                    owner,
                    [
                        Condition("Degraded", "False", "Reconciled", "all children match the spec"),
                        _settled("Reconciled"),
                    ],
                    {**seen, "endpoint": owner.endpoint},
                )
            except ApiError as exc:
                message = f"Kubernetes API: {exc}"
                return Setback("KubernetesApiError", message, config.retry_delay, event=False)
        return None

    @kopf.on.create(*RESOURCE, id="ensure-on-create", registry=registry)
    @kopf.on.resume(*RESOURCE, id="ensure-on-resume", registry=registry)
    @kopf.on.update(*RESOURCE, id="ensure-on-update", field="spec", registry=registry)
    async def on_change(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
        setback = await ensure(tracked(body), logger)
        if setback is None:
            return
        if setback.event:
            kopf.warn(body, reason=setback.reason, message=setback.message)
        if setback.retry_after is None:
            raise kopf.PermanentError(setback.message)
        raise kopf.TemporaryError(setback.message, delay=setback.retry_after)

    async def repair_drift(item: Tracked) -> float:
        """Children deleted or edited by hand come back; a rotated Secret rolls the pods.

        The same pass as the change handlers; its conditions are written, Events are left to
        the change handlers (one per change, not one per pass).
        """
        setback = await ensure(item, logger)
        if setback is None or setback.retry_after is None:
            return config.reconcile_interval
        logger.warning(f"{item.owner.namespace}/{item.owner.name}: {setback.message}")
        return setback.retry_after

    async def refresh_status(item: Tracked) -> float:
        owner = item.owner
        try:
            spec = parse_spec(owner.name, item.spec)
        except ValueError:
            return config.status_interval  # the Degraded condition says why; no Redis to read
        try:
            password = await read_password(api, owner, spec)
            if password is None:
                report = report_unreachable("SecretMissing", "the password Secret is not there")
            else:
                host = config.redis_host.format(name=owner.name, namespace=owner.namespace)
                report = await probe_redis(
                    host, config.redis_port, password, spec.queues, config.redis_timeout
                )
            async with locks.get(owner.uid):
                await write_status(api, owner, report.conditions, _with_endpoint(report, owner))
        except ApiError as exc:
            logger.warning(f"{owner.namespace}/{owner.name}: Kubernetes API: {exc}")
            return config.retry_delay
        return config.status_interval

    @kopf.on.startup(registry=registry)
    async def start_sweeper(**kwargs: Any) -> None:
        # The index is live: Kopf fills it from the watch once the operator has started.
        sweeper = Sweeper(
            kwargs[INDEX],
            {
                # The change handlers reconcile first; the drift pass follows an interval later.
                "repair-drift": Schedule(
                    repair_drift, config.reconcile_interval, config.reconcile_interval
                ),
                "refresh-status": Schedule(refresh_status, 0.0, config.status_interval),
            },
        )
        sweeper.start()
        sweepers.append(sweeper)

    @kopf.on.cleanup(registry=registry)
    async def close(**_: Any) -> None:
        for sweeper in sweepers:
            await sweeper.stop()
        sweepers.clear()
        await api.close()


def _settled(reason: str) -> Condition:
    """Progressing=False: the operator has nothing more to do for this generation."""
    return Condition("Progressing", "False", reason, "")


def _with_endpoint(report: StatusReport, owner: Owner) -> dict[str, Any]:
    return {**report.fields, "endpoint": owner.endpoint}
