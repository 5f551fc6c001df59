"""The periodic work for every RedisQueue: drift repair and status refresh, run by a
:class:`~queue_operator.sweeper.Sweeper` fed by a Kopf index.

Not Kopf timers, which would put a finalizer on every RedisQueue (see
:mod:`queue_operator.sweeper` for why that finalizer is a trap). The index needs none: Kopf
drops a deleted RedisQueue from it, and its jobs stop by themselves.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import kopf

from queue_operator.context import REFRESH_JOB, OperatorContext
from queue_operator.kube import ApiError
from queue_operator.on_change import ensure, tracked
from queue_operator.readiness import observe, pass_succeeded, readiness
from queue_operator.spec import parse_spec
from queue_operator.status_writer import write_status
from queue_operator.sweeper import Schedule, Sweeper, Tracked

INDEX = "redisqueue_index"
logger = logging.getLogger(__name__)


async def index_queue(body: kopf.Body, **_: Any) -> dict[str, Tracked]:
    """Every RedisQueue the watch sees, for the sweeper; Kopf drops it when it is deleted."""
    return {body.meta.uid or "": tracked(body)}


async def repair_drift(ctx: OperatorContext, item: Tracked) -> float:
    """Children deleted or edited by hand come back; a rotated Secret rolls the pods.

    The same pass as the change handlers; its conditions are written, Events are left to
    the change handlers (one per change, not one per pass).
    """
    config = ctx.config
    setback = await ensure(ctx, item, logger)
    if setback is None or setback.retry_after is None:
        return config.reconcile_interval
    logger.warning(f"{item.owner.namespace}/{item.owner.name}: {setback.message}")
    return setback.retry_after


async def refresh_status(ctx: OperatorContext, item: Tracked) -> float:
    """Queue depths, AOF state and PersistenceHealthy, read from Redis itself; Ready and
    Reconciling too once the reconcile pass for the current generation has succeeded (until
    then they say why the pass did not, and stay so). Every few seconds while Redis rolls
    out, so that waiters hear soon when it is done."""
    api, config, owner = ctx.api, ctx.config, item.owner
    try:
        spec = parse_spec(owner.name, item.spec)
    except ValueError:
        return config.status_interval  # the Stalled condition says why; no Redis to read
    try:
        async with ctx.locks.get(owner.uid):
            # Under the lock: a StatefulSet read before a concurrent pass applied a change
            # would make Ready True for a generation that is not rolled out.
            report, rollout = await observe(ctx, owner, spec)
            live = await api.get_queue(owner.namespace, owner.name)
            if live is None:
                return config.status_interval  # deleted meanwhile; the index drops it
            conditions = [report.persistence]
            reconciled = pass_succeeded(live)
            if reconciled:
                conditions += readiness(report.redis, rollout)
            generation = live["metadata"].get("generation")
            fields = {**report.fields, "endpoint": owner.endpoint}
            await write_status(api, owner, conditions, fields, generation)
    except ApiError as exc:
        logger.warning(f"{owner.namespace}/{owner.name}: Kubernetes API: {exc}")
        return config.retry_delay
    return config.rollout_interval if reconciled and not rollout.done else config.status_interval


async def start_sweeper(ctx: OperatorContext, **kwargs: Any) -> None:
    """A startup handler: the index is live, Kopf fills it from the watch once running."""
    config = ctx.config
    sweeper = Sweeper(
        kwargs[INDEX],
        {
            # The change handlers reconcile first; the drift pass follows an interval later.
            "repair-drift": Schedule(
                partial(repair_drift, ctx), config.reconcile_interval, config.reconcile_interval
            ),
            REFRESH_JOB: Schedule(partial(refresh_status, ctx), 0.0, config.status_interval),
        },
    )
    sweeper.start()
    ctx.sweepers.append(sweeper)
