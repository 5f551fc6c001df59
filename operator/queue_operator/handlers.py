"""Kopf handler registration: thin glue from Kopf's events to reconcile and status.

Handlers are registered into a given registry by :func:`register` (not at import time), so the
CLI and the tests each run the operator with their own :class:`OperatorConfig`. All decisions
live in :mod:`queue_operator.reconcile` and :mod:`queue_operator.status`; this module only maps
their outcomes to Kopf's retry semantics, status conditions and Events.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from queue_operator.conditions import Condition
from queue_operator.config import OperatorConfig
from queue_operator.kube import ApiError, KubeApi
from queue_operator.naming import GROUP, PLURAL, VERSION, Owner
from queue_operator.reconcile import MissingSecret, RefusedChange, read_password, reconcile
from queue_operator.reporting import write_status
from queue_operator.spec import parse_spec
from queue_operator.status import StatusReport, probe_redis, report_unreachable

RESOURCE = (GROUP, VERSION, PLURAL)


def _lock(memo: kopf.Memo) -> asyncio.Lock:
    """One lock per RedisQueue (Kopf's memo is per object): the update handler and the two
    timers run concurrently, and each rewrites the whole conditions list."""
    lock: asyncio.Lock = memo.setdefault("queue_operator_lock", asyncio.Lock())
    return lock


def register(registry: kopf.OperatorRegistry, config: OperatorConfig) -> None:
    """Register every handler of the operator into ``registry``."""
    api = KubeApi()

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

    @kopf.on.cleanup(registry=registry)
    async def close(**_: Any) -> None:
        await api.close()

    async def ensure(
        body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, from_timer: bool
    ) -> None:
        owner = Owner(body.meta.name or "", body.meta.namespace or "", body.meta.uid or "")
        seen = {"observedGeneration": body.meta.get("generation")}
        async with _lock(memo):
            try:
                spec = parse_spec(owner.name, body.get("spec"))
            except ValueError as exc:
                message = f"invalid spec: {exc}"
                degraded = Condition("Degraded", "True", "InvalidSpec", message)
                await write_status(api, owner, [degraded, _settled("InvalidSpec")], seen)
                if from_timer:
                    return
                kopf.warn(body, reason="InvalidSpec", message=message)
                raise kopf.PermanentError(message) from exc
            try:
                outcome = await reconcile(api, owner, spec)
            except RefusedChange as exc:
                degraded = Condition("Degraded", "True", exc.reason, exc.message)
                await write_status(api, owner, [degraded, _settled(exc.reason)], seen)
                if from_timer:
                    return
                kopf.warn(body, reason=exc.reason, message=exc.message)
                raise kopf.PermanentError(exc.message) from exc
            except MissingSecret as exc:
                waiting = Condition("Progressing", "True", "WaitingForSecret", str(exc))
                await write_status(api, owner, [waiting])
                raise kopf.TemporaryError(str(exc), delay=config.retry_delay) from exc
            except ApiError as exc:
                raise kopf.TemporaryError(
                    f"Kubernetes API: {exc}", delay=config.retry_delay
                ) from exc
            if outcome.written or outcome.deleted:
                logger.info(f"Wrote {outcome.written}, deleted {outcome.deleted}")
            await write_status(
                api,
                owner,
                [
                    Condition("Degraded", "False", "Reconciled", "all children match the spec"),
                    _settled("Reconciled"),
                ],
                {**seen, "endpoint": owner.endpoint},
            )

    @kopf.on.create(*RESOURCE, id="ensure-on-create", registry=registry)
    @kopf.on.resume(*RESOURCE, id="ensure-on-resume", registry=registry)
    @kopf.on.update(*RESOURCE, id="ensure-on-update", field="spec", registry=registry)
    async def on_change(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
        await ensure(body, memo, logger, from_timer=False)

    @kopf.timer(*RESOURCE, interval=config.reconcile_interval, registry=registry)
    async def repair_drift(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
        """Children deleted or edited by hand come back; a rotated Secret rolls the pods."""
        await ensure(body, memo, logger, from_timer=True)

    @kopf.timer(*RESOURCE, interval=config.status_interval, registry=registry)
    async def refresh_status(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        owner = Owner(body.meta.name or "", body.meta.namespace or "", body.meta.uid or "")
        try:
            spec = parse_spec(owner.name, body.get("spec"))
        except ValueError:
            return  # the Degraded condition already says why; there is no Redis to read
        try:
            password = await read_password(api, owner, spec)
            if password is None:
                report = report_unreachable("SecretMissing", "the password Secret is not there")
            else:
                host = config.redis_host.format(name=owner.name, namespace=owner.namespace)
                report = await probe_redis(
                    host, config.redis_port, password, spec.queues, config.redis_timeout
                )
            async with _lock(memo):
                await write_status(api, owner, report.conditions, _with_endpoint(report, owner))
        except ApiError as exc:
            raise kopf.TemporaryError(f"Kubernetes API: {exc}", delay=config.retry_delay) from exc


def _settled(reason: str) -> Condition:
    """Progressing=False: the operator has nothing more to do for this generation."""
    return Condition("Progressing", "False", reason, "")


def _with_endpoint(report: StatusReport, owner: Owner) -> dict[str, Any]:
    return {**report.fields, "endpoint": owner.endpoint}
