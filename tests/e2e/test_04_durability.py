"""Durability: jobs survive the Redis pod's deletion and the RedisQueue's deletion (PVC kept)."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.stack import RedisSession, wait_pod_ready, wait_rqueue_ready
from tests.support.kube import E2ESettings, Kubectl, make_jobs, reapplyable, wait_for

pytestmark = pytest.mark.e2e

N = 50


def processing_order(client: object, key: str) -> list[str]:
    """Jobs in the order workers get them: LPUSH adds left, BRPOP takes right."""
    return list(reversed(client.lrange(key, 0, -1)))  # type: ignore[attr-defined]


def test_jobs_survive_redis_pod_deletion_in_order(
    kubectl: Kubectl, settings: E2ESettings, rqueue_name: str, redis_session: RedisSession
) -> None:
    key = f"e2e:durability:{uuid.uuid4().hex[:8]}"
    jobs = make_jobs(N, prefix="pod")
    pod = f"{rqueue_name}-redis-0"
    with redis_session as client:
        for job in jobs:
            client.lpush(key, job)
    before = kubectl.get("pod", pod)
    assert before is not None
    kubectl.run("delete", "pod", pod, "--wait=false")
    wait_pod_ready(kubectl, pod, settings.ready_timeout, not_uid=before["metadata"]["uid"])
    wait_rqueue_ready(kubectl, rqueue_name, settings.ready_timeout)
    with redis_session as client:
        try:
            assert processing_order(client, key) == jobs
        finally:
            client.delete(key)


def test_pvc_outlives_the_redisqueue_and_jobs_come_back(
    kubectl: Kubectl, settings: E2ESettings, rqueue_name: str, redis_session: RedisSession
) -> None:
    key = f"e2e:recreate:{uuid.uuid4().hex[:8]}"
    jobs = make_jobs(N, prefix="recreate")
    pvc = f"data-{rqueue_name}-redis-0"
    with redis_session as client:
        client.lpush(key, *jobs)
    saved = kubectl.get("rqueue", rqueue_name)
    assert saved is not None
    assert kubectl.get("pvc", pvc) is not None, f"PVC {pvc} missing before the deletion"

    kubectl.run("delete", "rqueue", rqueue_name, "--wait=true", timeout=settings.ready_timeout)
    wait_for(
        lambda: (
            kubectl.get("statefulset", f"{rqueue_name}-redis") is None
            and kubectl.get("pod", f"{rqueue_name}-redis-0") is None
        ),
        timeout=settings.ready_timeout,
        what="the StatefulSet and its pod gone with the RedisQueue",
        interval=3,
    )
    claim = kubectl.get("pvc", pvc)
    assert claim is not None, "deleting the RedisQueue deleted its PVC (keepOnDelete: true)"
    assert not claim["metadata"].get("deletionTimestamp"), "PVC is being deleted"

    kubectl.apply(reapplyable(saved))
    wait_rqueue_ready(kubectl, rqueue_name, settings.ready_timeout)
    with redis_session as client:
        try:
            assert processing_order(client, key) == jobs
        finally:
            client.delete(key)
