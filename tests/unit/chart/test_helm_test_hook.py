"""The `helm test` hook: `python -m queue_exporter.selftest` in the project's exporter image.

It must not depend on what a Redis image ships (busybox wget segfaults on Debian's
busybox-static, Debian-based Redis images have no wget), so these tests pin: the command is the
selftest module, every variable it gets is one of the selftest's settings and points at the
Services the operator creates, the password comes from the Secret, the Pod meets the
`restricted` Pod Security Standard as the image's user, and the chart's NetworkPolicy lets it
reach Redis and the exporter as the operator labels their pods. What the selftest does with
these settings is tested against a real Redis and exporter in
tests/integration/exporter/test_selftest.py.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from queue_core.settings import env_name
from queue_exporter.selftest import SelftestSettings
from queue_operator.builders import build_children, build_secret
from queue_operator.naming import EXPORTER_PORT, REDIS_PORT, Owner
from queue_operator.spec import parse_spec
from tests.support.helm import CHART, NAMESPACE, ROOT, Helm, find
from tests.unit.chart.test_chart_render import KUBERNETES_VERSION

Manifest = dict[str, Any]
SELFTEST = ["python", "-m", "queue_exporter.selftest"]
NO_EXPORTER = {"redisQueue": {"exporter": {"enabled": False}}}
KEDA = {"autoscaling": {"engine": "keda", "scaleTargetRef": {"name": "worker"}}}
# Volume types the restricted profile allows.
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def hook(manifests: list[Manifest]) -> Manifest:
    hooks = [
        m
        for m in manifests
        if "test" in m["metadata"].get("annotations", {}).get("helm.sh/hook", "").split(",")
    ]
    assert len(hooks) == 1, f"expected one test hook, got {len(hooks)}"
    assert hooks[0]["kind"] == "Pod"
    return hooks[0]


def container_env(pod: Manifest) -> dict[str, Manifest]:
    (container,) = pod["spec"]["containers"]
    return {e["name"]: e for e in container["env"]}


def image_uid() -> int:
    """The numeric user the exporter image runs as (its Dockerfile's last USER)."""
    users = re.findall(
        r"^USER\s+(\d+)(?::\d+)?\s*$", (ROOT / "exporter" / "Dockerfile").read_text(), re.M
    )
    assert users, "exporter/Dockerfile sets no numeric USER"
    return int(users[-1])


def owner_of(manifests: list[Manifest]) -> Owner:
    queue = find(manifests, "RedisQueue")["metadata"]["name"]
    return Owner(name=queue, namespace=NAMESPACE, uid="uid-test")


def test_hook_runs_the_selftest_of_the_exporter_image_against_the_operators_services(
    helm: Helm,
) -> None:
    manifests = helm.template()
    pod = hook(manifests)
    (container,) = pod["spec"]["containers"]
    assert container["command"] == SELFTEST
    assert "args" not in container
    assert importlib.util.find_spec(SELFTEST[2]) is not None  # shipped in the exporter image
    rqueue = find(manifests, "RedisQueue")
    assert container["image"] == rqueue["spec"]["exporter"]["image"]
    assert container["imagePullPolicy"] == rqueue["spec"]["imagePullPolicy"]

    env = container_env(pod)
    # Only settings the selftest reads (a renamed variable would be silently ignored).
    assert set(env) <= {env_name(field) for field in SelftestSettings.fields}
    owner = owner_of(manifests)
    assert env["AI_AGENTS_REDIS_URL"]["value"] == (
        f"redis://{owner.redis}.{NAMESPACE}.svc:{REDIS_PORT}/0"
    )
    assert env["AI_AGENTS_EXPORTER_METRICS_URL"]["value"] == (
        f"http://{owner.exporter}.{NAMESPACE}.svc:{EXPORTER_PORT}/metrics"
    )
    # The password only ever comes from the Secret, never as a literal value.
    assert env["AI_AGENTS_REDIS_PASSWORD"] == {
        "name": "AI_AGENTS_REDIS_PASSWORD",
        "valueFrom": {
            "secretKeyRef": {"name": owner.generated_secret, "key": "password"},
        },
    }
    assert all("value" not in e for e in env.values() if "PASSWORD" in e["name"])
    # The selftest accepts what the chart renders.
    settings = SelftestSettings(
        redis_url=env["AI_AGENTS_REDIS_URL"]["value"],
        redis_password="x",
        redis_password_file=None,
        exporter_metrics_url=env["AI_AGENTS_EXPORTER_METRICS_URL"]["value"],
    )
    assert settings.exporter_metrics_url is not None
    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)


