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
from queue_operator.readiness import RECONCILED, observe, readiness
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
    """One reconcile pass with its status; ``None`` when every child matches the spec.

    Every outcome writes ``observedGeneration`` with the conditions in one patch: a waiter
    that sees the new generation observed also sees Reconciling or Stalled for it, never the
    previous generation's Ready.
    """
    api, config, owner = ctx.api, ctx.config, item.owner
    seen = {"observedGeneration": item.generation}

    async def stopped(setback: Setback) -> Setback:
        await write_status(api, owner, _setback_conditions(setback), seen, item.generation)
        return setback

    async with ctx.locks.get(owner.uid):
        try:
            try:
                spec = parse_spec(owner.name, item.spec)
            except ValueError as exc:
                message = f"invalid spec: {exc}"
                return await stopped(Setback("InvalidSpec", message, None, event=True))
            try:
                outcome = await reconcile(api, owner, spec)
            except RefusedChange as exc:
                return await stopped(Setback(exc.reason, exc.message, None, event=True))
            except ChildRejected as exc:
                # Retrying the same object cannot succeed, hence the longer delay; not Stalled,
                # as an admission policy change may let it through.
                retry = config.rejected_retry_delay
                return await stopped(Setback("ChildRejected", exc.message, retry, event=True))
            except MissingSecret as exc:
                retry = config.retry_delay
                return await stopped(Setback("WaitingForSecret", str(exc), retry, event=False))
            if outcome.written or outcome.deleted:
                log.info(f"Wrote {outcome.written}, deleted {outcome.deleted}")
            report, rollout = await observe(ctx, owner, spec)
            reconciled = Condition("Stalled", "False", RECONCILED, "all children match the spec")
            await write_status(
                api,
                owner,
                [reconciled, *readiness(report.redis, rollout), report.persistence],
                {**report.fields, **seen, "endpoint": owner.endpoint},
                item.generation,
            )
            if not rollout.done:
                ctx.refresh_soon(owner.uid)
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


def _setback_conditions(setback: Setback) -> list[Condition]:
    """A pass that did not finish: the current generation is not served.

    Stalled (kstatus Failed: ``helm upgrade --wait`` stops with this message) when only a spec
    change can help; Reconciling (InProgress) while the operator retries by itself.
    """
    reason, message = setback.reason, setback.message
    stalled = setback.retry_after is None
    if stalled:
        progress = Condition("Reconciling", "False", reason, "waiting for a change of the spec")
    else:
        retrying = f"{message}; retrying every {setback.retry_after:g} s"
        progress = Condition("Reconciling", "True", reason, retrying)
    return [
        Condition("Ready", "False", reason, message),
        progress,
        Condition("Stalled", "True" if stalled else "False", reason, message),
    ]
