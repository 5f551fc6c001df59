"""Value combinations off the default path: string-typed values that look like numbers, the
exporter turned off, the operator installed elsewhere, the operator Deployment kept in step with
manifests/operator, and what NOTES.txt tells the user."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.support.helm import ROOT, Helm, HelmError, find, kinds
from tests.unit.chart.test_chart_render import KUBERNETES_VERSION

KEDA = {"autoscaling": {"engine": "keda", "scaleTargetRef": {"name": "worker"}}}


def _validate(manifest: dict[str, Any]) -> None:
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_numeric_looking_secret_key_stays_a_string(helm: Helm, tmp_path: Path) -> None:
    """`--set-string redisQueue.auth.secretKey=123`: every secretKeyRef key renders as "123"."""
    manifests = helm.template(
        values={**KEDA, "redisQueue": {"auth": {"secretKey": "123"}}}, work_dir=tmp_path
    )
    auth = find(manifests, "TriggerAuthentication")
    assert auth["spec"]["secretTargetRef"][0]["key"] == "123"
    pod = find(manifests, "Pod")
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    assert env["AI_AGENTS_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "123"
    _validate(pod)
    assert find(manifests, "RedisQueue")["spec"]["auth"]["secretKey"] == "123"


def test_no_exporter_means_no_monitoring_objects_or_alerts(helm: Helm, tmp_path: Path) -> None:
    """Alerts on exporter series would fire forever (RedisQueueExporterAbsent) without one."""
    values = {
        "redisQueue": {"exporter": {"enabled": False}},
        "monitoring": {
            "serviceMonitor": {"enabled": True},
            "prometheusRule": {"enabled": True},
            "rulesConfigMap": {"enabled": True},
        },
    }
    manifests = helm.template(values=values, work_dir=tmp_path)
    assert not {"ServiceMonitor", "PrometheusRule", "ConfigMap"} & set(kinds(manifests))
    notes = helm.notes(tmp_path, values)
    assert "Exporter: off (redisQueue.exporter.enabled=false)" in notes
    assert "-exporter.queues.svc:9808/metrics" not in notes
    # The same values with the exporter on render all three.
    values["redisQueue"] = {"exporter": {"enabled": True}}
    with_exporter = helm.template(values=values, work_dir=tmp_path)
    assert {"ServiceMonitor", "PrometheusRule", "ConfigMap"} <= set(kinds(with_exporter))


def test_autoscaling_without_exporter_still_fails(helm: Helm, tmp_path: Path) -> None:
    with pytest.raises(HelmError, match=r"autoscaling needs redisQueue\.exporter\.enabled"):
        helm.template(
            values={**KEDA, "redisQueue": {"exporter": {"enabled": False}}}, work_dir=tmp_path
        )


ELSEWHERE = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "redis-queue-system"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "queue-operator"}},
}


def test_network_policy_admits_an_operator_installed_elsewhere(helm: Helm, tmp_path: Path) -> None:
    values = {
        "operator": {"enabled": False},
        "networkPolicy": {"extraIngress": [ELSEWHERE, {"ipBlock": {"cidr": "10.1.0.0/16"}}]},
    }
    manifests = helm.template(values=values, work_dir=tmp_path)
    assert "Deployment" not in kinds(manifests)
    policy = find(manifests, "NetworkPolicy")
    _validate(policy)
    (rule,) = policy["spec"]["ingress"]
    peers = rule["from"]
    assert peers[-2:] == [ELSEWHERE, {"ipBlock": {"cidr": "10.1.0.0/16"}}]
    assert len(peers) == 4  # clients, exporter, and the two extra peers
    assert "WARNING: operator.enabled=false" not in helm.notes(tmp_path, values)


def test_notes_warn_when_the_operator_elsewhere_is_not_admitted(helm: Helm, tmp_path: Path) -> None:
    notes = helm.notes(tmp_path, {"operator": {"enabled": False}})
    assert "WARNING: operator.enabled=false and networkPolicy.extraIngress is empty" in notes
    assert "WARNING" not in helm.notes(tmp_path)


@pytest.mark.parametrize(
    ("peer", "path"),
    [
        ({"podSelectors": {}}, "networkPolicy/extraIngress/0"),
        ({}, "networkPolicy/extraIngress/0"),
        (
            {"podSelector": {"matchExpressions": [{"key": "a", "operator": "Is"}]}},
            "networkPolicy/extraIngress/0/podSelector/matchExpressions/0/operator",
        ),
        ({"ipBlock": {"except": ["10.0.0.0/8"]}}, "networkPolicy/extraIngress/0/ipBlock"),
        (
            {"namespaceSelector": {"matchLabels": {"team": "a b"}}},
            "networkPolicy/extraIngress/0/namespaceSelector/matchLabels/team",
        ),
    ],
    ids=["typo", "empty", "expression-operator", "cidr-missing", "label-value"],
)
def test_extra_ingress_is_schema_checked(
    helm: Helm, peer: dict[str, Any], path: str, tmp_path: Path
) -> None:
    with pytest.raises(HelmError) as caught:
        helm.template(values={"networkPolicy": {"extraIngress": [peer]}}, work_dir=tmp_path)
    message = caught.value.stderr
    assert "values don't meet the specifications of the schema" in message, message
    named = f"'/{path}'" if helm.major >= 4 else path.replace("/", ".")
    assert named in message, message


def _hpa(value: float, target: float, current: int) -> int:
    """One metric's proposal: ceil(value / target) unless within the 0.1 tolerance; min 1."""
    if abs(value / (target * current) - 1) <= 0.1:
        return current
    return max(1, math.ceil(value / target))


