"""The chart lints and renders with helm 3 and helm 4, and every object it renders is valid:
built-in kinds against the Kubernetes schema, custom resources against their CRD schemas,
labels and selectors against the Kubernetes label rules."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.support.helm import CHART, CI_VALUES, NAMESPACE, Helm, find, kinds, rule_groups
from tests.unit.chart.k8s_labels import label_value_errors, manifest_label_errors, selectors_in
from tests.unit.chart.schemas import all_schemas, custom_resource_errors

# A current Kubernetes release bundled with kubernetes-validate (helm 4.1 is built against 1.35).
KUBERNETES_VERSION = "1.35.0"
VALUES_CASES = [None, *CI_VALUES]
VALUES_IDS = ["default", *[p.stem for p in CI_VALUES]]
WORKER = {"autoscaling": {"scaleTargetRef": {"name": "worker"}}}


def render(helm: Helm, values_file: Path | None, **kwargs: Any) -> list[dict[str, Any]]:
    return helm.template([values_file] if values_file else [], **kwargs)


def test_ci_matrix_covers_engines_auth_persistence_and_monitoring() -> None:
    """The ci/ files are the matrix the issue asks for; a file dropped from it fails here."""
    loaded = [yaml.safe_load(p.read_text()) for p in CI_VALUES]
    engines = {v.get("autoscaling", {}).get("engine") for v in loaded}
    modes = {v.get("autoscaling", {}).get("mode") for v in loaded}
    fsyncs = {v.get("redisQueue", {}).get("persistence", {}).get("appendfsync") for v in loaded}
    secrets = {bool(v.get("redisQueue", {}).get("auth", {}).get("existingSecret")) for v in loaded}
    monitoring = {v.get("monitoring", {}).get("prometheusRule", {}).get("enabled") for v in loaded}
    assert {"keda", "prometheus-adapter"} <= engines
    assert {"band", "proportional"} <= modes
    assert {"always", "no"} <= fsyncs  # everysec is the default render
    assert secrets == {True, False}
    assert {True, False} <= monitoring | {False}


@pytest.mark.parametrize("values_file", VALUES_CASES, ids=VALUES_IDS)
def test_lint_strict(helm: Helm, values_file: Path | None) -> None:
    out = helm.lint([values_file] if values_file else [])
    assert "0 chart(s) failed" in out


@pytest.mark.parametrize("values_file", VALUES_CASES, ids=VALUES_IDS)
def test_every_rendered_object_is_valid(helm: Helm, values_file: Path | None) -> None:
    manifests = render(helm, values_file, include_crds=True)
    assert "CustomResourceDefinition" in kinds(manifests)
    custom = all_schemas()
    problems: list[str] = []
    for manifest in manifests:
        key = (manifest["apiVersion"], manifest["kind"])
        name = f"{manifest['kind']}/{manifest['metadata']['name']}"
        if key in custom:
            problems += [f"{name}: {e}" for e in custom_resource_errors(manifest)]
        else:
            try:
                kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as error:
                problems.append(f"{name}: {error.message} at {list(error.path)}")
        problems += manifest_label_errors(manifest)
        if manifest["kind"] not in {
            "CustomResourceDefinition",
            "ClusterRole",
            "ClusterRoleBinding",
        }:
            assert manifest["metadata"].get("namespace") == NAMESPACE, name
    assert not problems, "\n".join(problems)


def test_validators_catch_what_they_should(helm: Helm) -> None:
    """The checks above are not vacuous: they reject a typo and an invalid label."""
    manifests = render(helm, CHART / "ci" / "keda-band-values.yaml")
    scaled = find(manifests, "ScaledObject")
    scaled["spec"]["maxReplicas"] = 3  # typo of maxReplicaCount
    assert any("maxReplicas" in e for e in custom_resource_errors(scaled))
    queue = find(manifests, "RedisQueue")
    queue["spec"]["persistence"]["appendfsync"] = "sometimes"
    assert custom_resource_errors(queue)
    deployment = find(manifests, "Deployment")
    deployment["spec"]["selector"]["matchLabels"]["queue"] = "enhancement:queue"
    assert manifest_label_errors(deployment)
    deployment["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_label_rules() -> None:
    assert label_value_errors("enhancement:queue")
    assert label_value_errors("-x")
    assert label_value_errors("x" * 64)
    assert not label_value_errors("enhancement_queue")
    assert not label_value_errors("")


def _rule_set(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


@pytest.mark.parametrize("cluster_wide", [False, True])
def test_operator_rbac_is_the_same_rules_in_either_scope(helm: Helm, cluster_wide: bool) -> None:
    """-n NAME gets a Role, -A a ClusterRole: the same verbs either way (one _rbac.tpl)."""
    manifests = helm.template(values={"operator": {"clusterWide": cluster_wide}})
    kind = "ClusterRole" if cluster_wide else "Role"
    role = find(manifests, kind)
    binding = find(manifests, f"{kind}Binding")
    other = helm.template(values={"operator": {"clusterWide": not cluster_wide}})
    other_role = find(other, "Role" if cluster_wide else "ClusterRole")
    assert _rule_set(role["rules"]) == _rule_set(other_role["rules"])
    assert ("queues.ai-agents.io", "redisqueues/status", "patch") in _rule_set(role["rules"])
    account = find(manifests, "ServiceAccount")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}
    ]
    args = find(manifests, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    scope = "--all-namespaces" if cluster_wide else f"--namespace={NAMESPACE}"
    assert scope in args


def test_defaults_use_app_version_images_and_secure_pods(helm: Helm) -> None:
    manifests = helm.template()
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    operator = find(manifests, "Deployment")
    container = operator["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"ghcr.io/ai-agents/redis-queue-operator:{app_version}"
    queue = find(manifests, "RedisQueue")
    assert queue["spec"]["exporter"]["image"] == (
        f"ghcr.io/ai-agents/redis-queue-exporter:{app_version}"
    )
    assert operator["spec"]["strategy"]["type"] == "Recreate"
    assert operator["spec"]["replicas"] == 1
    for pod_spec, c in [
        (operator["spec"]["template"]["spec"], container),
        (find(manifests, "Pod")["spec"], find(manifests, "Pod")["spec"]["containers"][0]),
    ]:
        assert pod_spec["securityContext"]["runAsNonRoot"] is True
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
    # Autoscaling is opt-in: no HPA/ScaledObject without a scale target.
    assert not {"HorizontalPodAutoscaler", "ScaledObject"} & set(kinds(manifests))


def test_redisqueue_from_values(helm: Helm) -> None:
    manifests = render(helm, CHART / "ci" / "persistence-always-values.yaml")
    spec = find(manifests, "RedisQueue", "jobs")["spec"]
    assert spec["persistence"] == {
        "appendfsync": "always",
        "size": "20Gi",
        "storageClassName": "fast-ssd",
        "keepOnDelete": False,
    }
    assert spec["memory"] == {
        "maxmemory": "2gb",
        "maxmemoryPolicy": "noeviction",
        "allowEviction": False,
    }
    assert spec["resources"]["limits"] == {"memory": "3Gi"}
    assert spec["scheduling"]["nodeSelector"] == {"node.kubernetes.io/pool": "stateful"}
    assert spec["scheduling"]["priorityClassName"] == "high-priority"
    assert spec["podDisruptionBudget"] == {"enabled": False}
    assert "NetworkPolicy" not in kinds(manifests)
    existing = render(helm, CHART / "ci" / "adapter-band-values.yaml")
    assert find(existing, "RedisQueue")["spec"]["auth"] == {
        "existingSecret": "redis-password",
        "secretKey": "redis-password",
    }


def test_network_policy_admits_only_clients_exporter_operator(helm: Helm) -> None:
    manifests = render(helm, CHART / "ci" / "keda-band-values.yaml")
    policy = find(manifests, "NetworkPolicy")
    queue = find(manifests, "RedisQueue")["metadata"]["name"]
    assert policy["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "redis-queue",
        "app.kubernetes.io/instance": queue,
        "app.kubernetes.io/component": "redis",
    }
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 6379}]
    peers = rule["from"]
    assert {"podSelector": {"matchLabels": {"redis-queue.ai-agents.io/client": "true"}}} in peers
    exporter = {
        "app.kubernetes.io/name": "redis-queue",
        "app.kubernetes.io/instance": queue,
        "app.kubernetes.io/component": "exporter",
    }
    assert {"podSelector": {"matchLabels": exporter}} in peers
    operator_labels = find(manifests, "Deployment")["spec"]["selector"]["matchLabels"]
    assert {"podSelector": {"matchLabels": operator_labels}} in peers
    keda = [p for p in peers if "namespaceSelector" in p]
    assert keda == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "keda-operator"}},
        }
    ]
    assert len(peers) == 4
    # The test hook pod and the operator pod carry the client label, so the policy admits them.
    hook = find(manifests, "Pod")
    assert hook["metadata"]["labels"]["redis-queue.ai-agents.io/client"] == "true"
    assert hook["metadata"]["annotations"]["helm.sh/hook"] == "test"


def test_service_monitor_selects_the_operator_exporter_service(helm: Helm) -> None:
    manifests = render(helm, CHART / "ci" / "keda-band-values.yaml")
    monitor = find(manifests, "ServiceMonitor")
    queue = find(manifests, "RedisQueue")["metadata"]["name"]
    assert monitor["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/component": "exporter",
        "app.kubernetes.io/instance": queue,
    }
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert selectors_in(monitor)


def test_monitoring_off_renders_no_monitoring_objects(helm: Helm) -> None:
    manifests = render(helm, CHART / "ci" / "monitoring-off-values.yaml")
    assert not {"ServiceMonitor", "PrometheusRule", "ConfigMap"} & set(kinds(manifests))


def test_rendered_rules_and_scrape_snippet_pass_promtool(helm: Helm, tmp_path: Path) -> None:
    manifests = helm.template(values={"autoscaling": {"engine": "keda", **WORKER["autoscaling"]}})
    config_map = find(manifests, "ConfigMap")
    rules = tmp_path / "rules.yaml"
    rules.write_text(config_map["data"]["redis-queue.rules.yaml"])
    out = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    alerts = yaml.safe_load((CHART / "values.yaml").read_text())["monitoring"]["alerts"]
    assert f"SUCCESS: {len(alerts) + 1} rules found" in out.stdout  # the alerts + the recording
    config = tmp_path / "prometheus.yml"
    snippet = yaml.safe_load(config_map["data"]["scrape-config.yaml"])
    (job,) = snippet
    assert job["kubernetes_sd_configs"] == [
        {"role": "endpoints", "namespaces": {"names": [NAMESPACE]}}
    ]
    # Debian's Prometheus is built without Kubernetes service discovery, so promtool checks the
    # rest of the job (relabel rules, timeouts) with a static target in its place.
    job["static_configs"] = [{"targets": ["127.0.0.1:9808"]}]
    del job["kubernetes_sd_configs"]
    config.write_text(yaml.safe_dump({"scrape_configs": snippet, "rule_files": [str(rules)]}))
    out = subprocess.run(
        ["promtool", "check", "config", str(config)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    # Same groups in the PrometheusRule as in the ConfigMap's rule file.
    with_operator = helm.template(
        values={
            "autoscaling": {"engine": "keda", **WORKER["autoscaling"]},
            "monitoring": {"prometheusRule": {"enabled": True}},
        }
    )
    assert rule_groups(with_operator) == yaml.safe_load(rules.read_text())["groups"]
