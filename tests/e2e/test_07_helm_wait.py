"""What `helm upgrade --wait` (Helm 4) waits for: the RedisQueue's new generation served.

Helm 4 waits with kstatus, which reads the RedisQueue's observedGeneration and its Ready,
Reconciling and Stalled conditions. So a change that rolls Redis returns only once the new
pod serves it, and a change the operator refuses fails at once with the operator's message
(Stalled), not after the timeout. (Helm 3 ignores custom resources: test_06.)

A release of its own, in a namespace of its own, so that it runs alone and in any order (the
main release is uninstalled by test_05).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.stack import RedisSession, own_release_namespace
from tests.support.kube import CommandError, E2ESettings, Kubectl, condition, run

pytestmark = pytest.mark.e2e

RELEASE = "redis-queue-wait"  # holds the chart name: the RedisQueue is named like it
NAMESPACE = "redis-queue-wait"
SIZE = "256Mi"
# Generous: the assertions are on what helm says, never on how long it took.
TIMEOUT = ["--timeout", "10m"]


def helm4(settings: E2ESettings, *args: str) -> list[str]:
    return [settings.helm, "--kube-context", settings.context, "--namespace", NAMESPACE, *args]


@pytest.fixture(scope="module")
def ns(settings: E2ESettings, kubectl: Kubectl) -> Iterator[Kubectl]:
    """The release installed with helm 4 `--wait`; uninstalled at the end."""
    version = run([settings.helm, "version", "--short"]).stdout
    assert version.startswith("v4."), f"HELM is {version}: this module is about helm 4"
    values = own_release_namespace(kubectl, NAMESPACE, SIZE)
    chart = [settings.chart, *settings.chart_flags]
    try:
        run(helm4(settings, "install", RELEASE, *chart, *values, "--wait", *TIMEOUT), timeout=700)
        ns = Kubectl(context=settings.context, namespace=NAMESPACE, binary=settings.kubectl)
        # No waiting of our own after install either: the CRD defaults status.observedGeneration
        # to 0, so kstatus sees a RedisQueue the operator has not acted on as in progress.
        served(ns)
        yield ns
    finally:
        run(helm4(settings, "uninstall", RELEASE, "--ignore-not-found", "--wait"), timeout=400)


def upgrade(settings: E2ESettings, *values: str) -> None:
    chart = [settings.chart, *settings.chart_flags]
    run(
        helm4(settings, "upgrade", RELEASE, *chart, "--reuse-values", *values, "--wait", *TIMEOUT),
        timeout=700,
    )


def served(ns: Kubectl) -> dict[str, Any]:
    """The RedisQueue right now, asserted Ready=True for its current generation."""
    obj = ns.get("rqueue", RELEASE)
    assert obj is not None
    generation = obj["metadata"]["generation"]
    ready = condition(obj, "Ready")
    assert ready is not None
    assert (ready["status"], ready.get("observedGeneration")) == ("True", generation), ready
    assert obj["status"]["observedGeneration"] == generation
    return obj


def test_upgrade_wait_returns_once_the_new_appendfsync_is_served(
    settings: E2ESettings, ns: Kubectl
) -> None:
    before = ns.get("pod", f"{RELEASE}-redis-0")
    assert before is not None
    with RedisSession(ns, RELEASE) as client:
        old = client.config_get("appendfsync")["appendfsync"]
    new = "always" if old != "always" else "everysec"

    upgrade(settings, "--set", f"redisQueue.persistence.appendfsync={new}")

    # No waiting of our own: helm returned, so the new generation is served.
    obj = served(ns)
    reconciling = condition(obj, "Reconciling")
    assert reconciling is not None
    assert reconciling["status"] == "False"
    pod = ns.get("pod", f"{RELEASE}-redis-0")
    assert pod is not None
    assert pod["metadata"]["uid"] != before["metadata"]["uid"], "Redis was not rolled"
    with RedisSession(ns, RELEASE) as client:
        assert client.config_get("appendfsync") == {"appendfsync": new}


def test_upgrade_wait_fails_with_the_operators_refusal_not_a_timeout(
    settings: E2ESettings, ns: Kubectl
) -> None:
    with pytest.raises(CommandError) as failed:
        upgrade(settings, "--set", "redisQueue.persistence.size=128Mi")
    said = failed.value.stderr + failed.value.stdout
    assert "status: Failed" in said, said
    assert f"persistence.size 128Mi is smaller than the existing volume ({SIZE})" in said, said
    assert "context deadline exceeded" not in said, said
    obj = ns.get("rqueue", RELEASE)
    assert obj is not None
    stalled = condition(obj, "Stalled")
    assert stalled is not None
    assert (stalled["status"], stalled["reason"]) == ("True", "StorageShrinkRefused")
    assert stalled.get("observedGeneration") == obj["metadata"]["generation"]

    # Put the size back: the next upgrade succeeds and the RedisQueue is Ready again.
    upgrade(settings, "--set", f"redisQueue.persistence.size={SIZE}")
    obj = served(ns)
    stalled = condition(obj, "Stalled")
    assert stalled is not None
    assert (stalled["status"], stalled["reason"]) == ("False", "Reconciled")