def _band(depth: int, workers: int, up: int, down: int) -> int:
    if depth > up * workers:
        return math.ceil(depth / up)
    if depth < down * workers:
        return depth // down
    return workers


def _redis_outvotes_band(up: int, down: int) -> bool:
    return any(
        _hpa(depth, up, workers) > _hpa(_band(depth, workers, up, down), 1, workers)
        for workers in range(1, 12)
        for depth in range(0, 2 * up * workers + 2)
    )


def test_redis_trigger_outvotes_the_band_exactly_below_the_bound() -> None:
    """The rule the chart enforces, derived from the HPA's arithmetic (max of the proposals)."""
    for down in range(1, 13):
        for up in range(down + 1, 30):
            assert _redis_outvotes_band(up, down) == (up < 2 * down - 1), (up, down)


@pytest.mark.parametrize(
    ("up", "down", "mode", "redis", "fails"),
    [
        (18, 10, "band", True, True),
        (19, 10, "band", True, False),
        (50, 10, "band", True, False),
        (18, 10, "band", False, False),
        (18, 10, "proportional", True, False),
    ],
)
def test_redis_trigger_needs_up_at_least_twice_down(
    helm: Helm, up: int, down: int, mode: str, redis: bool, fails: bool, tmp_path: Path
) -> None:
    autoscaling = {
        **KEDA["autoscaling"],
        "mode": mode,
        "thresholds": {"scaleUpPerWorker": up, "scaleDownPerWorker": down},
        "keda": {"redisTrigger": {"enabled": redis}},
    }
    values = {"autoscaling": autoscaling}
    if not fails:
        assert find(helm.template(values=values, work_dir=tmp_path), "ScaledObject")
        return
    with pytest.raises(HelmError) as caught:
        helm.template(values=values, work_dir=tmp_path)
    message = caught.value.stderr
    assert "autoscaling.keda.redisTrigger.enabled needs" in message
    assert "autoscaling.thresholds.scaleUpPerWorker >= 2 x" in message
    assert "(here 18 < 19)" in message


