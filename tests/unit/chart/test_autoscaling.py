"""What must agree between the HPA, the adapter rule, the recording rule and the ScaledObject
(manifests/autoscaling/ is generated from them). Rendered, not run: the numbers are traced on a
real Prometheus in tests/integration/chart/test_autoscaling_signal.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.helm import CHART, NAMESPACE, Helm, find, rule_groups
from tests.unit.chart.k8s_labels import selector_errors


def _record(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    rules: list[dict[str, Any]] = [
        r for g in rule_groups(manifests) for r in g["rules"] if "record" in r
    ]
    (rule,) = rules
    return rule


def test_adapter_engine_pieces_fit_together(helm: Helm) -> None:
    manifests = helm.template([CHART / "ci" / "adapter-band-values.yaml"])
    hpa = find(manifests, "HorizontalPodAutoscaler")
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "enhancement-worker",
    }
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 30)
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert spec["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 0
    (metric,) = spec["metrics"]
    assert metric["type"] == "External"
    selector = metric["external"]["metric"]["selector"]
    assert not selector_errors(selector)
    assert selector["matchLabels"]["queue"] == "enhancement_queue"
    # The adapter rule exposes the recorded series under the HPA's metric name.
    adapter = yaml.safe_load(
        find(manifests, "ConfigMap", "rq-redis-queue-prometheus-adapter")["data"]["values.yaml"]
    )
    (rule,) = adapter["rules"]["external"]
    record = _record(manifests)
    assert rule["name"]["as"] == metric["external"]["metric"]["name"]
    assert rule["name"]["matches"] == f"^{record['record']}$"
    assert rule["seriesQuery"].startswith(record["record"] + "{")
    assert "<<.LabelMatchers>>" in rule["metricsQuery"]
    # The recording rule attaches exactly the selector's labels (plus the namespace the adapter
    # matches on), with the thresholds from values.
    expr = record["expr"]
    for key, value in {**selector["matchLabels"], "namespace": NAMESPACE}.items():
        assert f'"{key}", "{value}", "", ""' in expr
    assert "/ 40)" in expr
    assert "40 *" in expr
    assert "/ 5)" in expr
    assert "5 *" in expr
    assert (
        'kube_deployment_status_replicas{namespace="queues",deployment="enhancement-worker"}'
        in expr
    )


def test_keda_engine_uses_the_same_signal(helm: Helm) -> None:
    manifests = helm.template([CHART / "ci" / "keda-band-values.yaml"])
    scaled = find(manifests, "ScaledObject")
    prometheus, redis_trigger = scaled["spec"]["triggers"]
    assert prometheus["type"] == "prometheus"
    assert prometheus["metadata"]["threshold"] == "1"
    assert prometheus["metadata"]["ignoreNullValues"] == "false"
    # The recording rule is the KEDA query wrapped in label_replace calls.
    assert prometheus["metadata"]["query"] in _record(manifests)["expr"]
    assert redis_trigger["type"] == "redis"
    assert redis_trigger["metadata"]["listName"] == "enhancement:queue"
    assert redis_trigger["metadata"]["listLength"] == "50"
    auth = find(manifests, "TriggerAuthentication")
    assert redis_trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "password", "name": "rq-redis-queue-redis-auth", "key": "password"}
    ]
    assert (
        scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"][
            "stabilizationWindowSeconds"
        ]
        == 300
    )
    assert "HorizontalPodAutoscaler" not in [m["kind"] for m in manifests]


def test_keda_proportional_statefulset_without_redis_trigger(helm: Helm) -> None:
    manifests = helm.template([CHART / "ci" / "keda-proportional-values.yaml"])
    scaled = find(manifests, "ScaledObject")
    (trigger,) = scaled["spec"]["triggers"]
    query = trigger["metadata"]["query"]
    assert query.endswith("/ 25")
    assert "kube_" not in query  # proportional needs no kube-state-metrics
    assert scaled["spec"]["scaleTargetRef"]["kind"] == "StatefulSet"
    assert "TriggerAuthentication" not in [m["kind"] for m in manifests]


@pytest.mark.parametrize(
    ("queue", "label"),
    [("enhancement:queue", "enhancement_queue"), ("tenant:a:jobs", "tenant_a_jobs"), (":x:", "x")],
)
def test_queue_names_map_to_valid_label_values(
    helm: Helm, queue: str, label: str, tmp_path: Path
) -> None:
    manifests = helm.template(
        values={
            "redisQueue": {"queues": [queue]},
            "autoscaling": {
                "engine": "prometheus-adapter",
                "queue": queue,
                "scaleTargetRef": {"name": "w"},
            },
        },
        work_dir=tmp_path,
    )
    selector = find(manifests, "HorizontalPodAutoscaler")["spec"]["metrics"][0]["external"][
        "metric"
    ]["selector"]
    assert selector["matchLabels"]["queue"] == label
    assert not selector_errors(selector)
    # The raw queue name is still what the depth selector matches in PromQL.
    assert f'queue="{queue}"' in _record(manifests)["expr"]
