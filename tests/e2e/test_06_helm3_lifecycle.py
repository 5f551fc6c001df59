"""The other Helm major through a whole lifecycle: install, upgrade, uninstall.

The main release is installed (and test_05 upgraded and uninstalled) with the helm binary
the run names in HELM (helm 4 on the local cluster); this installs a second release with
the one in HELM3 into a namespace of its own, from the same chart reference, so both majors
install, upgrade and uninstall the chart on a real API server. Defaults only, but Redis'
image and the persistence size the test volumes hold; no monitoring, no autoscaling.
"""

from __future__ import annotations

import os

import pytest

from tests.e2e.stack import RedisSession, wait_gone, wait_pod_ready, wait_rqueue_ready
from tests.support.kube import E2ESettings, Kubectl, jsonpath, run

pytestmark = pytest.mark.e2e

RELEASE = "redis-queue-helm3"  # holds the chart name: the RedisQueue is named like it
NAMESPACE = "redis-queue-helm3"


@pytest.fixture(scope="module")
def helm3(settings: E2ESettings) -> list[str]:
    binary = os.environ.get("HELM3")
    if not binary:
        pytest.fail("HELM3 (a helm 3 binary) is not set: the e2e run sets it")
    version = run([binary, "version", "--short"]).stdout
    assert version.startswith("v3."), version
    return [binary, "--kube-context", settings.context, "--namespace", NAMESPACE]


def test_helm3_installs_upgrades_and_uninstalls_the_chart(
    settings: E2ESettings, kubectl: Kubectl, helm3: list[str]
) -> None:
    ns = Kubectl(context=settings.context, namespace=NAMESPACE, binary=settings.kubectl)
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": NAMESPACE,
                "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
            },
        },
        namespace="",
    )
    chart = [settings.chart, *settings.chart_flags]
    values = ["--set", "redisQueue.persistence.size=256Mi"]
    if os.environ.get("E2E_REDIS_IMAGE"):
        values += ["--set", f"redisQueue.image={os.environ['E2E_REDIS_IMAGE']}"]
    name = RELEASE
    try:
        run([*helm3, "install", RELEASE, *chart, *values, "--wait", "--timeout", "8m"], timeout=600)
        wait_rqueue_ready(ns, name, settings.ready_timeout)
        pod = ns.get("pod", f"{name}-redis-0")
        assert pod is not None

        run(
            [*helm3, "upgrade", RELEASE, *chart, "--reuse-values", "--set",
             "redisQueue.persistence.appendfsync=always", "--wait", "--timeout", "8m"],
            timeout=600,
        )  # fmt: skip
        # The new appendfsync rolls Redis: wait for the new pod, then for Ready again.
        wait_pod_ready(ns, f"{name}-redis-0", settings.ready_timeout, pod["metadata"]["uid"])
        obj = wait_rqueue_ready(ns, name, settings.ready_timeout)
        assert jsonpath(obj, ".spec.persistence.appendfsync") == "always"
        with RedisSession(ns, name) as client:
            assert client.config_get("appendfsync") == {"appendfsync": "always"}

        run([*helm3, "uninstall", RELEASE, "--wait", "--timeout", "5m"], timeout=400)
        wait_gone(
            ns,
            [("rqueue", name), ("statefulset", f"{name}-redis")],
            settings.ready_timeout,
            what="the helm 3 release's RedisQueue and StatefulSet gone",
        )
        assert run([*helm3, "list", "--short"]).stdout.strip() == ""
    finally:
        run([*helm3, "uninstall", RELEASE, "--ignore-not-found"], timeout=300)