CONTAINER_FIELDS = (
    "command",
    "image",
    "imagePullPolicy",
    "env",
    "ports",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "resources",
    "securityContext",
    "volumeMounts",
)
POD_FIELDS = ("securityContext", "volumes", "enableServiceLinks")


def _pod(deployment: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return pod, container


def test_operator_deployment_matches_manifests_operator(helm: Helm, tmp_path: Path) -> None:
    """The chart's operator Deployment and manifests/operator/deployment.yaml run the same
    operator the same way; only names, labels and the watch scope (values) may differ."""
    manifest = yaml.safe_load((ROOT / "manifests" / "operator" / "deployment.yaml").read_text())
    cluster_wide = helm.template(values={"operator": {"clusterWide": True}}, work_dir=tmp_path)
    namespaced = helm.template(work_dir=tmp_path)
    theirs_pod, theirs = _pod(manifest)
    for rendered, scope in [(cluster_wide, "--all-namespaces"), (namespaced, "--namespace=queues")]:
        chart = find(rendered, "Deployment")
        ours_pod, ours = _pod(chart)
        assert ours["args"] == [scope, *(a for a in theirs["args"] if a != "--all-namespaces")]
        for key in ("replicas", "strategy"):
            assert chart["spec"][key] == manifest["spec"][key], key
        for key in POD_FIELDS:
            assert ours_pod.get(key) == theirs_pod.get(key), key
        for key in CONTAINER_FIELDS:
            assert ours.get(key) == theirs.get(key), key
    # Every container field the manifest sets is compared above (a new one fails here).
    assert set(theirs) <= {"name", "args", *CONTAINER_FIELDS}
    assert set(theirs_pod) <= {"containers", "serviceAccountName", *POD_FIELDS}


def test_operator_intervals_come_from_values(helm: Helm, tmp_path: Path) -> None:
    values = {"operator": {"reconcileIntervalSeconds": 120, "statusIntervalSeconds": 15}}
    _, container = _pod(find(helm.template(values=values, work_dir=tmp_path), "Deployment"))
    assert container["env"] == [
        {"name": "QUEUE_OPERATOR_RECONCILE_INTERVAL", "value": "120"},
        {"name": "QUEUE_OPERATOR_STATUS_INTERVAL", "value": "15"},
    ]
    with pytest.raises(HelmError, match="statusIntervalSeconds"):
        helm.template(values={"operator": {"statusIntervalSeconds": 0}}, work_dir=tmp_path)


def test_notes_say_how_to_upgrade_the_crd(helm: Helm, tmp_path: Path) -> None:
    """Helm installs crds/ but never upgrades it; NOTES.txt gives the commands, and both work
    on this chart: the crds/ path exists and `helm show crds` prints exactly the CRD."""
    notes = helm.notes(tmp_path)
    assert "`helm upgrade` does NOT upgrade the RedisQueue CRD" in notes
    commands = [
        line.split("#")[0].strip() for line in notes.splitlines() if "--server-side" in line
    ]
    assert commands == [
        "kubectl apply --server-side --force-conflicts -f charts/redis-queue/crds/",
        "helm show crds <chart> | kubectl apply --server-side --force-conflicts -f -",
    ]
    assert (ROOT / "charts" / "redis-queue" / "crds").is_dir()
    crd = ROOT / "manifests" / "crds" / "redisqueues.queues.ai-agents.io.yaml"
    shown = [d for d in yaml.safe_load_all(helm.show_crds()) if d]
    assert shown == [yaml.safe_load(crd.read_text())]
    readme = (ROOT / "charts" / "redis-queue" / "README.md").read_text()
    assert commands[0] in readme.replace("`", "")


def test_notes_jsonpath_escapes_dots_in_the_secret_key(helm: Helm, tmp_path: Path) -> None:
    notes = helm.notes(tmp_path, {"redisQueue": {"auth": {"secretKey": "redis.password"}}})
    assert "jsonpath='{.data.redis\\.password}'" in notes
