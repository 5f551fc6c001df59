"""The operator process end to end against a Kubernetes API over HTTP (KMock).

Each test starts the real Kopf operator with this package's handlers, creates or edits a
RedisQueue through the API as a user would, and checks what the operator wrote back.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from queue_operator.naming import API_VERSION, CONFIG_CHECKSUM
from tests.integration.operator.conftest import (
    Cluster,
    RunOperator,
    condition,
    eventually,
    fast_config,
)
from tests.support.processes import RedisServer

CHILDREN = [
    ("v1", "configmaps", "jobs-redis-config"),
    ("v1", "secrets", "jobs-redis-auth"),
    ("apps/v1", "statefulsets", "jobs-redis"),
    ("v1", "services", "jobs-redis"),
    ("v1", "services", "jobs-redis-headless"),
    ("apps/v1", "deployments", "jobs-exporter"),
    ("v1", "services", "jobs-exporter"),
    ("policy/v1", "poddisruptionbudgets", "jobs-redis"),
]


def sts_checksum(cluster: Cluster) -> str | None:
    sts = cluster.get("apps/v1", "statefulsets", "jobs-redis")
    if sts is None:
        return None
    value: str = sts["spec"]["template"]["metadata"]["annotations"][CONFIG_CHECKSUM]
    return value


async def degraded_true(cluster: Cluster, what: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Wait until queue "jobs" reports Degraded=True; its body and that condition."""
    body = await eventually(
        lambda: (
            (c := condition(cluster.queue("jobs"), "Degraded"))
            and c["status"] == "True"
            and cluster.queue("jobs")
        ),
        what=what,
    )
    degraded = condition(body, "Degraded")
    assert degraded is not None
    return body, degraded


async def event_with_reason(cluster: Cluster, reason: str) -> None:
    await eventually(
        lambda: any(e.get("reason") == reason for e in cluster.events()),
        what="a Warning Event",
    )


