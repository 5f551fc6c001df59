"""Every query of the Grafana dashboard returns data from a real Prometheus scraping the real
exporter of a real Redis whose queue was filled through the library.

Prometheus scrapes the exporter with the target labels the chart's ServiceMonitor (or its
scrape-config snippet) gives it, ``namespace`` and ``service``. kube-state-metrics is not in
this test: a loopback HTTP server serves, in its exposition format, the three HPA series the
dashboard reads, scraped with ``honor_labels`` as kube-prometheus-stack scrapes
kube-state-metrics. That checks the queries and their labels, not kube-state-metrics.

The queue is used in two rounds, each after Prometheus has sampled the counters of the one
before, so every counter has risen between two samples in the rate window: one job
dead-lettered, one acknowledged, in each round; one job is left held by a live worker and one
waiting. A wrong-type key gives ``redis_queue_key_error``; a maxmemory gives the memory limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
import redis.asyncio

from codegen.dashboard import HPA_CURRENT, HPA_DESIRED, HPA_MAX, dashboard
from queue_core.jobs import Job
from queue_core.queue import JobQueue, dead_letter_name
from queue_exporter.metrics import ACKED, DEAD_LETTERED, IN_FLIGHT, UP
from tests.support.grafana import PanelTarget, panel_targets, substitute
from tests.support.helm import NAMESPACE, RELEASE
from tests.support.processes import (
    ExporterProcess,
    ExpositionServer,
    PrometheusServer,
    RedisServer,
    scrape_config,
    wait_until,
)

QUEUE = "enhancement:queue"
WRONG_TYPE = "broken:queue"
SERVICE = f"{RELEASE}-redis-queue-exporter"  # the chart's redis-queue.exporterService
HPA_NAME = f"{RELEASE}-redis-queue-worker"
SERIES = f'namespace="{NAMESPACE}",service="{SERVICE}"'
# What Grafana sends with one value chosen in each variable (a single value is regex-escaped;
# these names have no regex metacharacters).
VARIABLES = {"namespace": NAMESPACE, "queue": QUEUE, "hpa": HPA_NAME}
TARGETS = panel_targets(dashboard())


# kube-state-metrics is not in this test: this checks the HPA queries and their labels.
KUBE_STATE_METRICS_HPA = "".join(
    f"# TYPE {metric} gauge\n"
    f'{metric}{{namespace="{NAMESPACE}",horizontalpodautoscaler="{HPA_NAME}"}} {value}\n'
    for metric, value in ((HPA_CURRENT, 2), (HPA_DESIRED, 3), (HPA_MAX, 10))
)


def job(ticket: str) -> Job:
    return Job(tenant_id="t1", ticket_id=ticket, description="dashboard test")


async def use_the_queue(url: str, round_: int) -> None:
    """One round: a payload dead-lettered, a job acknowledged; the last round leaves a job held
    by the live worker and one waiting."""
    client = redis.asyncio.Redis.from_url(url, decode_responses=True)
    try:
        queue = JobQueue(client, QUEUE)
        worker = queue.consumer(worker_id="worker-1", lease_seconds=300)
        await client.lpush(QUEUE, "not json")
        await queue.push(job(f"T-{round_}-1"))
        claim = await worker.claim(block_seconds=1)  # dead-letters "not json" on the way
        assert claim is not None
        assert claim.job.ticket_id == f"T-{round_}-1"
        assert await worker.ack(claim)
        if round_ == 2:
            await queue.push_many([job("T-held"), job("T-waiting")])
            held = await worker.claim(block_seconds=1)
            assert held is not None
            assert held.job.ticket_id == "T-held"
    finally:
        await client.aclose()


@dataclass
class Stack:
    prometheus: PrometheusServer

    def value(self, expr: str) -> float | None:
        result = self.prometheus.query(expr)
        return float(result[0]["value"][1]) if result else None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One filled stack for every panel (module scope, so the conftest fixtures, which are per
    test, are replaced by the same classes they use)."""
    work = tmp_path_factory.mktemp("dashboard")
    server = RedisServer(data_dir=work / "redis").start()
    ksm = ExpositionServer(lambda: KUBE_STATE_METRICS_HPA).start()
    exporter: ExporterProcess | None = None
    prometheus: PrometheusServer | None = None
    try:
        sync = redis.Redis.from_url(server.url)
        sync.config_set("maxmemory", str(256 * 1024 * 1024))
        sync.set(WRONG_TYPE, "not a list")
        sync.close()
        asyncio.run(use_the_queue(server.url, 1))
        exporter = ExporterProcess(
            redis_url=server.url, queues=f"{QUEUE},{dead_letter_name(QUEUE)},{WRONG_TYPE}"
        ).start(work)
        prometheus = PrometheusServer(
            work_dir=work / "prometheus",
            config=scrape_config(
                exporter.port,
                labels={"namespace": NAMESPACE, "service": SERVICE},
                kube_state_metrics=ksm.target,
            ),
        ).start()
        stack = Stack(prometheus)
        acked = f'{ACKED}{{{SERIES},queue="{QUEUE}"}}'
        wait_until(
            lambda: stack.value(acked) == 1.0, timeout=30, what="Prometheus to sample round 1"
        )
        asyncio.run(use_the_queue(server.url, 2))
        # Round 2 sampled, and at least three scrapes of the exporter in the window.
        wait_until(
            lambda: (
                stack.value(acked) == 2.0
                and stack.value(f'{DEAD_LETTERED}{{{SERIES},queue="{QUEUE}"}}') == 2.0
                and stack.value(f'{IN_FLIGHT}{{{SERIES},queue="{QUEUE}"}}') == 1.0
                and (stack.value(f"count_over_time({UP}{{{SERIES}}}[5m])") or 0) >= 3
            ),
            timeout=30,
            what="Prometheus to sample round 2",
        )
        yield stack
    finally:
        if prometheus is not None:
            prometheus.stop()
        if exporter is not None:
            exporter.stop()
        ksm.close()
        server.kill()


@pytest.mark.parametrize("target", TARGETS, ids=[t.id for t in TARGETS])
def test_the_panel_query_returns_data(stack: Stack, target: PanelTarget) -> None:
    expr = substitute(target.expr, VARIABLES)
    result = stack.prometheus.query(expr)
    assert result, f"{target.id}: {expr} returned no series"


@pytest.mark.parametrize("variable", ["namespace", "queue", "hpa"])
def test_the_variable_lists_the_test_value(stack: Stack, variable: str) -> None:
    """label_values(selector, label): Grafana asks Prometheus for the label's values on the
    selector's series; the test's value must be among them."""
    (definition,) = [v for v in dashboard()["templating"]["list"] if v["name"] == variable]
    selector, label = (
        definition["query"].removeprefix("label_values(").removesuffix(")").rsplit(",", 1)
    )
    result = stack.prometheus.query(substitute(selector, VARIABLES))
    assert VARIABLES[variable] in {series["metric"].get(label.strip()) for series in result}
