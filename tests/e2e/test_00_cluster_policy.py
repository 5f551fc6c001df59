"""What a real cluster shows beyond the chart's own behaviour: its pods are admitted by a
namespace enforcing the restricted Pod Security Standard, and the operator runs with only
the RBAC the chart grants it (nothing it asks for is refused).

Runs first and again implicitly later: every later test depends on these pods running.
"""

from __future__ import annotations

import pytest

from tests.e2e.stack import wait_rqueue_ready
from tests.support.kube import E2ESettings, Kubectl

pytestmark = pytest.mark.e2e

ENFORCE = "pod-security.kubernetes.io/enforce"


def test_namespace_enforces_restricted_and_admitted_every_pod(
    kubectl: Kubectl, settings: E2ESettings, rqueue_name: str
) -> None:
    wait_rqueue_ready(kubectl, rqueue_name, settings.ready_timeout)
    namespace = kubectl.get("namespace", settings.namespace, namespace="")
    assert namespace is not None
    assert namespace["metadata"].get("labels", {}).get(ENFORCE) == "restricted", (
        "the e2e namespace must enforce the restricted Pod Security Standard"
    )
    refused = [
        event.get("message", "")
        for event in kubectl.items("events")
        if "violates PodSecurity" in event.get("message", "")
    ]
    assert refused == [], refused
    pods = kubectl.items("pods")
    names = {pod["metadata"]["name"] for pod in pods}
    assert f"{rqueue_name}-redis-0" in names, names
    assert any(name.startswith(f"{settings.release}-operator-") for name in names), names
    assert any(name.startswith(f"{rqueue_name}-exporter-") for name in names), names
    for pod in pods:
        if pod["status"].get("phase") in ("Succeeded", "Failed"):
            continue  # completed hook pods (helm test) are checked by test_05
        assert pod["status"].get("phase") == "Running", (pod["metadata"]["name"], pod["status"])


def test_operator_runs_with_its_own_rbac_and_is_refused_nothing(
    kubectl: Kubectl, settings: E2ESettings, rqueue_name: str
) -> None:
    wait_rqueue_ready(kubectl, rqueue_name, settings.ready_timeout)
    deploy = kubectl.get("deployment", f"{settings.release}-operator")
    assert deploy is not None, "the chart's operator Deployment is missing"
    account = deploy["spec"]["template"]["spec"]["serviceAccountName"]
    assert account == f"{settings.release}-operator"
    # Its ServiceAccount is bound to nothing cluster-wide but what the chart renders.
    bindings = [
        b["metadata"]["name"]
        for b in kubectl.items("clusterrolebindings", namespace="")
        if any(
            s.get("kind") == "ServiceAccount"
            and s.get("name") == account
            and s.get("namespace") == settings.namespace
            for s in b.get("subjects") or []
        )
    ]
    assert all(name.startswith(settings.release) for name in bindings), bindings
    log = kubectl.run("logs", f"deployment/{settings.release}-operator", "--tail=-1")
    assert log.strip(), "the operator logged nothing"
    # An API refusal carries the reason "Forbidden" (kopf: APIForbiddenError, 403 Forbidden);
    # a bare "403" would also match timestamps and sizes in the access log.
    forbidden = [line for line in log.splitlines() if "forbidden" in line.lower()]
    assert forbidden == [], "\n".join(forbidden[:10])
