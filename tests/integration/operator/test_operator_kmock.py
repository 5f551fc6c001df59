"""The operator process end to end against a Kubernetes API over HTTP (KMock).

Each test starts the real Kopf operator with this package's handlers, creates or edits a
RedisQueue through the API as a user would, and checks what the operator wrote back. Every
request the operator makes is checked against the ClusterRole it ships with.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from queue_operator.naming import API_VERSION, CONFIG_CHECKSUM, MANAGER, PLURAL
from tests.integration.operator.conftest import (
    Cluster,
    RunOperator,
    condition,
    eventually,
    fast_config,
    stop_operator,
)
from tests.support.processes import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[3]
CLUSTER_ROLE = ROOT / "manifests" / "rbac" / "cluster-role.yaml"
KOPF_FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"
# HTTP method (and KMock's action for GET) -> RBAC verb.
VERBS = {
    ("GET", "FETCH"): "get",
    ("GET", "LIST"): "list",
    ("GET", "WATCH"): "watch",
    ("POST", "CREATE"): "create",
    ("PATCH", "UPDATE"): "patch",
    ("PUT", "UPDATE"): "update",
    ("DELETE", "DELETE"): "delete",
}

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


async def reported(
    cluster: Cluster, kind: str, reason: str, generation: int = 1
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Wait until queue "jobs" reports condition ``kind`` with ``reason`` for ``generation``;
    its body and that condition."""
    body = await eventually(
        lambda: (
            (c := condition(q := cluster.queue("jobs"), kind))
            and c["reason"] == reason
            and c.get("observedGeneration") == generation
            and q
        ),
        what=f"{kind} {reason} for generation {generation}",
    )
    found = condition(body, kind)
    assert found is not None
    return body, found


def conditions_of(body: dict[str, Any]) -> dict[str, tuple[str, str, int]]:
    """type -> (status, reason, observedGeneration) of every condition."""
    return {
        c["type"]: (c["status"], c["reason"], c.get("observedGeneration"))
        for c in body["status"]["conditions"]
    }


async def finish_rollout(cluster: Cluster) -> None:
    """Play the StatefulSet controller (KMock runs none): report the current generation of
    jobs-redis rolled out, one replica updated and ready."""
    sts = await eventually(
        lambda: cluster.get("apps/v1", "statefulsets", "jobs-redis"), what="StatefulSet"
    )
    generation = sts["metadata"]["generation"]
    status = {
        "observedGeneration": generation,
        "replicas": 1,
        "updatedReplicas": 1,
        "readyReplicas": 1,
        "currentRevision": f"jobs-redis-{generation}",
        "updateRevision": f"jobs-redis-{generation}",
    }
    await cluster.request(
        "PATCH",
        "/apis/apps/v1/namespaces/queues/statefulsets/jobs-redis",
        {"status": status},
        **{"Content-Type": "application/merge-patch+json"},
    )


async def with_password_secret(cluster: Cluster, password: str) -> dict[str, Any]:
    """A user's password Secret "queue-password" (key "token"); the auth spec naming it."""
    await cluster.request(
        "POST",
        "/api/v1/namespaces/queues/secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "queue-password", "namespace": "queues"},
            "data": {"token": base64.b64encode(password.encode()).decode()},
        },
    )
    return {"existingSecret": "queue-password", "secretKey": "token"}


async def event_with_reason(cluster: Cluster, reason: str) -> dict[str, Any]:
    found: dict[str, Any] = await eventually(
        lambda: next((e for e in cluster.events() if e.get("reason") == reason), None),
        what="a Warning Event",
    )
    return found


