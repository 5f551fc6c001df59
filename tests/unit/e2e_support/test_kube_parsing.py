"""Parsing kubectl, CRD, Secret and Prometheus output, on samples written from their docs."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.support import kube

# `kubectl get pods` as documented: RESTARTS may carry "(2m ago)", cells are left-aligned.
PODS = """\
NAME                            READY   STATUS             RESTARTS      AGE
redis-queue-redis-0             1/1     Running            0             5m
redis-queue-exporter-7d9c-x2k   1/1     Running            3 (2m ago)    5m
queue-worker-5f6b8-abcde        0/1     CrashLoopBackOff   7 (10s ago)   12m
"""

# `kubectl get rqueue` with printer columns, one missing value printed as <none>.
RQUEUES = """\
NAME          READY   DEPTH    ENDPOINT                                   AOF      AGE
redis-queue   True    12       redis-queue-redis.ns.svc:6379              true     3d4h
other         False   <none>   other-redis.ns.svc:6379                    <none>   10s
"""

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "redisqueues.queues.ai-agents.io"},
    "spec": {
        "group": "queues.ai-agents.io",
        "versions": [
            {"name": "v1alpha0", "served": False, "storage": False},
            {
                "name": "v1alpha1",
                "served": True,
                "storage": True,
                "additionalPrinterColumns": [
                    {
                        "name": "Ready",
                        "type": "string",
                        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
                    },
                    {"name": "Depth", "type": "integer", "jsonPath": ".status.depth"},
                    {"name": "Endpoint", "type": "string", "jsonPath": ".status.endpoint"},
                    {"name": "AOF", "type": "boolean", "jsonPath": ".status.aof.enabled"},
                    {
                        "name": "Fsync",
                        "type": "string",
                        "jsonPath": ".spec.persistence.appendfsync",
                        "priority": 1,
                    },
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
            },
        ],
    },
}

RQUEUE = {
    "metadata": {"name": "redis-queue", "generation": 3},
    "spec": {"persistence": {"appendfsync": "everysec"}},
    "status": {
        "observedGeneration": 3,
        "endpoint": "redis-queue-redis.ns.svc:6379",
        "depth": 12,
        "queues": [{"name": "enhancement:queue", "depth": 12}],
        "aof": {"enabled": True},
        "conditions": [
            {"type": "PersistenceHealthy", "status": "True"},
            {"type": "Ready", "status": "True", "reason": "RedisReady"},
        ],
    },
}


def test_parse_table_keeps_cells_with_spaces_whole() -> None:
    rows = kube.parse_table(PODS)
    assert [row["NAME"] for row in rows] == [
        "redis-queue-redis-0",
        "redis-queue-exporter-7d9c-x2k",
        "queue-worker-5f6b8-abcde",
    ]
    assert rows[1]["RESTARTS"] == "3 (2m ago)"
    assert rows[2] == {
        "NAME": "queue-worker-5f6b8-abcde",
        "READY": "0/1",
        "STATUS": "CrashLoopBackOff",
        "RESTARTS": "7 (10s ago)",
        "AGE": "12m",
    }


def test_parse_table_of_custom_resource_columns() -> None:
    rows = kube.parse_table(RQUEUES)
    assert list(rows[0]) == ["NAME", "READY", "DEPTH", "ENDPOINT", "AOF", "AGE"]
    assert rows[0]["DEPTH"] == "12"
    assert rows[1]["DEPTH"] == "<none>"
    assert rows[1]["AOF"] == "<none>"


def test_parse_table_of_nothing() -> None:
    assert kube.parse_table("") == []
    assert kube.parse_table("No resources found in ns namespace.\n") == []


def test_printer_columns_of_the_storage_version() -> None:
    columns = kube.printer_columns(CRD)
    assert [c.header for c in columns] == ["READY", "DEPTH", "ENDPOINT", "AOF", "FSYNC", "AGE"]
    assert columns[4].priority == 1
    assert kube.printer_columns(CRD, "v1alpha0") == []
    with pytest.raises(ValueError, match="v9"):
        kube.printer_columns(CRD, "v9")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (".status.depth", 12),
        ("{.status.endpoint}", "redis-queue-redis.ns.svc:6379"),
        ('.status.conditions[?(@.type=="Ready")].status', "True"),
        (".status.conditions[?(@.type=='Ready')].reason", "RedisReady"),
        (".status.conditions[0].type", "PersistenceHealthy"),
        (".status.conditions[-1].type", "Ready"),
        (".status.queues[0].name", "enhancement:queue"),
        (".status.aof.enabled", True),
        ('.status.conditions[?(@.type=="Degraded")].status', None),
        (".status.missing.deeper", None),
        (".status.queues[5].name", None),
    ],
)
def test_jsonpath(path: str, expected: object) -> None:
    assert kube.jsonpath(RQUEUE, path) == expected


def test_jsonpath_rejects_what_it_cannot_evaluate() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        kube.jsonpath(RQUEUE, ".status.queues[*].name")


def test_printer_cells_match_the_object_as_kubectl_prints_them() -> None:
    row = kube.parse_table(RQUEUES)[0]
    for column in kube.printer_columns(CRD):
        if column.priority == 0 and column.type != "date":
            assert row[column.header] == kube.cell_text(kube.jsonpath(RQUEUE, column.json_path))


def test_cell_text() -> None:
    assert kube.cell_text(None) == "<none>"
    assert kube.cell_text(True) == "true"
    assert kube.cell_text(0) == "0"
    assert kube.cell_text({"a": 1}) == '{"a":1}'


def test_conditions() -> None:
    assert kube.condition(RQUEUE, "Ready") == {
        "type": "Ready",
        "status": "True",
        "reason": "RedisReady",
    }
    assert kube.condition(RQUEUE, "Degraded") is None
    assert kube.condition_true(RQUEUE, "Ready")
    assert not kube.condition_true(RQUEUE, "Degraded")
    assert not kube.condition_true(None, "Ready")
    assert not kube.condition_true({"status": {}}, "Ready")


def test_secret_value_decodes_base64() -> None:
    secret = {"data": {"password": base64.b64encode(b"s3cr:t/pass").decode()}}
    assert kube.secret_value(secret, "password") == "s3cr:t/pass"
    with pytest.raises(KeyError, match="token"):
        kube.secret_value(secret, "token")


def test_reapplyable_drops_server_fields_and_operator_state_and_keeps_helm_ownership() -> None:
    live: dict[str, Any] = {
        "apiVersion": "queues.ai-agents.io/v1alpha1",
        "kind": "RedisQueue",
        "metadata": {
            "name": "redis-queue",
            "namespace": "ns",
            "uid": "0b7e",
            "resourceVersion": "42",
            "generation": 3,
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "managedFields": [{}],
            "finalizers": ["kopf.zalando.org/KopfFinalizerMarker"],
            "labels": {"app.kubernetes.io/managed-by": "Helm"},
            "annotations": {
                "meta.helm.sh/release-name": "redis-queue",
                "meta.helm.sh/release-namespace": "ns",
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                # Kopf's state (the operator's prefix is the API group): kept, the re-created
                # object would look already handled and its create handler would not run.
                "queues.ai-agents.io/last-handled-configuration": '{"spec": {}}',
                "queues.ai-agents.io/create_fn": '{"started": "2024-01-01T00:00:00"}',
                "kopf.zalando.org/last-handled-configuration": '{"spec": {}}',
                # Only the prefix with its slash is the operator's.
                "queues.ai-agents.io.example/keep": "yes",
            },
        },
        "spec": {"queues": ["enhancement:queue"]},
        "status": {"depth": 1},
    }
    again = kube.reapplyable(live)
    assert again == {
        "apiVersion": "queues.ai-agents.io/v1alpha1",
        "kind": "RedisQueue",
        "metadata": {
            "name": "redis-queue",
            "namespace": "ns",
            "labels": {"app.kubernetes.io/managed-by": "Helm"},
            "annotations": {
                "meta.helm.sh/release-name": "redis-queue",
                "meta.helm.sh/release-namespace": "ns",
                "queues.ai-agents.io.example/keep": "yes",
            },
        },
        "spec": {"queues": ["enhancement:queue"]},
    }
    assert live["metadata"]["uid"] == "0b7e", "the live object must not be modified"
    assert "queues.ai-agents.io/last-handled-configuration" in live["metadata"]["annotations"]


EXPOSITION = """\
# HELP redis_queue_up 1 if Redis answered this scrape's PING and read within the deadline, else 0
# TYPE redis_queue_up gauge
redis_queue_up 1.0
# HELP redis_queue_depth Jobs waiting in the queue (LLEN)
# TYPE redis_queue_depth gauge
redis_queue_depth{queue="enhancement:queue"} 7.0
redis_queue_depth{queue="enhancement:dlq"} 0.0
"""


def test_metric_value_from_exposition_text() -> None:
    assert kube.metric_value(EXPOSITION, "redis_queue_up") == 1.0
    assert kube.metric_value(EXPOSITION, "redis_queue_depth", queue="enhancement:queue") == 7.0
    assert kube.metric_value(EXPOSITION, "redis_queue_depth", queue="enhancement:dlq") == 0.0
    assert kube.metric_value(EXPOSITION, "redis_queue_depth", queue="other") is None
    assert kube.metric_value(EXPOSITION, "redis_queue_oldest_job_age_seconds") is None


def test_prometheus_vector() -> None:
    # The instant-query answer documented for /api/v1/query.
    payload = {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {
                    "metric": {"__name__": "redis_queue_depth", "queue": "enhancement:queue"},
                    "value": [1435781451.781, "7"],
                }
            ],
        },
    }
    assert kube.prometheus_vector(payload) == [
        ({"__name__": "redis_queue_depth", "queue": "enhancement:queue"}, 7.0)
    ]
    empty = {"status": "success", "data": {"resultType": "vector", "result": []}}
    assert kube.prometheus_vector(empty) == []
    with pytest.raises(ValueError, match="parse error"):
        kube.prometheus_vector({"status": "error", "errorType": "bad_data", "error": "parse error"})
    with pytest.raises(ValueError, match="matrix"):
        kube.prometheus_vector({"status": "success", "data": {"resultType": "matrix"}})


def test_make_jobs_follow_the_story_format_in_push_order() -> None:
    jobs = [json.loads(job) for job in kube.make_jobs(3, prefix="t")]
    assert [job["job_id"] for job in jobs] == ["t-00000", "t-00001", "t-00002"]
    for job in jobs:
        assert set(job) == {
            "job_id",
            "tenant_id",
            "ticket_id",
            "description",
            "priority",
            "timestamp",
        }
        assert job["timestamp"].endswith("Z")


def test_http_get_only_talks_to_loopback() -> None:
    with pytest.raises(ValueError, match=r"only talk to http://127\.0\.0\.1"):
        kube.http_get("http://10.0.0.1:9090/metrics")
    with pytest.raises(ValueError, match=r"only talk to http://127\.0\.0\.1"):
        kube.http_get("https://127.0.0.1:9090/metrics")
