"""What Ready means: the rules that turn a StatefulSet's rollout, Redis' answer and the
reconcile pass's record into Ready and Reconciling."""

from __future__ import annotations

from typing import Any

import pytest

from queue_operator.conditions import Condition
from queue_operator.readiness import Rollout, pass_succeeded, readiness, rollout_of

ANSWERING = Condition("Ready", "True", "RedisAnswering", "Redis answers PING")


def statefulset(generation: int = 2, **status: Any) -> dict[str, Any]:
    done = {
        "observedGeneration": generation,
        "replicas": 1,
        "updatedReplicas": 1,
        "readyReplicas": 1,
        "currentRevision": "jobs-redis-b",
        "updateRevision": "jobs-redis-b",
    }
    return {
        "metadata": {"name": "jobs-redis", "generation": generation},
        "spec": {"replicas": 1},
        "status": {**done, **status},
    }


def test_a_rolled_out_statefulset_is_done() -> None:
    assert rollout_of(statefulset()).done


@pytest.mark.parametrize(
    ("status", "says"),
    [
        ({"observedGeneration": 1}, "has not seen generation 2"),
        ({"updatedReplicas": 0}, "0 of 1 pods updated"),
        ({"currentRevision": "jobs-redis-a"}, "revision jobs-redis-b rolling out"),
        ({"readyReplicas": 0}, "0 of 1 updated pods ready"),
    ],
    ids=["generation-not-observed", "not-updated", "old-revision", "not-ready"],
)
def test_each_unfinished_part_of_a_rollout_is_named(status: dict[str, Any], says: str) -> None:
    rollout = rollout_of(statefulset(**status))
    assert not rollout.done
    assert says in rollout.message
    assert rollout.message.startswith("StatefulSet jobs-redis: ")


def test_no_statefulset_and_no_status_are_not_done() -> None:
    assert not rollout_of(None).done
    fresh = statefulset()
    del fresh["status"]
    assert not rollout_of(fresh).done


def test_ready_waits_for_the_rollout_even_when_redis_answers() -> None:
    ready, reconciling = readiness(ANSWERING, Rollout(False, "StatefulSet jobs-redis: ..."))
    assert (ready.status, ready.reason) == ("False", "RollingOut")
    assert (reconciling.status, reconciling.reason) == ("True", "RollingOut")
    assert ready.message == reconciling.message == "StatefulSet jobs-redis: ..."


def test_after_the_rollout_ready_is_what_redis_says() -> None:
    done = Rollout(True, "done")
    assert readiness(ANSWERING, done)[0] == ANSWERING
    down = Condition("Ready", "False", "RedisUnreachable", "refused")
    ready, reconciling = readiness(down, done)
    assert ready == down
    assert (reconciling.status, reconciling.reason) == ("False", "Reconciled")


def queue(generation: int, observed: int, stalled: dict[str, Any] | None) -> dict[str, Any]:
    conditions = [] if stalled is None else [{"type": "Stalled", **stalled}]
    return {
        "metadata": {"generation": generation},
        "status": {"observedGeneration": observed, "conditions": conditions},
    }


def test_the_pass_succeeded_only_for_the_generation_it_recorded() -> None:
    ok = {"status": "False", "reason": "Reconciled", "observedGeneration": 3}
    assert pass_succeeded(queue(3, 3, ok))
    assert not pass_succeeded(queue(4, 3, ok))  # a newer spec: its pass has not run yet
    assert not pass_succeeded(queue(3, 3, {**ok, "observedGeneration": 2}))
    assert not pass_succeeded(queue(3, 3, None))  # written by an older operator version


def test_a_pass_that_stalled_or_retries_did_not_succeed() -> None:
    refused = {"status": "True", "reason": "StorageShrinkRefused", "observedGeneration": 3}
    waiting = {"status": "False", "reason": "WaitingForSecret", "observedGeneration": 3}
    assert not pass_succeeded(queue(3, 3, refused))
    assert not pass_succeeded(queue(3, 3, waiting))
