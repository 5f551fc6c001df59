"""Durability: jobs survive the Redis pod's deletion and the RedisQueue's deletion (PVC kept)."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.stack import (
    RedisSession,
    assert_jobs_in_push_order,
    assert_pvc_kept,
    wait_gone,
    wait_pod_ready,
    wait_rqueue_ready,
)
from tests.support.kube import E2ESettings, Kubectl, make_jobs, reapplyable

pytestmark = pytest.mark.e2e

N = 50


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
    assert_jobs_in_push_order(redis_session, key, jobs)


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
    wait_gone(
        kubectl,
        [("statefulset", f"{rqueue_name}-redis"), ("pod", f"{rqueue_name}-redis-0")],
        settings.ready_timeout,
        what="the StatefulSet and its pod gone with the RedisQueue",
    )
    assert_pvc_kept(kubectl, pvc, "deleting the RedisQueue deleted its PVC (keepOnDelete: true)")

    kubectl.apply(reapplyable(saved))
    wait_rqueue_ready(kubectl, rqueue_name, settings.ready_timeout)
    assert_jobs_in_push_order(redis_session, key, jobs)