@pytest.mark.parametrize("scope", [("-A",), ("-n", "queues")], ids=["cluster-wide", "namespaced"])
async def test_create_builds_every_child_owned_by_the_queue(
    cluster: Cluster, run_operator: RunOperator, scope: tuple[str, ...]
) -> None:
    await run_operator(fast_config(), scope)
    created = await cluster.create_queue("jobs", {"persistence": {"size": "2Gi"}})
    uid = created["metadata"]["uid"]

    await eventually(lambda: all(cluster.get(v, p, n) for v, p, n in CHILDREN), what="all children")
    for api_version, plural, name in CHILDREN:
        child = cluster.get(api_version, plural, name)
        assert child is not None
        owners = child["metadata"]["ownerReferences"]
        assert owners == [
            {
                "apiVersion": API_VERSION,
                "kind": "RedisQueue",
                "name": "jobs",
                "uid": uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ], name
        assert child["metadata"]["labels"]["app.kubernetes.io/instance"] == "jobs"

    config = cluster.get("v1", "configmaps", "jobs-redis-config")
    assert config is not None
    assert "appendfsync everysec\n" in config["data"]["redis.conf"]
    secret = cluster.get("v1", "secrets", "jobs-redis-auth")
    assert secret is not None
    assert secret["data"]["password"]
    sts = cluster.get("apps/v1", "statefulsets", "jobs-redis")
    assert sts is not None
    claim = sts["spec"]["volumeClaimTemplates"][0]["spec"]
    assert claim["resources"]["requests"]["storage"] == "2Gi"
    digest = hashlib.sha256(json.dumps(dict(config["data"]), sort_keys=True).encode()).hexdigest()
    assert sts_checksum(cluster) == digest

    body = await eventually(
        lambda: (
            (q := cluster.queue("jobs")).get("status", {}).get("observedGeneration") == 1
            and condition(q, "Degraded")
            and q
        ),
        what="status after create",
    )
    assert body["status"]["endpoint"] == "jobs-redis.queues.svc:6379"
    degraded = condition(body, "Degraded")
    progressing = condition(body, "Progressing")
    assert degraded is not None
    assert degraded["status"] == "False"
    assert progressing is not None
    assert progressing["status"] == "False"


async def test_changing_appendfsync_patches_config_and_rolls_the_pod(
    cluster: Cluster, run_operator: RunOperator
) -> None:
    await run_operator(fast_config())
    await cluster.create_queue("jobs", {})
    before = await eventually(lambda: sts_checksum(cluster), what="StatefulSet")
    secret_before = cluster.get("v1", "secrets", "jobs-redis-auth")

    await cluster.patch_queue_spec("jobs", {"persistence": {"appendfsync": "always"}})

    def patched() -> bool:
        config = cluster.get("v1", "configmaps", "jobs-redis-config")
        return config is not None and "appendfsync always\n" in config["data"]["redis.conf"]

    await eventually(patched, what="ConfigMap with appendfsync always")
    after = await eventually(
        lambda: (c := sts_checksum(cluster)) != before and c, what="new checksum"
    )
    assert after != before
    # The password is never regenerated by a spec change.
    assert cluster.get("v1", "secrets", "jobs-redis-auth") == secret_before
    await eventually(
        lambda: cluster.queue("jobs").get("status", {}).get("observedGeneration") == 2,
        what="observedGeneration 2",
    )


async def test_drift_timer_recreates_a_deleted_statefulset(
    cluster: Cluster, run_operator: RunOperator
) -> None:
    await run_operator(fast_config())
    await cluster.create_queue("jobs", {})
    await eventually(lambda: cluster.get("apps/v1", "statefulsets", "jobs-redis"), what="sts")

    await cluster.request("DELETE", "/apis/apps/v1/namespaces/queues/statefulsets/jobs-redis")
    assert cluster.get("apps/v1", "statefulsets", "jobs-redis") is None

    await eventually(
        lambda: cluster.get("apps/v1", "statefulsets", "jobs-redis"),
        what="StatefulSet recreated by the drift timer",
    )


async def test_invalid_spec_is_degraded_and_creates_nothing(
    cluster: Cluster, run_operator: RunOperator
) -> None:
    await run_operator(fast_config())
    await cluster.create_queue("jobs", {"persistence": {"appendfsync": "sometimes"}})

    body, degraded = await degraded_true(cluster, what="Degraded condition")
    assert degraded["reason"] == "InvalidSpec"
    assert "appendfsync" in degraded["message"]
    assert body["status"]["observedGeneration"] == 1
    await event_with_reason(cluster, "InvalidSpec")
    # Let the drift timer run a few times: it must not create anything either.
    await asyncio.sleep(2.5)
    assert all(cluster.get(v, p, n) is None for v, p, n in CHILDREN)


async def test_storage_shrink_is_refused_and_touches_nothing(
    cluster: Cluster, run_operator: RunOperator
) -> None:
    await run_operator(fast_config())
    await cluster.create_queue("jobs", {"persistence": {"size": "2Gi"}})
    await eventually(lambda: sts_checksum(cluster), what="StatefulSet")
    sts_before = cluster.get("apps/v1", "statefulsets", "jobs-redis")
    config_before = cluster.get("v1", "configmaps", "jobs-redis-config")

    await cluster.patch_queue_spec(
        "jobs", {"persistence": {"size": "1Gi", "appendfsync": "always"}}
    )

    _, degraded = await degraded_true(cluster, what="refusal condition")
    assert degraded["reason"] == "StorageShrinkRefused"
    await event_with_reason(cluster, "StorageShrinkRefused")
    await asyncio.sleep(2.5)
    assert cluster.get("apps/v1", "statefulsets", "jobs-redis") == sts_before
    assert cluster.get("v1", "configmaps", "jobs-redis-config") == config_before


async def test_status_timer_reports_real_depths_and_redis_down(
    cluster: Cluster, run_operator: RunOperator, tmp_path: Path
) -> None:
    redis = RedisServer(data_dir=tmp_path / "redis", password="s3cret pass").start()
    try:
        for job in ("a", "b", "c"):
            redis.cli("LPUSH", "enhancement:queue", job)
        password = base64.b64encode(b"s3cret pass").decode()
        await cluster.request(
            "POST",
            "/api/v1/namespaces/queues/secrets",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "queue-password", "namespace": "queues"},
                "data": {"token": password},
            },
        )
        await run_operator(fast_config(redis_port=redis.port))
        await cluster.create_queue(
            "jobs", {"auth": {"existingSecret": "queue-password", "secretKey": "token"}}
        )

        def ready() -> dict[str, object] | None:
            body = cluster.queue("jobs")
            found = condition(body, "Ready")
            return body if found and found["status"] == "True" else None

        body = await eventually(ready, what="Ready=True from the status timer")
        status = body["status"]
        assert status["depth"] == 3
        assert status["queues"] == [
            {"name": "enhancement:queue", "depth": 3},
            {"name": "enhancement:dlq", "depth": 0},
        ]
        assert status["aof"] == {"enabled": True, "lastWriteOk": True, "rewriteInProgress": False}
        persistence = condition(body, "PersistenceHealthy")
        assert persistence is not None
        assert persistence["status"] == "True"
        # The user's Secret was used, not a generated one.
        assert cluster.get("v1", "secrets", "jobs-redis-auth") is None

        redis.kill()

        def down() -> dict[str, object] | None:
            body = cluster.queue("jobs")
            found = condition(body, "Ready")
            return found if found and found["reason"] == "RedisUnreachable" else None

        ready_condition = await eventually(down, what="Ready=False after Redis died")
        assert ready_condition["status"] == "False"
        status = cluster.queue("jobs")["status"]
        assert "depth" not in status
        assert "queues" not in status
    finally:
        redis.kill()
