"""The other Helm major through a whole lifecycle: install, upgrade, uninstall.

The main release is installed (and test_05 upgraded and uninstalled) with the helm binary
the run names in HELM (helm 4 on the local cluster); this installs a second release with
the one in HELM3 into a namespace of its own, from the same chart reference, so both majors
install, upgrade and uninstall the chart on a real API server. Defaults only, but Redis'
image and the persistence size the test volumes hold; no monitoring, no autoscaling. Helm 3's
--wait ignores the RedisQueue: the upgrades here show `kubectl wait --for=condition=Ready` is
what waits for a change to be served (Helm 4's --wait does so itself: test_07).
"""

from __future__ import annotations

import os

import pytest

from tests.e2e.stack import RedisSession, own_release_namespace, wait_gone, wait_rqueue_ready
from tests.support.kube import E2ESettings, Kubectl, condition, jsonpath, run

pytestmark = pytest.mark.e2e

RELEASE = "redis-queue-helm3"  # holds the chart name: the RedisQueue is named like it
NAMESPACE = "redis-queue-helm3"


def upgrade(helm3: list[str], chart: list[str], value: str) -> None:
    run(
        [*helm3, "upgrade", RELEASE, *chart, "--reuse-values", "--set", value, "--wait",
         "--timeout", "8m"],
        timeout=600,
    )  # fmt: skip


def wait_condition(settings: E2ESettings, name: str, kind: str) -> None:
    """`kubectl wait --for=condition=KIND`, as docs/operator.md tells Helm 3 users."""
    run(
        [settings.kubectl, "--context", settings.context, "--namespace", NAMESPACE, "wait",
         f"--for=condition={kind}", f"rqueue/{name}", f"--timeout={settings.ready_timeout:g}s"],
        timeout=settings.ready_timeout + 30,
    )  # fmt: skip


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
    chart = [settings.chart, *settings.chart_flags]
    values = own_release_namespace(kubectl, NAMESPACE, "256Mi")
    name = RELEASE
    try:
        run([*helm3, "install", RELEASE, *chart, *values, "--wait", "--timeout", "8m"], timeout=600)
        wait_rqueue_ready(ns, name, settings.ready_timeout)
        pod = ns.get("pod", f"{name}-redis-0")
        assert pod is not None

        # Helm 3's --wait does not look at custom resources (nor at the operator's
        # StatefulSet): it returns whether or not Redis has rolled. The documented way to wait
        # is `kubectl wait --for=condition=Ready`, which accepts only a condition about the
        # current generation; right after it, with no wait of ours, the change is served.
        upgrade(helm3, chart, "redisQueue.persistence.appendfsync=always")
        wait_condition(settings, name, "Ready")
        obj = ns.get("rqueue", name)
        assert obj is not None
        assert jsonpath(obj, ".spec.persistence.appendfsync") == "always"
        now = ns.get("pod", f"{name}-redis-0")
        assert now is not None
        assert now["metadata"]["uid"] != pod["metadata"]["uid"], "Redis was not rolled"
        with RedisSession(ns, name) as client:
            assert client.config_get("appendfsync") == {"appendfsync": "always"}

        # A change the operator refuses: helm 3 --wait succeeds regardless; the RedisQueue
        # says Stalled (and not Ready) for that generation.
        upgrade(helm3, chart, "redisQueue.persistence.size=128Mi")
        wait_condition(settings, name, "Stalled")
        obj = ns.get("rqueue", name)
        assert obj is not None
        ready = condition(obj, "Ready")
        assert ready is not None
        assert (ready["status"], ready["reason"]) == ("False", "StorageShrinkRefused")
        assert ready.get("observedGeneration") == obj["metadata"]["generation"]
        upgrade(helm3, chart, "redisQueue.persistence.size=256Mi")
        wait_condition(settings, name, "Ready")

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
