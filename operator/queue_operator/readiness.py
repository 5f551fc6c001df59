"""What ``Ready`` means: the RedisQueue's current generation is served.

Ready=True needs three things, in this order (the first one missing is the reason):

1. the reconcile pass for ``metadata.generation`` succeeded (it records so as
   ``Stalled=False/Reconciled`` with that ``observedGeneration``, see :func:`pass_succeeded`);
2. the Redis StatefulSet has rolled it out (:func:`rollout_of`: its controller saw its
   generation, every replica is updated and ready, the current revision is the update
   revision), otherwise ``Ready=False/RollingOut`` and ``Reconciling=True/RollingOut``;
3. Redis answers (the probe's verdict: ``RedisAnswering``, else ``Loading``,
   ``RedisUnreachable``, ``AuthenticationFailed``, ``SecretMissing``).

This is what lets ``helm upgrade --wait`` (Helm 4, kstatus) return only once a change that
rolls Redis is live, and ``kubectl wait --for=condition=Ready`` do the same after Helm 3. The
reconcile pass (:mod:`queue_operator.on_change`) and the status refresh
(:mod:`queue_operator.periodic`) both compute it here, so the two never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from queue_operator.conditions import Condition
from queue_operator.context import OperatorContext
from queue_operator.naming import Owner
from queue_operator.reconcile import read_password
from queue_operator.redis_probe import StatusReport, probe_redis, report_unreachable
from queue_operator.spec import RedisQueueSpec

# Stalled's reason when the pass for a generation succeeded: the status refresh's cue that
# Ready may become True for that generation.
RECONCILED = "Reconciled"


@dataclass(frozen=True, slots=True)
class Rollout:
    """Whether the Redis StatefulSet serves its current template, and what it is at."""

    done: bool
    message: str


def rollout_of(statefulset: Mapping[str, Any] | None) -> Rollout:
    """The checks of ``kubectl rollout status``, on the StatefulSet as last read."""
    if statefulset is None:
        return Rollout(False, "the Redis StatefulSet does not exist yet")
    meta = statefulset.get("metadata", {})
    name = f"StatefulSet {meta.get('name')}"
    generation = meta.get("generation")
    status = statefulset.get("status") or {}
    replicas = int(statefulset.get("spec", {}).get("replicas", 1))
    updated = int(status.get("updatedReplicas", 0))
    ready = int(status.get("readyReplicas", 0))
    if status.get("observedGeneration") != generation:
        return Rollout(False, f"{name}: its controller has not seen generation {generation} yet")
    if updated != replicas:
        return Rollout(False, f"{name}: {updated} of {replicas} pods updated")
    if status.get("currentRevision") != status.get("updateRevision"):
        return Rollout(False, f"{name}: revision {status.get('updateRevision')} rolling out")
    if ready != replicas:
        return Rollout(False, f"{name}: {ready} of {replicas} updated pods ready")
    return Rollout(True, f"{name}: {replicas} of {replicas} pods updated and ready")


def readiness(redis: Condition, rollout: Rollout) -> tuple[Condition, Condition]:
    """Ready and Reconciling for a generation whose reconcile pass succeeded."""
    if not rollout.done:
        return (
            Condition("Ready", "False", "RollingOut", rollout.message),
            Condition("Reconciling", "True", "RollingOut", rollout.message),
        )
    return redis, Condition("Reconciling", "False", RECONCILED, rollout.message)


def pass_succeeded(queue: Mapping[str, Any]) -> bool:
    """Whether the reconcile pass for the live RedisQueue's generation succeeded, as recorded
    in its status (which outlives an operator restart; memory would not)."""
    generation = queue.get("metadata", {}).get("generation")
    status = queue.get("status") or {}
    if status.get("observedGeneration") != generation:
        return False
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Stalled":
            return bool(
                condition.get("status") == "False"
                and condition.get("reason") == RECONCILED
                and condition.get("observedGeneration") == generation
            )
    return False


async def observe(
    ctx: OperatorContext, owner: Owner, spec: RedisQueueSpec
) -> tuple[StatusReport, Rollout]:
    """Read Redis (bounded by the Redis timeout) and the StatefulSet's rollout."""
    api, config = ctx.api, ctx.config
    password = await read_password(api, owner, spec)
    if password is None:
        report = report_unreachable("SecretMissing", "the password Secret is not there")
    else:
        host = config.redis_host.format(name=owner.name, namespace=owner.namespace)
        report = await probe_redis(
            host, config.redis_port, password, spec.queues, config.redis_timeout
        )
    statefulset = await api.get("apps/v1", "StatefulSet", owner.namespace, owner.redis)
    return report, rollout_of(statefulset)
