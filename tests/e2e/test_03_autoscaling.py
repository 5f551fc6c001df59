"""Over the threshold the autoscaler adds workers; after draining it removes them again.

The stand-in worker Deployment (tests/e2e/manifests/worker.yaml) consumes nothing, so the
test alone decides the depth. It watches the Deployment's replicas, which works for both
engines (the chart's HPA for prometheus-adapter, KEDA's generated HPA for keda).
"""

from __future__ import annotations

import pytest

from tests.e2e.stack import RedisSession, worker_hpa
from tests.support.kube import QUEUE, WORKER, E2ESettings, Kubectl, make_jobs, wait_for

pytestmark = pytest.mark.e2e


def replicas(kubectl: Kubectl) -> int:
    deploy = kubectl.get("deployment", WORKER)
    assert deploy is not None, f"stand-in worker Deployment {WORKER} missing"
    return int(deploy["spec"].get("replicas", 1))


def test_workers_scale_up_over_threshold_and_down_after_draining(
    kubectl: Kubectl, settings: E2ESettings, redis_session: RedisSession
) -> None:
    hpa = wait_for(lambda: worker_hpa(kubectl), timeout=120, what="an HPA for the workers")
    low = int(hpa["spec"].get("minReplicas", 1))
    high = int(hpa["spec"]["maxReplicas"])
    assert high > low, "the e2e values must allow scaling (maxReplicas > minReplicas)"
    wait_for(
        lambda: replicas(kubectl) == low,
        timeout=settings.scale_down_timeout,
        what=f"workers at minReplicas {low} before the test",
        interval=2,
    )

    queue = QUEUE
    # Story threshold: add workers when depth > 50 x workers. Enough for every worker up to
    # maxReplicas, so band and proportional modes both want more than `low`.
    depth = 60 * high
    with redis_session as client:
        try:
            client.delete(queue)
            client.lpush(queue, *make_jobs(depth, prefix="scale"))
            scaled = wait_for(
                lambda: n if (n := replicas(kubectl)) > low else None,
                timeout=settings.scale_up_timeout,
                what=f"workers above {low} with depth {depth}",
                interval=2,
            )
            assert low < scaled <= high
            live = kubectl.get("hpa", hpa["metadata"]["name"])
            assert live is not None
            assert live["status"].get("currentMetrics"), "HPA reports no metric values"
        finally:
            client.delete(queue)

    wait_for(
        lambda: replicas(kubectl) == low,
        timeout=settings.scale_down_timeout,
        what=f"workers back to {low} after draining",
        interval=2,
    )