def granted() -> dict[tuple[str, str], set[str]]:
    """(apiGroup, resource[/subresource]) -> verbs, from the shipped ClusterRole."""
    grants: dict[tuple[str, str], set[str]] = {}
    for rule in yaml.safe_load(CLUSTER_ROLE.read_text())["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants.setdefault((group, resource), set()).update(rule["verbs"])
    return grants


def rbac_calls(cluster: Cluster) -> list[tuple[str, str, str]]:
    """(apiGroup, resource[/subresource], verb) of every API call the operator made."""
    calls = []
    for request in cluster.operator_requests():
        agent = request.headers.get("User-Agent", "")
        assert agent == MANAGER or agent.startswith("kopf/"), agent
        if request.resource is None or request.resource.plural is None:
            # API discovery (/api, /apis, /apis/<group>/<version>): no RBAC rule needed.
            assert request.url.path.startswith(("/api", "/version")), request.url
            continue
        resource = request.resource.plural
        if request.subresource:
            resource += f"/{request.subresource}"
        verb = VERBS[(str(request.method.value).upper(), request.action.value)]
        calls.append((request.resource.group or "", resource, verb))
    return calls


def main_resource_status_writes(cluster: Cluster) -> list[Any]:
    """PATCHes of a RedisQueue itself (not /status) that touch its status."""
    found: list[Any] = []
    for request in cluster.operator_requests():
        if request.resource is None or request.resource.plural != PLURAL:
            continue
        if request.subresource is not None or str(request.method.value).upper() != "PATCH":
            continue
        data = request.data
        if isinstance(data, dict) and "status" in data:
            found.append(data)
        if isinstance(data, list) and any(op["path"].startswith("/status") for op in data):
            found.append(data)
    return found


@pytest.fixture(autouse=True)
async def operator_stays_within_its_rbac(cluster: Cluster) -> AsyncIterator[None]:
    """After each test (the operator stopped by then): every call it made is allowed by
    manifests/rbac/cluster-role.yaml, and status went through the status subresource only."""
    yield
    calls = rbac_calls(cluster)
    assert calls, "the operator made no API calls"
    grants = granted()
    denied = sorted({c for c in calls if c[2] not in grants.get((c[0], c[1]), set())})
    assert not denied, f"calls the ClusterRole does not allow: {denied}"
    assert not main_resource_status_writes(cluster)


def reconcile_passes(cluster: Cluster) -> int:
    """Status writes of reconcile passes (they carry observedGeneration; status reads do not)."""
    count = 0
    for request in cluster.operator_requests():
        if request.resource is None or request.resource.plural != PLURAL:
            continue
        if request.subresource == "status" and isinstance(request.data, dict):
            count += "observedGeneration" in request.data.get("status", {})
    return count


async def more_reconcile_passes(cluster: Cluster, passes: int = 2) -> None:
    """Wait until the drift repair has run ``passes`` more times: the positive sign that it
    had its chance to act (instead of sleeping and hoping)."""
    start = reconcile_passes(cluster)
    await eventually(
        lambda: reconcile_passes(cluster) >= start + passes, what=f"{passes} reconcile passes"
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

    body, _ = await reported(cluster, "Stalled", "Reconciled")
    assert body["status"]["observedGeneration"] == 1
    assert body["status"]["endpoint"] == "jobs-redis.queues.svc:6379"
    # No StatefulSet controller here: the new StatefulSet never reports its rollout done.
    assert {k: v for k, v in conditions_of(body).items() if k != "PersistenceHealthy"} == {
        "Stalled": ("False", "Reconciled", 1),
        "Reconciling": ("True", "RollingOut", 1),
        "Ready": ("False", "RollingOut", 1),
    }


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


async def test_drift_repair_restores_a_config_edited_by_hand(
    cluster: Cluster, run_operator: RunOperator
) -> None:
    await run_operator(fast_config())
    await cluster.create_queue("jobs", {})
    config = await eventually(
        lambda: cluster.get("v1", "configmaps", "jobs-redis-config"), what="ConfigMap"
    )
    original = config["data"]["redis.conf"]

    await cluster.request(
        "PATCH",
        "/api/v1/namespaces/queues/configmaps/jobs-redis-config",
        {"data": {"redis.conf": "appendonly no\n"}},
        **{"Content-Type": "application/merge-patch+json"},
    )
    edited = cluster.get("v1", "configmaps", "jobs-redis-config")
    assert edited is not None
    assert edited["data"]["redis.conf"] == "appendonly no\n"

    def restored() -> bool:
        live = cluster.get("v1", "configmaps", "jobs-redis-config")
        return live is not None and live["data"]["redis.conf"] == original

    await eventually(restored, what="redis.conf restored by the drift repair")


async def test_no_finalizer_so_deletion_never_waits_for_the_operator(
    cluster: Cluster, run_operator: RunOperator
) -> None:
    """helm uninstall deletes the operator with the RedisQueues: nothing may wait for it."""
    runner = await run_operator(fast_config())
    await cluster.create_queue("jobs", {})
    await eventually(
        lambda: (
            (q := cluster.queue("jobs")).get("status", {}).get("observedGeneration") == 1
            and condition(q, "Ready")  # the periodic status read has run too
        ),
        what="the operator done with the RedisQueue",
    )
    await more_reconcile_passes(cluster, passes=1)
    assert cluster.queue("jobs")["metadata"].get("finalizers", []) == []

    await stop_operator(runner)
    await cluster.request(
        "DELETE", "/apis/queues.ai-agents.io/v1alpha1/namespaces/queues/redisqueues/jobs"
    )
    assert cluster.get(API_VERSION, PLURAL, "jobs") is None


async def test_kopf_finalizer_of_an_older_version_is_removed(
    cluster: Cluster, run_operator: RunOperator
) -> None:
    """RedisQueues created under the timer-based operator carry Kopf's finalizer; the upgraded
    operator takes it off, so they too can be deleted without it."""
    body = {
        "apiVersion": API_VERSION,
        "kind": "RedisQueue",
        "metadata": {"name": "jobs", "namespace": "queues", "finalizers": [KOPF_FINALIZER]},
        "spec": {},
    }
    await cluster.request(
        "POST", "/apis/queues.ai-agents.io/v1alpha1/namespaces/queues/redisqueues", body
    )
    await run_operator(fast_config())
    await eventually(
        lambda: cluster.queue("jobs")["metadata"].get("finalizers", []) == [],
        what="Kopf's finalizer removed",
    )


async def test_a_child_the_api_server_rejects_is_reported_and_retried(
    cluster: Cluster, run_operator: RunOperator
) -> None:
    message = (
        'StatefulSet.apps "jobs-redis" is invalid: spec.template.spec.containers[0].resources'
        '.requests: Invalid value: "2Gi": must be less than or equal to memory limit of 1Gi'
    )
    cluster.api.reject("apps/v1/statefulsets", message)
    await run_operator(fast_config())
    await cluster.create_queue("jobs", {})

    body, reconciling = await reported(cluster, "Reconciling", "ChildRejected")
    assert reconciling["status"] == "True"  # retried by the operator: not Stalled
    assert "StatefulSet/jobs-redis" in reconciling["message"]
    assert "must be less than or equal to memory limit" in reconciling["message"]
    assert "retrying every 1 s" in reconciling["message"]
    assert body["status"]["observedGeneration"] == 1
    assert conditions_of(body) == {
        "Ready": ("False", "ChildRejected", 1),
        "Reconciling": ("True", "ChildRejected", 1),
        "Stalled": ("False", "ChildRejected", 1),
    }
    event = await event_with_reason(cluster, "ChildRejected")
    assert event["type"] == "Warning"
    assert "StatefulSet/jobs-redis" in event["message"]
    assert cluster.get("apps/v1", "statefulsets", "jobs-redis") is None

    # Retried: once the API server accepts it (here: the rejection lifted), it is created.
    cluster.api.accept("apps/v1/statefulsets")
    await eventually(lambda: sts_checksum(cluster), what="StatefulSet created on retry")
    await reported(cluster, "Stalled", "Reconciled")


async def test_invalid_spec_is_stalled_and_creates_nothing(
    cluster: Cluster, run_operator: RunOperator
) -> None:
    await run_operator(fast_config())
    await cluster.create_queue("jobs", {"persistence": {"appendfsync": "sometimes"}})

    body, stalled = await reported(cluster, "Stalled", "InvalidSpec")
    assert stalled["status"] == "True"
    assert "appendfsync" in stalled["message"]
    assert body["status"]["observedGeneration"] == 1
    await event_with_reason(cluster, "InvalidSpec")
    # The drift repair runs again (and writes the same condition): it creates nothing either.
    await more_reconcile_passes(cluster)
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

    body, stalled = await reported(cluster, "Stalled", "StorageShrinkRefused", generation=2)
    # kstatus reads Stalled=True as Failed: `helm upgrade --wait` stops with this message.
    assert stalled["status"] == "True"
    assert "persistence.size 1Gi is smaller than the existing volume (2Gi)" in stalled["message"]
    assert "Set it back to 2Gi or larger" in stalled["message"]
    assert body["status"]["observedGeneration"] == 2
    assert {k: v for k, v in conditions_of(body).items() if k != "PersistenceHealthy"} == {
        "Ready": ("False", "StorageShrinkRefused", 2),
        "Reconciling": ("False", "StorageShrinkRefused", 2),
        "Stalled": ("True", "StorageShrinkRefused", 2),
    }
    await event_with_reason(cluster, "StorageShrinkRefused")
    await more_reconcile_passes(cluster)
    assert cluster.get("apps/v1", "statefulsets", "jobs-redis") == sts_before
    assert cluster.get("v1", "configmaps", "jobs-redis-config") == config_before


async def test_status_timer_reports_real_depths_and_redis_down(
    cluster: Cluster, run_operator: RunOperator, tmp_path: Path
) -> None:
    redis = RedisServer(data_dir=tmp_path / "redis", password="s3cret pass").start()
    try:
        for job in ("a", "b", "c"):
            redis.cli("LPUSH", "enhancement:queue", job)
        auth = await with_password_secret(cluster, "s3cret pass")
        await run_operator(fast_config(redis_port=redis.port))
        await cluster.create_queue("jobs", {"auth": auth})
        await finish_rollout(cluster)

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


async def test_a_secret_key_without_existing_secret_converges(
    cluster: Cluster, run_operator: RunOperator, tmp_path: Path
) -> None:
    """auth.secretKey alone names the key of the generated Secret: the operator writes the
    password there and reads it back from there, so the pass settles instead of waiting for a
    key it never wrote; the status refresh logs in to Redis with that password."""
    port = free_port()
    await run_operator(fast_config(redis_port=port))
    await cluster.create_queue("jobs", {"auth": {"secretKey": "token"}})

    await reported(cluster, "Stalled", "Reconciled")
    await finish_rollout(cluster)
    await reported(cluster, "Reconciling", "Reconciled")
    secret = cluster.get("v1", "secrets", "jobs-redis-auth")
    assert secret is not None
    assert set(secret["data"]) == {"token"}
    for api_version, plural, name in [
        ("apps/v1", "statefulsets", "jobs-redis"),
        ("apps/v1", "deployments", "jobs-exporter"),
    ]:
        child = cluster.get(api_version, plural, name)
        assert child is not None
        (container,) = child["spec"]["template"]["spec"]["containers"]
        refs = [e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e]
        assert refs
        assert all(ref == {"name": "jobs-redis-auth", "key": "token"} for ref in refs), name

    password = base64.b64decode(secret["data"]["token"]).decode()
    redis = RedisServer(data_dir=tmp_path / "redis", port=port, password=password)
    await asyncio.to_thread(redis.start)
    try:
        await eventually(
            lambda: (c := condition(cluster.queue("jobs"), "Ready")) and c["status"] == "True",
            what="Ready=True with the generated password",
        )
    finally:
        redis.kill()


async def test_a_spec_change_is_ready_only_once_the_statefulset_rolled_it_out(
    cluster: Cluster, run_operator: RunOperator, tmp_path: Path
) -> None:
    """What `helm upgrade --wait` (kstatus) and `kubectl wait --for=condition=Ready` wait for:
    Redis answering is not enough, the StatefulSet must have rolled out the new generation."""
    redis = RedisServer(data_dir=tmp_path / "redis", password="s3cret pass").start()
    try:
        auth = await with_password_secret(cluster, "s3cret pass")
        await run_operator(fast_config(redis_port=redis.port))
        await cluster.create_queue("jobs", {"auth": auth})
        await finish_rollout(cluster)
        await reported(cluster, "Ready", "RedisAnswering")

        await cluster.patch_queue_spec("jobs", {"persistence": {"appendfsync": "always"}})
        body, _ = await reported(cluster, "Ready", "RollingOut", generation=2)
        assert body["status"]["observedGeneration"] == 2
        assert {k: v for k, v in conditions_of(body).items() if k != "PersistenceHealthy"} == {
            "Ready": ("False", "RollingOut", 2),
            "Reconciling": ("True", "RollingOut", 2),
            "Stalled": ("False", "Reconciled", 2),
        }
        ready = condition(body, "Ready")
        assert ready is not None
        assert ready["message"] == (
            "StatefulSet jobs-redis: its controller has not seen generation 2 yet"
        )
        # Passes and status reads come and go (Redis answers all along): still rolling out.
        await more_reconcile_passes(cluster)
        assert conditions_of(cluster.queue("jobs"))["Ready"] == ("False", "RollingOut", 2)

        await finish_rollout(cluster)
        body, ready = await reported(cluster, "Ready", "RedisAnswering", generation=2)
        assert ready["status"] == "True"
        assert conditions_of(body) == {
            "Ready": ("True", "RedisAnswering", 2),
            "Reconciling": ("False", "Reconciled", 2),
            "Stalled": ("False", "Reconciled", 2),
            "PersistenceHealthy": ("True", "AOFHealthy", 2),
        }
    finally:
        redis.kill()


async def test_a_missing_password_secret_is_reconciling_for_the_observed_generation(
    cluster: Cluster, run_operator: RunOperator
) -> None:
    await run_operator(fast_config())
    auth = {"existingSecret": "queue-password", "secretKey": "token"}
    await cluster.create_queue("jobs", {"auth": auth})

    body, reconciling = await reported(cluster, "Reconciling", "WaitingForSecret")
    assert reconciling["status"] == "True"
    assert "'queue-password' named in spec.auth.existingSecret is missing" in reconciling["message"]
    # The operator has acted on generation 1 (it waits): kstatus sees InProgress, not stale.
    assert body["status"]["observedGeneration"] == 1
    assert conditions_of(body)["Stalled"] == ("False", "WaitingForSecret", 1)
    assert conditions_of(body)["Ready"] == ("False", "WaitingForSecret", 1)

    assert await with_password_secret(cluster, "s3cret pass") == auth
    await reported(cluster, "Stalled", "Reconciled")
