"""The chart's autoscaling signal, evaluated by a real Prometheus on the real exporter's metrics.

Prometheus loads the recording rule rendered by the chart (prometheus-adapter engine) and
answers the KEDA query rendered by the chart (keda engine); the exporter reports the depth of a
real Redis list the test fills (with `queuectl push` and redis-py); a loopback HTTP server
stands in for kube-state-metrics with `kube_deployment_status_replicas`. Over a trace of
(depth, workers), the HPA's own arithmetic applied to the value Prometheus returns must add
workers above 50 x workers, hold inside the band and remove workers below 10 x workers.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.helm import NAMESPACE, RELEASE, Helm, find
from tests.support.processes import (
    ExporterProcess,
    ExpositionServer,
    PrometheusServer,
    RedisServer,
    scrape_config,
    wait_until,
)

QUEUE = "enhancement:queue"
WORKER = "worker"
MIN_REPLICAS, MAX_REPLICAS = 1, 10
TOLERANCE = 0.1  # kube-controller-manager --horizontal-pod-autoscaler-tolerance default
EXPORTER_SERVICE = f"{RELEASE}-redis-queue-exporter"
RECORD = "redis_queue:desired_workers"
SELECTOR = (
    f'{RECORD}{{namespace="{NAMESPACE}",queue="enhancement_queue",workload="{WORKER}",'
    f'redisqueue="{RELEASE}-redis-queue"}}'
)


def hpa_desired(value: float, current: int, target: float = 1.0) -> int:
    """What the HPA controller does with an External AverageValue metric (replica_calculator):
    usage ratio = value / (target x current); inside the tolerance it keeps ``current``,
    otherwise it proposes ceil(value / target); then minReplicas/maxReplicas clamp."""
    ratio = value / (target * current)
    proposal = current if abs(1.0 - ratio) <= TOLERANCE else math.ceil(value / target)
    return max(MIN_REPLICAS, min(MAX_REPLICAS, proposal))


class KubeStateMetricsStub(ExpositionServer):
    """A loopback exposition of kube_deployment_status_replicas whose value the test sets."""

    def __init__(self) -> None:
        self.replicas: int | None = None
        super().__init__(self._body)

    def _body(self) -> str:
        lines = ["# TYPE kube_deployment_status_replicas gauge"]
        if self.replicas is not None:
            lines.append(
                f'kube_deployment_status_replicas{{namespace="{NAMESPACE}",'
                f'deployment="{WORKER}"}} {self.replicas}'
            )
        return "\n".join(lines) + "\n"


@dataclass
class Stack:
    redis: RedisServer
    exporter: ExporterProcess
    ksm: KubeStateMetricsStub
    prometheus: PrometheusServer
    keda_band_query: str
    keda_proportional_query: str

    def scalar(self, expr: str) -> float | None:
        result = self.prometheus.query(expr)
        if not result:
            return None
        assert len(result) == 1, f"{expr} returned {len(result)} series: {result}"
        return float(result[0]["value"][1])

    def set_depth(self, depth: int) -> None:
        client = redis.Redis.from_url(self.redis.url)
        job = json.dumps(
            {
                "job_id": "j",
                "tenant_id": "t",
                "ticket_id": "T-1",
                "description": "d",
                "priority": "normal",
                "timestamp": "2025-01-01T00:00:00Z",
            }
        )
        with client.pipeline() as pipe:
            pipe.delete(QUEUE)
            if depth:
                pipe.lpush(QUEUE, *([job] * depth))
            pipe.execute()
        client.close()

    def observe(self, depth: int | None, replicas: int | None) -> float | None:
        """Wait until Prometheus has scraped both inputs and evaluated the rule on them; return
        the recorded signal (None when the rule yields no sample)."""
        depth_expr = f'max(redis_queue_depth{{queue="{QUEUE}",service="{EXPORTER_SERVICE}"}})'
        replicas_expr = f'max(kube_deployment_status_replicas{{deployment="{WORKER}"}})'
        wait_until(
            lambda: (
                self.scalar(depth_expr) == (None if depth is None else float(depth))
                and self.scalar(replicas_expr) == (None if replicas is None else float(replicas))
            ),
            timeout=20,
            what=f"Prometheus to see depth={depth} replicas={replicas}",
        )
        # The recorded series follows at the next rule evaluation; it must then equal the KEDA
        # query (the same expression, evaluated now).
        wait_until(
            lambda: self.scalar(SELECTOR) == self.scalar(self.keda_band_query),
            timeout=10,
            what="the recording rule to catch up with the KEDA query",
        )
        return self.scalar(SELECTOR)


def _render_rules(helm: Helm, tmp_path: Path) -> tuple[Path, str, str]:
    base: dict[str, Any] = {
        "autoscaling": {
            "scaleTargetRef": {"name": WORKER},
            "minReplicas": MIN_REPLICAS,
            "maxReplicas": MAX_REPLICAS,
        }
    }
    adapter = helm.template(
        values={"autoscaling": {**base["autoscaling"], "engine": "prometheus-adapter"}},
        work_dir=tmp_path,
    )
    config_map = find(adapter, "ConfigMap", f"{RELEASE}-redis-queue-prometheus")
    rules = tmp_path / "redis-queue.rules.yaml"
    rules.write_text(config_map["data"]["redis-queue.rules.yaml"])
    hpa = find(adapter, "HorizontalPodAutoscaler")
    metric = hpa["spec"]["metrics"][0]["external"]
    assert metric["target"] == {"type": "AverageValue", "averageValue": "1"}
    # The HPA selector is exactly the label set of the recorded series (minus namespace, which
    # the adapter adds), so the adapter's query matches what Prometheus records.
    assert metric["metric"]["selector"]["matchLabels"] == {
        "queue": "enhancement_queue",
        "workload": WORKER,
        "redisqueue": f"{RELEASE}-redis-queue",
    }

    def keda_query(mode: str) -> str:
        keda = helm.template(
            values={"autoscaling": {**base["autoscaling"], "engine": "keda", "mode": mode}},
            work_dir=tmp_path,
        )
        trigger = find(keda, "ScaledObject")["spec"]["triggers"][0]
        assert trigger["metadata"]["threshold"] == "1"
        return str(trigger["metadata"]["query"])

    return rules, keda_query("band"), keda_query("proportional")


@pytest.fixture
def stack(
    tmp_path: Path,
    redis_server: RedisServer,
    start_exporter: Callable[..., ExporterProcess],
    start_prometheus: Callable[..., PrometheusServer],
) -> Iterator[Stack]:
    rules, band_query, proportional_query = _render_rules(Helm.named("helm4"), tmp_path)
    exporter = start_exporter(redis_server.url, queues=f"{QUEUE},enhancement:dlq")
    with KubeStateMetricsStub() as ksm:
        # What the ServiceMonitor / scrape snippet produce in a cluster: the exporter series
        # carry the namespace and service target labels.
        labels = {"namespace": NAMESPACE, "service": EXPORTER_SERVICE}
        config = scrape_config(exporter.port, labels=labels, kube_state_metrics=ksm.target)
        prometheus = start_prometheus(config, rule_files=(rules,))
        yield Stack(redis_server, exporter, ksm, prometheus, band_query, proportional_query)


def test_queuectl_push_drives_the_signal(stack: Stack) -> None:
    """The real producer CLI moves the depth the signal is computed from."""
    stack.ksm.replicas = 1
    jobs = "\n".join(
        json.dumps({"tenant_id": "t", "ticket_id": f"T-{i}", "description": "slow server"})
        for i in range(120)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AI_AGENTS_")}
    env.update(AI_AGENTS_REDIS_URL=stack.redis.url, AI_AGENTS_QUEUES=f"{QUEUE},enhancement:dlq")
    queuectl = Path(sys.executable).with_name("queuectl")
    result = subprocess.run(
        [str(queuectl), "push", "--queue", QUEUE, "-"],
        input=jobs,
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    value = stack.observe(120, 1)
    assert value == 3.0  # 120 > 50 x 1: ceil(120 / 50)
    assert hpa_desired(value, 1) == 3


# (depth, current workers, expected HPA decision, expected signal)
BAND_TRACE = [
    (150, 2, 3, 3.0),  # 150 > 100: add (ceil(150/50))
    (150, 3, 3, 3.0),  # 30 <= 150 <= 150: hold
    (100, 3, 3, 3.0),  # inside the band: hold
    (30, 3, 3, 3.0),  # exactly 10 x 3 is not below the down threshold: hold
    (29, 3, 2, 2.0),  # 29 < 30: remove, to floor(29/10) = 2 workers
    (29, 2, 2, 2.0),  # 20 <= 29 <= 100: hold (no flapping after the scale-down)
    (5, 2, 1, 0.0),  # 5 < 20: remove; floor(0.5) = 0, clamped to minReplicas
    (0, 1, 1, 0.0),  # empty queue at minReplicas: stays there
    (600, 1, 10, 12.0),  # burst: ceil(600/50) = 12, clamped to maxReplicas
    (201, 4, 5, 5.0),  # just above 50 x 4: add one (ratio 1.25 beats the tolerance)
    (200, 4, 4, 4.0),  # the upper edge of the band: hold
    (40, 4, 4, 4.0),  # the lower edge of the band: hold
    (39, 4, 3, 3.0),  # just below 10 x 4: remove one
]


def test_band_trace(stack: Stack) -> None:
    outcomes = []
    for depth, replicas, expected, signal in BAND_TRACE:
        stack.set_depth(depth)
        stack.ksm.replicas = replicas
        value = stack.observe(depth, replicas)
        assert value is not None
        desired = hpa_desired(value, replicas)
        outcomes.append((depth, replicas, value, desired))
        assert (value, desired) == (signal, expected), outcomes
        if depth > 50 * replicas:
            assert desired > replicas or replicas == MAX_REPLICAS
        elif depth < 10 * replicas:
            assert desired < replicas or replicas == MIN_REPLICAS
        else:
            assert desired == replicas
        # KEDA's optional redis trigger proposes ceil(depth / 50); the HPA takes the max of its
        # metrics' proposals, so that trigger must never outvote the band.
        assert max(desired, hpa_desired(depth, replicas, target=50)) == desired
        # proportional mode over the same depths: depth / jobsPerWorker (50), no hold band.
        assert stack.scalar(stack.keda_proportional_query) == depth / 50


def test_without_kube_state_metrics_the_band_falls_back_to_proportional(stack: Stack) -> None:
    stack.set_depth(120)
    stack.ksm.replicas = None
    value = stack.observe(120, None)
    assert value == 120 / 50
    assert hpa_desired(value, 4) == 3  # plain proportional: ceil(2.4)


def test_redis_down_holds_the_current_workers(stack: Stack) -> None:
    stack.set_depth(5)
    stack.ksm.replicas = 4
    assert stack.observe(5, 4) == 0.0  # would remove workers while Redis answers
    stack.redis.kill()
    # The exporter now reports redis_queue_up 0 and no depth: the signal is the current count.
    value = stack.observe(None, 4)
    assert value == 4.0
    assert hpa_desired(value, 4) == 4
    assert stack.scalar(f'redis_queue_up{{service="{EXPORTER_SERVICE}"}}') == 0.0
    # And with neither input there is no sample at all: the HPA keeps its replicas (the KEDA
    # trigger sets ignoreNullValues "false" so an empty result is an error, not a 0).
    stack.ksm.replicas = None
    wait_until(
        lambda: stack.scalar(stack.keda_band_query) is None,
        timeout=20,
        what="the signal to vanish",
    )
