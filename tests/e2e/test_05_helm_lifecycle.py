"""`helm test`, an upgrade that changes appendfsync, and an uninstall that keeps the PVC.

Runs last: the final test uninstalls the release (scripts/e2e.sh reinstalls on the next run).
"""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.stack import (
    RedisSession,
    assert_pvc_kept,
    processing_order,
    wait_gone,
    wait_pod_ready,
    wait_rqueue_ready,
    worker_hpa,
)
from tests.support.kube import (
    APPENDFSYNC_KEY,
    E2ESettings,
    Kubectl,
    jsonpath,
    make_jobs,
    run,
    wait_for,
)

pytestmark = pytest.mark.e2e


def helm(settings: E2ESettings, *args: str, timeout: float = 600) -> str:
    cmd = [settings.helm, "--kube-context", settings.context, "--namespace", settings.namespace]
    return run([*cmd, *args], timeout=timeout).stdout


def ssa_takeover(settings: E2ESettings) -> list[str]:
    """helm 4 applies server-side: after test_04 re-created the RedisQueue with kubectl, its
    fields belong to kubectl's field manager and helm 4 refuses to change them ("conflict
    with kubectl-client-side-apply") unless told to take them over; helm 3 merges."""
    version = run([settings.helm, "version", "--short"]).stdout
    return ["--force-conflicts"] if version.startswith("v4.") else []


def test_helm_test_passes(settings: E2ESettings) -> None:
    out = helm(settings, "test", settings.release, "--timeout", "5m")
    assert "Succeeded" in out, out


def test_upgrade_with_new_appendfsync_rolls_redis_and_keeps_data(
    kubectl: Kubectl, settings: E2ESettings, rqueue_name: str, redis_session: RedisSession
) -> None:
    obj = kubectl.get("rqueue", rqueue_name)
    assert obj is not None
    old = jsonpath(obj, ".spec.persistence.appendfsync")
    new = "always" if old != "always" else "everysec"
    key = f"e2e:upgrade:{uuid.uuid4().hex[:8]}"
    jobs = make_jobs(20, prefix="upgrade")
    pod = f"{rqueue_name}-redis-0"
    with redis_session as client:
        client.lpush(key, *jobs)
    before = kubectl.get("pod", pod)
    assert before is not None

    helm(
        settings,
        "upgrade",
        settings.release,
        settings.chart,
        *settings.chart_flags,
        *ssa_takeover(settings),
        "--reuse-values",
        "--set",
        f"{APPENDFSYNC_KEY}={new}",
        "--wait",
        "--timeout",
        "10m",
    )
    wait_for(
        lambda: (
            (o := kubectl.get("rqueue", rqueue_name)) is not None
            and jsonpath(o, ".spec.persistence.appendfsync") == new
        ),
        timeout=60,
        what=f"RedisQueue spec.persistence.appendfsync == {new}",
    )
    wait_pod_ready(kubectl, pod, settings.ready_timeout, not_uid=before["metadata"]["uid"])
    wait_rqueue_ready(kubectl, rqueue_name, settings.ready_timeout)
    with redis_session as client:
        try:
            assert client.config_get("appendfsync") == {"appendfsync": new}
            assert processing_order(client, key) == jobs
        finally:
            client.delete(key)


def test_uninstall_keeps_the_pvc(kubectl: Kubectl, settings: E2ESettings, rqueue_name: str) -> None:
    pvc = f"data-{rqueue_name}-redis-0"
    helm(settings, "uninstall", settings.release, "--wait", "--timeout", "5m")
    wait_gone(
        kubectl,
        [("rqueue", rqueue_name), ("statefulset", f"{rqueue_name}-redis")],
        settings.ready_timeout,
        what="the RedisQueue and its StatefulSet gone after helm uninstall",
    )
    assert_pvc_kept(kubectl, pvc, "helm uninstall deleted the Redis PVC")
    # Nothing of the release may go on scaling the user's workers: the chart's HPA is one of
    # its objects; KEDA's is deleted with the ScaledObject once KEDA has run its finalizer.
    wait_for(
        lambda: worker_hpa(kubectl) is None,
        timeout=settings.ready_timeout,
        what="no HPA scaling the workers after helm uninstall",
        interval=3,
    )