def test_hook_without_exporter_keeps_ping_and_canary_and_skips_metrics(
    helm: Helm, tmp_path: Path
) -> None:
    pod = hook(helm.template(values=NO_EXPORTER, work_dir=tmp_path))
    (container,) = pod["spec"]["containers"]
    assert container["command"] == SELFTEST
    env = container_env(pod)
    assert {"AI_AGENTS_REDIS_URL", "AI_AGENTS_REDIS_PASSWORD"} <= set(env)
    assert "AI_AGENTS_EXPORTER_METRICS_URL" not in env  # the selftest skips /metrics
    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)


def test_hook_image_override_and_existing_secret(helm: Helm, tmp_path: Path) -> None:
    values = {
        "tests": {"enabled": True, "image": "registry.example/redis-queue-exporter:dev"},
        "redisQueue": {"auth": {"existingSecret": "redis-password", "secretKey": "pw"}},
    }
    pod = hook(helm.template(values=values, work_dir=tmp_path))
    assert pod["spec"]["containers"][0]["image"] == "registry.example/redis-queue-exporter:dev"
    ref = container_env(pod)["AI_AGENTS_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "redis-password", "key": "pw"}


def test_hook_can_be_turned_off(helm: Helm, tmp_path: Path) -> None:
    manifests = helm.template(values={"tests": {"enabled": False}}, work_dir=tmp_path)
    assert not [m for m in manifests if "helm.sh/hook" in m["metadata"].get("annotations", {})]


def restricted_violations(pod: Manifest) -> list[str]:
    """The checks of the `restricted` Pod Security Standard (v1.25+) that a Pod spec can fail."""
    spec = pod["spec"]
    pod_security = spec.get("securityContext", {})
    problems = []
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            problems.append(f"{key} is set")
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            problems.append(f"volume {volume['name']} uses {sorted(kinds)}")
    if pod_security.get("runAsUser") == 0:
        problems.append("pod runAsUser 0")
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        name = container["name"]
        security = container.get("securityContext", {})
        if security.get("privileged"):
            problems.append(f"{name}: privileged")
        if security.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        capabilities = security.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            problems.append(f"{name}: capabilities do not drop ALL")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities {capabilities['add']}")
        if security.get("runAsNonRoot", pod_security.get("runAsNonRoot")) is not True:
            problems.append(f"{name}: runAsNonRoot is not true")
        if security.get("runAsUser", pod_security.get("runAsUser")) == 0:
            problems.append(f"{name}: runAsUser 0")
        seccomp = security.get("seccompProfile", pod_security.get("seccompProfile", {}))
        if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile is not RuntimeDefault/Localhost")
        if any("hostPort" in port for port in container.get("ports", [])):
            problems.append(f"{name}: hostPort")
    return problems


@pytest.mark.parametrize("values", [None, NO_EXPORTER], ids=["default", "no-exporter"])
def test_hook_pod_is_restricted_and_runs_as_the_image_user(
    helm: Helm, tmp_path: Path, values: dict[str, Any] | None
) -> None:
    pod = hook(helm.template(values=values, work_dir=tmp_path))
    assert restricted_violations(pod) == []
    spec = pod["spec"]
    uid = image_uid()
    assert uid == 10001
    assert (spec["securityContext"]["runAsUser"], spec["securityContext"]["runAsGroup"]) == (
        uid,
        uid,
    )
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    assert spec["restartPolicy"] == "Never"
    (container,) = spec["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["resources"]["limits"]["memory"]


def test_restricted_check_catches_a_root_pod() -> None:
    """The checker above fails the old hook's shape run as root (so its silence means something)."""
    pod = {
        "spec": {
            "securityContext": {"runAsUser": 0},
            "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
            "containers": [{"name": "c", "securityContext": {}}],
        }
    }
    problems = restricted_violations(pod)
    assert "pod runAsUser 0" in problems
    assert "c: allowPrivilegeEscalation is not false" in problems
    assert "c: capabilities do not drop ALL" in problems
    assert "c: seccompProfile is not RuntimeDefault/Localhost" in problems
    assert any("hostPath" in p for p in problems)


# ----------------------------------------------------------------- NetworkPolicy reachability


def selects(selector: Manifest, labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels and matchExpressions)."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def policy_types(policy: Manifest) -> list[str]:
    spec = policy["spec"]
    return list(spec.get("policyTypes") or ["Ingress", *(["Egress"] if "egress" in spec else [])])


def peer_matches(peer: Manifest, policy_namespace: str, labels: dict[str, str], ns: str) -> bool:
    if "ipBlock" in peer:
        return False  # pod IPs are not known here; the chart admits its pods by label
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": ns}):
            return False
    elif ns != policy_namespace:
        return False
    return selects(peer.get("podSelector", {}), labels)


def rule_admits(
    rule: Manifest, peers_key: str, policy_ns: str, peer: tuple[Any, str], port: int
) -> bool:
    ports = rule.get("ports") or [{}]
    port_ok = any(p.get("protocol", "TCP") == "TCP" and p.get("port", port) == port for p in ports)
    peers = rule.get(peers_key) or [{}]
    labels, ns = peer
    return port_ok and any(peer_matches(p, policy_ns, labels, ns) if p else True for p in peers)


def allowed(
    policies: list[Manifest],
    source: tuple[dict[str, str], str],
    target: tuple[dict[str, str], str],
    port: int,
) -> bool:
    """Whether the policies let ``source`` open a TCP connection to ``target`` on ``port``."""

    def direction(kind: str, pod: tuple[dict[str, str], str], other: tuple[Any, str]) -> bool:
        labels, ns = pod
        applicable = [
            p
            for p in policies
            if p["metadata"]["namespace"] == ns
            and selects(p["spec"]["podSelector"], labels)
            and kind in policy_types(p)
        ]
        key, peers_key = ("ingress", "from") if kind == "Ingress" else ("egress", "to")
        return not applicable or any(
            rule_admits(rule, peers_key, ns, other, port)
            for p in applicable
            for rule in p["spec"].get(key, [])
        )

    return direction("Egress", source, target) and direction("Ingress", target, source)


def operator_pods(manifests: list[Manifest]) -> dict[str, tuple[dict[str, str], int]]:
    """Pod labels and port of Redis and the exporter, as the operator builds them."""
    rqueue = find(manifests, "RedisQueue")
    spec = parse_spec(rqueue["metadata"]["name"], rqueue["spec"])
    pods = {}
    for child in build_children(owner_of(manifests), spec, secret_checksum="x"):
        if child["kind"] in ("StatefulSet", "Deployment"):
            component = child["metadata"]["labels"]["app.kubernetes.io/component"]
            port = {"redis": REDIS_PORT, "exporter": EXPORTER_PORT}[component]
            pods[component] = (child["spec"]["template"]["metadata"]["labels"], port)
    return pods


@pytest.mark.parametrize(
    "values",
    [None, KEDA, NO_EXPORTER, {"operator": {"enabled": False}}],
    ids=["default", "keda", "no-exporter", "no-operator"],
)
def test_network_policy_lets_the_hook_reach_redis_and_the_exporter(
    helm: Helm, tmp_path: Path, values: dict[str, Any] | None
) -> None:
    manifests = helm.template(values=values, work_dir=tmp_path)
    policies = [m for m in manifests if m["kind"] == "NetworkPolicy"]
    pod = hook(manifests)
    source = (pod["metadata"]["labels"], pod["metadata"]["namespace"])
    pods = operator_pods(manifests)
    assert set(pods) == ({"redis"} if values == NO_EXPORTER else {"redis", "exporter"})
    for component, (labels, port) in pods.items():
        assert allowed(policies, source, (labels, NAMESPACE), port), (
            f"the NetworkPolicy blocks the helm test pod from {component}:{port}"
        )
    # Redis is really guarded: a pod without the client label is refused, so the hook gets in
    # by its label and not because no policy applies.
    redis_labels, redis_port = pods["redis"]
    stranger = ({"app": "stranger"}, NAMESPACE)
    assert not allowed(policies, stranger, (redis_labels, NAMESPACE), redis_port)
    # The check itself notices a missing label.
    unlabelled = dict(source[0])
    del unlabelled["redis-queue.ai-agents.io/client"]
    assert not allowed(policies, (unlabelled, NAMESPACE), (redis_labels, NAMESPACE), redis_port)


def test_hook_values_are_documented_in_the_readme() -> None:
    readme = (CHART / "README.md").read_text()
    assert "## helm test" in readme
    assert "python -m queue_exporter.selftest" in readme
    assert "wget" not in (CHART / "templates" / "tests" / "test-queue.yaml").read_text()


def test_hook_reads_the_generated_secret_under_the_key_the_operator_writes(
    helm: Helm, tmp_path: Path
) -> None:
    """auth.secretKey without existingSecret: the operator stores the password under that key
    in its generated Secret, so the hook must read it there too."""
    manifests = helm.template(
        values={"redisQueue": {"auth": {"secretKey": "token"}}}, work_dir=tmp_path
    )
    owner = owner_of(manifests)
    spec = parse_spec(owner.name, find(manifests, "RedisQueue")["spec"])
    written = build_secret(owner, spec, "pw")
    ref = container_env(hook(manifests))["AI_AGENTS_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": written["metadata"]["name"], "key": "token"}
    assert set(written["data"]) == {ref["key"]}
