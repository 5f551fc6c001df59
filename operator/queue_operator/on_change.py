"""What happens when a RedisQueue's spec changes: the create/update/resume handler and the
reconcile pass it runs.

The pass (:func:`ensure`) is also what the sweeper's drift repair runs
(:mod:`queue_operator.periodic`), so a change and a repair behave the same. All decisions live
in :mod:`queue_operator.reconcile`; this module maps their outcomes to status conditions, and
the handler maps them to Kopf's retry semantics and Events.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import kopf

from queue_operator.conditions import Condition
from queue_operator.context import OperatorContext
from queue_operator.kube import ApiError
from queue_operator.naming import Owner
from queue_operator.reconcile import ChildRejected, MissingSecret, RefusedChange, reconcile
from queue_operator.spec import parse_spec
from queue_operator.status_writer import write_status
from queue_operator.sweeper import Tracked


@dataclass(frozen=True, slots=True)
class Setback:
    """Why a reconcile pass did not finish, and what to do about it."""

    reason: str
    message: str
    retry_after: float | None  # None: nothing to retry until the spec changes
    event: bool  # worth a Warning Event (from the change handlers)


def tracked(body: kopf.Body) -> Tracked:
    """What a handler acts on, copied out of Kopf's body (which Kopf keeps changing)."""
    meta = body.meta
    owner = Owner(meta.name or "", meta.namespace or "", meta.uid or "")
    return Tracked(owner, meta.get("generation"), copy.deepcopy(body.get("spec")))


async def ensure(ctx: OperatorContext, item: Tracked, log: kopf.Logger) -> Setback | None:
    """One reconcile pass with its status; ``None`` when every child matches the spec."""
    api, config, owner = ctx.api, ctx.config, item.owner
    seen = {"observedGeneration": item.generation}
    async with ctx.locks.get(owner.uid):
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


async def on_change(ctx: OperatorContext, body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
    """Registered for create, resume and spec updates (see ``register``)."""
    setback = await ensure(ctx, tracked(body), logger)
    if setback is None:
        return
    if setback.event:
        kopf.warn(body, reason=setback.reason, message=setback.message)
    if setback.retry_after is None:
        raise kopf.PermanentError(setback.message)
    raise kopf.TemporaryError(setback.message, delay=setback.retry_after)


def _settled(reason: str) -> Condition:
    """Progressing=False: the operator has nothing more to do for this generation."""
    return Condition("Progressing", "False", reason, "")
