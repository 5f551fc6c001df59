"""Jobs pushed through a port-forward show up in the exporter's /metrics and in Prometheus."""

from __future__ import annotations

import json

import pytest

from queue_exporter.metrics import DEPTH, UP
from tests.e2e.stack import RedisSession
from tests.support.kube import (
    PROMETHEUS_SERVICE,
    QUEUE,
    E2ESettings,
    Kubectl,
    http_get,
    make_jobs,
    metric_value,
    prometheus_vector,
    wait_for,
)

pytestmark = pytest.mark.e2e

PUSHED = 7


def test_pushed_jobs_appear_in_metrics_and_prometheus(
    kubectl: Kubectl, settings: E2ESettings, rqueue_name: str, redis_session: RedisSession
) -> None:
    queue = QUEUE
    with redis_session as client:
        client.delete(queue)
        client.lpush(queue, *make_jobs(PUSHED, prefix="metrics"))
        assert client.llen(queue) == PUSHED
        try:
            with kubectl.port_forward(f"svc/{rqueue_name}-exporter", 9808) as exporter:
                text = http_get(exporter.url + "/metrics")
                assert metric_value(text, UP) == 1.0
                assert metric_value(text, DEPTH, queue=queue) == PUSHED
                ready = json.loads(http_get(exporter.url + "/health/ready"))
                assert ready["redis"] == "connected"

            query = f'{DEPTH}{{namespace="{settings.namespace}",queue="{queue}"}}'
            with kubectl.port_forward(
                f"svc/{PROMETHEUS_SERVICE}", 9090, namespace=settings.monitoring_namespace
            ) as prometheus:

                def depth_in_prometheus() -> float | None:
                    body = http_get(prometheus.url + "/api/v1/query", params={"query": query})
                    values = [value for _, value in prometheus_vector(json.loads(body))]
                    return values[0] if values == [PUSHED] else None

                assert (
                    wait_for(
                        depth_in_prometheus, timeout=180, what=f"{query} == {PUSHED}", interval=2
                    )
                    == PUSHED
                )
        finally:
            client.delete(queue)


def test_prometheus_loaded_the_charts_alerting_and_recording_rules(
    kubectl: Kubectl, settings: E2ESettings
) -> None:
    """The chart's PrometheusRule reached Prometheus (through the Prometheus Operator, or
    however the cluster's Prometheus selects rules): every rule it declares is loaded."""
    rules = kubectl.items("prometheusrules.monitoring.coreos.com")
    assert rules, "the chart rendered no PrometheusRule (monitoring.prometheusRule.enabled)"
    declared = {
        rule.get("alert") or rule.get("record")
        for obj in rules
        for group in obj["spec"]["groups"]
        for rule in group["rules"]
    }
    assert "RedisQueueRedisDown" in declared
    with kubectl.port_forward(
        f"svc/{PROMETHEUS_SERVICE}", 9090, namespace=settings.monitoring_namespace
    ) as prometheus:

        def loaded() -> set[str] | None:
            body = json.loads(http_get(prometheus.url + "/api/v1/rules"))
            names = {rule["name"] for group in body["data"]["groups"] for rule in group["rules"]}
            return names if declared <= names else None

        assert declared <= wait_for(
            loaded, timeout=180, what="the chart's rules loaded", interval=2
        )
