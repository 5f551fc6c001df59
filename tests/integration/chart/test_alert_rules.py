"""The chart's alerts under `promtool test rules` (each fires, and does not fire when it should
not), and every metric the rules and queries name is one the real exporter publishes."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from queue_core.connection import create_client
from queue_core.jobs import Job
from queue_core.queue import JobQueue
from tests.integration.conftest import settings_for
from tests.support.helm import NAMESPACE, RELEASE, Helm, find, rule_groups
from tests.support.processes import ExporterProcess, RedisServer

QUEUE_NAME = f"{RELEASE}-redis-queue"
SERVICE = f"{QUEUE_NAME}-exporter"
DEAD_LETTERED = "redis_queue_jobs_dead_lettered_total{{{}}}"
TARGET = f'namespace="{NAMESPACE}",service="{SERVICE}",job="redis-queue",instance="x:9808"'
VALUES = {"autoscaling": {"engine": "prometheus-adapter", "scaleTargetRef": {"name": "worker"}}}


def _expand(template: str, labels: dict[str, str], value: str) -> str:
    """The template forms the chart's annotations use: {{ $labels.x }} and {{ $value }} (or
    {{ $value | humanizePercentage }}, for which ``value`` is the humanized text)."""
    text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), template)
    return re.sub(r"\{\{ \$value(?: \| humanizePercentage)? \}\}", value, text)


# alert -> (input series that make it fire, series that must not, eval time, labels, $value)
CASES: dict[str, dict[str, Any]] = {
    "RedisQueueDepthHigh": {
        "fire": [(f'redis_queue_depth{{{TARGET},queue="enhancement:queue"}}', "150x30")],
        "quiet": [(f'redis_queue_depth{{{TARGET},queue="enhancement:queue"}}', "100x30")],
        "at": "11m",
        "before": "9m",
        "labels": {"queue": "enhancement:queue"},
        "value": "150",
    },
    "RedisQueueOldestJobTooOld": {
        "fire": [
            (f'redis_queue_oldest_job_age_seconds{{{TARGET},queue="enhancement:queue"}}', "700x30")
        ],
        "quiet": [
            (f'redis_queue_oldest_job_age_seconds{{{TARGET},queue="enhancement:queue"}}', "599x30")
        ],
        "at": "6m",
        "before": "4m",
        "labels": {"queue": "enhancement:queue"},
        "value": "700",
    },
    "RedisQueueRedisDown": {
        "fire": [(f"redis_queue_up{{{TARGET}}}", "0x30")],
        "quiet": [(f"redis_queue_up{{{TARGET}}}", "1x30")],
        "at": "3m",
        "before": "1m",
        "labels": {},
        "value": "0",
    },
    "RedisQueueAOFWriteFailing": {
        "fire": [(f"redis_queue_aof_last_write_ok{{{TARGET}}}", "0x30")],
        "quiet": [(f"redis_queue_aof_last_write_ok{{{TARGET}}}", "1x30")],
        "at": "2m",
        "before": "30s",
        "labels": {},
        "value": "0",
    },
    "RedisQueueAOFDisabled": {
        "fire": [(f"redis_queue_aof_enabled{{{TARGET}}}", "0x30")],
        "quiet": [(f"redis_queue_aof_enabled{{{TARGET}}}", "1x30")],
        "at": "6m",
        "before": "4m",
        "labels": {},
        "value": "0",
    },
    "RedisQueueAOFRewriteFailing": {
        "fire": [(f"redis_queue_aof_last_rewrite_ok{{{TARGET}}}", "0x30")],
        "quiet": [(f"redis_queue_aof_last_rewrite_ok{{{TARGET}}}", "1x30")],
        "at": "11m",
        "before": "9m",
        "labels": {},
        "value": "0",
    },
    "RedisQueueMemoryNearMax": {
        "fire": [
            (f"redis_queue_redis_memory_used_bytes{{{TARGET}}}", "95x30"),
            (f"redis_queue_redis_memory_max_bytes{{{TARGET}}}", "100x30"),
        ],
        "quiet": [  # exactly at the threshold is not above it
            (f"redis_queue_redis_memory_used_bytes{{{TARGET}}}", "90x30"),
            (f"redis_queue_redis_memory_max_bytes{{{TARGET}}}", "100x30"),
        ],
        "at": "6m",
        "before": "4m",
        "labels": {},
        "value": "95%",
    },
    "RedisQueueDeadLettersGrowing": {
        "fire": [  # the counter starts at 0 (the library's first push) and grows at 2.5m
            (
                f'redis_queue_jobs_dead_lettered_total{{{TARGET},queue="enhancement:queue"}}',
                "0x4 1x30",
            )
        ],
        "quiet": [(DEAD_LETTERED.format(f'{TARGET},queue="enhancement:queue"'), "3x30")],
        "at": "5m",
        "before": "2m",
        "labels": {"queue": "enhancement:queue"},
        "value": "",
    },
    "RedisQueueWorkersGone": {
        "fire": [  # two workers until 2.5m, then none while 5 jobs wait
            (f'redis_queue_depth{{{TARGET},queue="enhancement:queue"}}', "5x40"),
            (f'redis_queue_workers{{{TARGET},queue="enhancement:queue"}}', "2x4 0x40"),
        ],
        "quiet": [  # never had a registered worker (plain BRPOP consumers): no alert
            (f'redis_queue_depth{{{TARGET},queue="enhancement:queue"}}', "5x40"),
            (f'redis_queue_workers{{{TARGET},queue="enhancement:queue"}}', "0x40"),
        ],
        "at": "9m",
        "before": "7m",
        "labels": {"queue": "enhancement:queue"},
        "value": "5",
    },
    "RedisQueueKeyError": {
        "fire": [
            (f'redis_queue_key_error{{{TARGET},queue="enhancement:dlq",error="WRONGTYPE"}}', "1x30")
        ],
        "quiet": [(f"redis_queue_up{{{TARGET}}}", "1x30")],
        "at": "6m",
        "before": "4m",
        "labels": {"queue": "enhancement:dlq", "error": "WRONGTYPE"},
        "value": "1",
    },
    "RedisQueueExporterAbsent": {
        # Another RedisQueue's exporter in the same namespace does not count.
        "fire": [(f'redis_queue_up{{namespace="{NAMESPACE}",service="other-exporter"}}', "1x30")],
        "quiet": [(f"redis_queue_up{{{TARGET}}}", "1x30")],
        "at": "6m",
        "before": "4m",
        "labels": {},
        "value": "1",
    },
}


@pytest.fixture(scope="module")
def groups() -> list[dict[str, Any]]:
    manifests = Helm.named("helm4").template(
        values={**VALUES, "monitoring": {"prometheusRule": {"enabled": True}}}
    )
    return rule_groups(manifests)


def _alerts(groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}


def test_every_alert_has_a_case(groups: list[dict[str, Any]]) -> None:
    assert set(_alerts(groups)) == set(CASES)


@pytest.mark.parametrize("alert", sorted(CASES))
def test_promtool_alert_fires_and_stays_quiet(
    alert: str, groups: list[dict[str, Any]], tmp_path: Path
) -> None:
    case = CASES[alert]
    rule = _alerts(groups)[alert]
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump({"groups": groups}))
    labels = {
        "alertname": alert,
        "namespace": NAMESPACE,
        "service": SERVICE,
        **case["labels"],
        **rule["labels"],
    }
    exp_labels = {k: v for k, v in labels.items() if k != "alertname"}
    annotations = {k: _expand(v, labels, case["value"]) for k, v in rule["annotations"].items()}

    def series(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
        return [{"series": s, "values": v} for s, v in pairs]

    tests = {
        "rule_files": [str(rules_file)],
        "evaluation_interval": "30s",
        "tests": [
            {
                "interval": "30s",
                "input_series": series(case["fire"]),
                "alert_rule_test": [
                    {"eval_time": case["before"], "alertname": alert, "exp_alerts": []},
                    {
                        "eval_time": case["at"],
                        "alertname": alert,
                        "exp_alerts": [{"exp_labels": exp_labels, "exp_annotations": annotations}],
                    },
                ],
            },
            {
                "interval": "30s",
                "input_series": series(case["quiet"]),
                "alert_rule_test": [
                    {"eval_time": case["at"], "alertname": alert, "exp_alerts": []}
                ],
            },
        ],
    }
    test_file = tmp_path / "test.yaml"
    test_file.write_text(yaml.safe_dump(tests))
    result = subprocess.run(
        ["promtool", "test", "rules", str(test_file)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
    # Promtool itself would notice a wrong expectation (not a test that cannot fail):
    wrong = yaml.safe_load(test_file.read_text())
    wrong["tests"][1]["alert_rule_test"][0]["exp_alerts"] = [{"exp_labels": exp_labels}]
    test_file.write_text(yaml.safe_dump(wrong))
    failing = subprocess.run(
        ["promtool", "test", "rules", str(test_file)], capture_output=True, text=True, timeout=60
    )
    assert failing.returncode != 0


async def work_the_queue_through_the_library(redis_server: RedisServer) -> None:
    """A producer and a reliable worker of the library: the series of its bookkeeping."""
    client = create_client(settings_for(redis_server))
    queue = JobQueue(client, "enhancement:queue")
    await queue.push(Job(tenant_id="t", ticket_id="T-1", description="d"))
    assert await queue.consumer("w").claim(block_seconds=0.1) is not None
    await client.aclose()


def _metric_names(exposition: str) -> set[str]:
    return {
        line.split("{")[0].split(" ")[0]
        for line in exposition.splitlines()
        if line and not line.startswith("#")
    }


def test_rules_and_queries_use_the_exporters_real_metric_names(
    groups: list[dict[str, Any]],
    redis_server: RedisServer,
    start_exporter: Callable[..., ExporterProcess],
) -> None:
    asyncio.run(work_the_queue_through_the_library(redis_server))
    client = redis.Redis.from_url(redis_server.url)
    client.lpush("enhancement:queue", '{"job_id":"a","timestamp":"2025-01-01T00:00:00Z"}')
    client.set("enhancement:dlq", "not a list")  # makes the exporter publish redis_queue_key_error
    client.config_set("maxmemory", "100mb")  # and redis_queue_redis_memory_max_bytes
    client.close()
    exporter = start_exporter(redis_server.url)
    status, body = exporter.get("/metrics")
    assert status == 200
    published = _metric_names(body)
    redis_server.kill()
    status, down = exporter.get("/metrics")
    assert status == 200
    published |= _metric_names(down)

    keda = Helm.named("helm4").template(
        values={"autoscaling": {**VALUES["autoscaling"], "engine": "keda"}}
    )
    texts = [r["expr"] for g in groups for r in g["rules"]]
    texts += [t["metadata"]["query"] for t in find(keda, "ScaledObject")["spec"]["triggers"][:1]]
    used = {
        name
        for text in texts
        for name in re.findall(r"(?<![\w:])(redis_queue_[a-z_]+)(?![\w:])", text)
    }
    assert used >= {
        "redis_queue_depth",
        "redis_queue_up",
        "redis_queue_oldest_job_age_seconds",
        "redis_queue_aof_last_write_ok",
        "redis_queue_aof_enabled",
        "redis_queue_key_error",
        "redis_queue_aof_last_rewrite_ok",
        "redis_queue_redis_memory_used_bytes",
        "redis_queue_redis_memory_max_bytes",
        "redis_queue_jobs_dead_lettered_total",
        "redis_queue_workers",
    }
    assert used <= published, f"not published by the exporter: {used - published}"
    # Labels the rules rely on exist on the real series.
    assert 'redis_queue_depth{queue="enhancement:queue"}' in body
    assert re.search(r'redis_queue_key_error\{queue="enhancement:dlq",error="[^"]+"\}', body) or (
        re.search(r'redis_queue_key_error\{error="[^"]+",queue="enhancement:dlq"\}', body)
    )


def _sample(exposition: str, name: str) -> str:
    (value,) = [line.split()[-1] for line in exposition.splitlines() if line.startswith(name + " ")]
    return value


def test_aof_disabled_fires_on_what_the_real_exporter_reports(
    groups: list[dict[str, Any]],
    redis_server: RedisServer,
    start_exporter: Callable[..., ExporterProcess],
    tmp_path: Path,
) -> None:
    """`CONFIG SET appendonly no` on a real Redis: the exporter's redis_queue_aof_enabled goes
    from 1 to 0, and fed to promtool those values keep RedisQueueAOFDisabled quiet / fire it."""
    exporter = start_exporter(redis_server.url)
    _, before = exporter.get("/metrics")
    client = redis.Redis.from_url(redis_server.url)
    client.config_set("appendonly", "no")
    client.close()
    _, after = exporter.get("/metrics")
    values = {
        "on": float(_sample(before, "redis_queue_aof_enabled")),
        "off": float(_sample(after, "redis_queue_aof_enabled")),
    }
    assert values == {"on": 1.0, "off": 0.0}
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump({"groups": groups}))

    def case(value: float, expected: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "interval": "30s",
            "input_series": [
                {"series": f"redis_queue_aof_enabled{{{TARGET}}}", "values": f"{value:g}x30"}
            ],
            "alert_rule_test": [
                {"eval_time": "6m", "alertname": "RedisQueueAOFDisabled", "exp_alerts": expected}
            ],
        }

    labels = {"namespace": NAMESPACE, "service": SERVICE, "redisqueue": QUEUE_NAME}
    rule = _alerts(groups)["RedisQueueAOFDisabled"]
    fired = {
        "exp_labels": {**labels, "severity": "critical"},
        "exp_annotations": {k: _expand(v, labels, "0") for k, v in rule["annotations"].items()},
    }
    test_file = tmp_path / "test.yaml"
    test_file.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(rules_file)],
                "evaluation_interval": "30s",
                "tests": [case(values["on"], []), case(values["off"], [fired])],
            }
        )
    )
    result = subprocess.run(
        ["promtool", "test", "rules", str(test_file)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_memory_near_max_fires_on_what_the_real_exporter_reports(
    groups: list[dict[str, Any]],
    redis_server: RedisServer,
    start_exporter: Callable[..., ExporterProcess],
    tmp_path: Path,
) -> None:
    """A real Redis whose maxmemory is what it already uses: fed to promtool, the exporter's
    values fire RedisQueueMemoryNearMax; with maxmemory 0 (no limit, no max series) and the
    same memory in use, the alert stays quiet."""
    exporter = start_exporter(redis_server.url)
    client = redis.Redis.from_url(redis_server.url)
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", str(used))
    _, full = exporter.get("/metrics")
    client.config_set("maxmemory", "0")
    _, unlimited = exporter.get("/metrics")
    client.close()
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump({"groups": groups}))

    def series(body: str) -> list[dict[str, str]]:
        return [
            {"series": f"{name}{{{TARGET}}}", "values": f"{_sample(body, name)}x30"}
            for name in (
                "redis_queue_redis_memory_used_bytes",
                "redis_queue_redis_memory_max_bytes",
            )
            if re.search(rf"^{name} ", body, flags=re.MULTILINE)
        ]

    full_series, unlimited_series = series(full), series(unlimited)
    assert len(full_series) == 2
    assert [s["series"].split("{")[0] for s in unlimited_series] == [
        "redis_queue_redis_memory_used_bytes"
    ]
    ratio = float(_sample(full, "redis_queue_redis_memory_used_bytes")) / used
    assert ratio > 0.9
    labels = {"namespace": NAMESPACE, "service": SERVICE, "redisqueue": QUEUE_NAME}
    rule = _alerts(groups)["RedisQueueMemoryNearMax"]
    fired = {
        "exp_labels": {**labels, "severity": "warning"},
        "exp_annotations": {
            k: _expand(v, labels, f"{ratio * 100:.4g}%") for k, v in rule["annotations"].items()
        },
    }

    def case(input_series: list[dict[str, str]], expected: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "interval": "30s",
            "input_series": input_series,
            "alert_rule_test": [
                {"eval_time": "6m", "alertname": "RedisQueueMemoryNearMax", "exp_alerts": expected}
            ],
        }

    test_file = tmp_path / "test.yaml"
    test_file.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(rules_file)],
                "evaluation_interval": "30s",
                "tests": [case(full_series, [fired]), case(unlimited_series, [])],
            }
        )
    )
    result = subprocess.run(
        ["promtool", "test", "rules", str(test_file)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
