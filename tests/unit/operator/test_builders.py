"""The pure builders: what each spec field turns into, and the invariants of every child."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from queue_operator.builders import (
    PING_COMMAND,
    Manifest,
    build_children,
    build_client_service,
    build_config_map,
    build_exporter_deployment,
    build_headless_service,
    build_secret,
    build_statefulset,
    checksum,
    disabled_children,
    secret_ref,
    set_secret_checksum,
)
from queue_operator.naming import CONFIG_CHECKSUM, SECRET_CHECKSUM, Owner
from queue_operator.spec import RedisQueueSpec, parse_spec

OWNER = Owner(name="jobs", namespace="work", uid="uid-1")


def spec_of(**raw: Any) -> RedisQueueSpec:
    return parse_spec(OWNER.name, raw)


def statefulset(spec: RedisQueueSpec) -> Manifest:
    return build_statefulset(OWNER, spec, config_checksum="c", secret_checksum="s")


def pod(manifest: Manifest) -> Manifest:
    result: Manifest = manifest["spec"]["template"]["spec"]
    return result


def container(manifest: Manifest) -> Manifest:
    result: Manifest = pod(manifest)["containers"][0]
    return result


def redis_conf(spec: RedisQueueSpec) -> list[str]:
    lines: list[str] = build_config_map(OWNER, spec)["data"]["redis.conf"].splitlines()
    return lines


def all_children(spec: RedisQueueSpec) -> list[Manifest]:
    return [*build_children(OWNER, spec, secret_checksum="s"), build_secret(OWNER, spec, "pw")]


def test_default_children_names_follow_the_contract() -> None:
    names = {(c["kind"], c["metadata"]["name"]) for c in all_children(spec_of())}
    assert names == {
        ("ConfigMap", "jobs-redis-config"),
        ("Secret", "jobs-redis-auth"),
        ("StatefulSet", "jobs-redis"),
        ("Service", "jobs-redis"),
        ("Service", "jobs-redis-headless"),
        ("Deployment", "jobs-exporter"),
        ("Service", "jobs-exporter"),
        ("PodDisruptionBudget", "jobs-redis"),
    }


def test_every_child_is_owned_labelled_and_namespaced() -> None:
    for child in all_children(spec_of()):
        meta = child["metadata"]
        assert meta["namespace"] == "work"
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "queues.ai-agents.io/v1alpha1",
                "kind": "RedisQueue",
                "name": "jobs",
                "uid": "uid-1",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        labels = meta["labels"]
        assert labels["app.kubernetes.io/name"] == "redis-queue"
        assert labels["app.kubernetes.io/instance"] == "jobs"
        assert labels["app.kubernetes.io/managed-by"] == "queue-operator"
        assert labels["app.kubernetes.io/part-of"] == "redis-queue-stack"
        assert labels["app.kubernetes.io/component"] in {"redis", "exporter"}


def test_redis_conf_defaults() -> None:
    lines = redis_conf(spec_of())
    for line in [
        "appendonly yes",
        "appendfsync everysec",
        "aof-use-rdb-preamble yes",
        "aof-load-truncated yes",
        "dir /data",
        "maxmemory 0",
        "maxmemory-policy noeviction",
        "protected-mode yes",
        "port 6379",
    ]:
        assert line in lines


def test_redis_conf_follows_persistence_and_memory() -> None:
    lines = redis_conf(
        spec_of(
            persistence={"appendfsync": "always"},
            memory={"maxmemory": "512mb", "maxmemoryPolicy": "volatile-lru", "allowEviction": True},
        )
    )
    assert "appendfsync always" in lines
    assert "maxmemory 512mb" in lines
    assert "maxmemory-policy volatile-lru" in lines


def test_password_never_in_config_map_and_comes_from_secret() -> None:
    spec = spec_of()
    assert not any("requirepass" in line for line in redis_conf(spec))
    redis = container(statefulset(spec))
    assert redis["args"] == ["/etc/redis/redis.conf", "--requirepass", "$(REDIS_PASSWORD)"]
    env = {item["name"]: item["valueFrom"]["secretKeyRef"] for item in redis["env"]}
    assert env["REDIS_PASSWORD"] == {"name": "jobs-redis-auth", "key": "password"}
    assert env["REDISCLI_AUTH"] == {"name": "jobs-redis-auth", "key": "password"}


def test_existing_secret_replaces_the_generated_one() -> None:
    spec = spec_of(auth={"existingSecret": "mine", "secretKey": "pw"})
    assert secret_ref(OWNER, spec) == ("mine", "pw")
    for child in (statefulset(spec), build_exporter_deployment(OWNER, spec, secret_checksum="s")):
        refs = [e["valueFrom"]["secretKeyRef"] for e in container(child)["env"] if "valueFrom" in e]
        assert refs
        assert all(ref == {"name": "mine", "key": "pw"} for ref in refs)


def test_generated_secret_holds_the_password() -> None:
    secret = build_secret(OWNER, spec_of(), "hunter2")
    assert base64.b64decode(secret["data"]["password"]) == b"hunter2"


def test_generated_secret_stores_the_password_under_secret_key() -> None:
    """Without existingSecret, auth.secretKey names the key of the generated Secret: every pod
    reads the password from the key the Secret has."""
    spec = spec_of(auth={"secretKey": "token"})
    secret = build_secret(OWNER, spec, "hunter2")
    assert secret["data"] == {"token": base64.b64encode(b"hunter2").decode()}
    assert secret_ref(OWNER, spec) == (secret["metadata"]["name"], "token")
    for child in (statefulset(spec), build_exporter_deployment(OWNER, spec, secret_checksum="s")):
        refs = [e["valueFrom"]["secretKeyRef"] for e in container(child)["env"] if "valueFrom" in e]
        assert refs
        assert all(ref == {"name": "jobs-redis-auth", "key": "token"} for ref in refs)


def test_statefulset_defaults() -> None:
    sts = statefulset(spec_of())
    spec = sts["spec"]
    assert spec["replicas"] == 1
    assert spec["serviceName"] == "jobs-redis-headless"
    assert spec["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    claim = spec["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "data"
    # The claim template is immutable: only the selector labels, which never change.
    assert claim["metadata"]["labels"] == spec["selector"]["matchLabels"]
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}},
    }
    assert spec["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "redis-queue",
        "app.kubernetes.io/instance": "jobs",
        "app.kubernetes.io/component": "redis",
    }
    assert spec["template"]["metadata"]["annotations"] == {
        CONFIG_CHECKSUM: "c",
        SECRET_CHECKSUM: "s",
    }
    redis = container(sts)
    assert redis["image"] == "redis:7.2-alpine"
    assert redis["imagePullPolicy"] == "IfNotPresent"
    assert "resources" not in redis
    assert {m["mountPath"] for m in redis["volumeMounts"]} == {"/data", "/etc/redis"}
    for key in ("nodeSelector", "tolerations", "affinity", "priorityClassName"):
        assert key not in pod(sts)


def test_statefulset_persistence_fields() -> None:
    spec = spec_of(persistence={"size": "5Gi", "storageClassName": "fast", "keepOnDelete": False})
    sts = statefulset(spec)["spec"]
    claim = sts["volumeClaimTemplates"][0]["spec"]
    assert claim["resources"]["requests"]["storage"] == "5Gi"
    assert claim["storageClassName"] == "fast"
    assert sts["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Delete"


def test_probes_check_for_pong() -> None:
    redis = container(statefulset(spec_of()))
    assert PING_COMMAND[-1].endswith("= PONG")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert redis[probe]["exec"]["command"] == PING_COMMAND
    # A long AOF load must fit in the startup probe's budget before liveness applies.
    startup = redis["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600
    # Redis is Ready only after the startup probe passed, and the kubelet's first try usually
    # comes before the container runs: a slower startup probe delays every restart's Ready.
    assert startup["periodSeconds"] <= redis["readinessProbe"]["periodSeconds"]


@pytest.mark.parametrize("builder", ["statefulset", "exporter"])
def test_pods_are_hardened(builder: str) -> None:
    spec = spec_of()
    manifest = (
        statefulset(spec)
        if builder == "statefulset"
        else build_exporter_deployment(OWNER, spec, secret_checksum="s")
    )
    security = pod(manifest)["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["fsGroup"] == security["runAsUser"]
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod(manifest)["automountServiceAccountToken"] is False
    box = container(manifest)["securityContext"]
    assert box["readOnlyRootFilesystem"] is True
    assert box["allowPrivilegeEscalation"] is False
    assert box["capabilities"] == {"drop": ["ALL"]}


def test_resources_and_scheduling_reach_the_redis_pod() -> None:
    affinity: dict[str, Any] = {
        "nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}
    }
    spec = spec_of(
        image="redis:7.4",
        imagePullPolicy="Always",
        resources={"requests": {"cpu": "100m"}, "limits": {"memory": "1Gi"}},
        scheduling={
            "nodeSelector": {"disk": "ssd"},
            "tolerations": [
                {"key": "dedicated", "operator": "Equal", "value": "queue", "effect": "NoSchedule"}
            ],
            "affinity": affinity,
            "priorityClassName": "high",
        },
    )
    sts = statefulset(spec)
    assert container(sts)["image"] == "redis:7.4"
    assert container(sts)["imagePullPolicy"] == "Always"
    assert container(sts)["resources"] == {"requests": {"cpu": "100m"}, "limits": {"memory": "1Gi"}}
    assert pod(sts)["nodeSelector"] == {"disk": "ssd"}
    assert pod(sts)["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "queue", "effect": "NoSchedule"}
    ]
    assert pod(sts)["affinity"] == affinity
    assert pod(sts)["priorityClassName"] == "high"


def test_exporter_deployment() -> None:
    spec = spec_of(
        queues=["a:queue", "a:dlq"],
        exporter={"image": "example/exporter:9", "resources": {"limits": {"memory": "64Mi"}}},
    )
    exporter = build_exporter_deployment(OWNER, spec, secret_checksum="sum")
    box = container(exporter)
    assert box["image"] == "example/exporter:9"
    assert box["resources"] == {"limits": {"memory": "64Mi"}}
    env = {item["name"]: item.get("value") for item in box["env"]}
    assert env["AI_AGENTS_REDIS_URL"] == "redis://jobs-redis:6379/0"
    assert env["AI_AGENTS_QUEUES"] == "a:queue,a:dlq"
    assert box["ports"] == [{"name": "metrics", "containerPort": 9808, "protocol": "TCP"}]
    # /health/ready would drop the exporter from its Service exactly when Redis is down.
    assert box["readinessProbe"]["httpGet"]["path"] == "/health/live"
    assert box["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert exporter["spec"]["template"]["metadata"]["annotations"] == {SECRET_CHECKSUM: "sum"}


def test_services() -> None:
    client = build_client_service(OWNER)["spec"]
    assert client["ports"] == [
        {"name": "redis", "port": 6379, "targetPort": "redis", "protocol": "TCP"}
    ]
    assert client["selector"]["app.kubernetes.io/component"] == "redis"
    headless = build_headless_service(OWNER)["spec"]
    assert headless["clusterIP"] == "None"
    assert headless["publishNotReadyAddresses"] is True


def test_optional_children_follow_their_switches() -> None:
    spec = spec_of(exporter={"enabled": False}, podDisruptionBudget={"enabled": False})
    kinds = {c["kind"] for c in build_children(OWNER, spec, secret_checksum="s")}
    assert "Deployment" not in kinds
    assert "PodDisruptionBudget" not in kinds
    assert disabled_children(OWNER, spec) == [
        ("apps/v1", "Deployment", "jobs-exporter"),
        ("v1", "Service", "jobs-exporter"),
        ("policy/v1", "PodDisruptionBudget", "jobs-redis"),
    ]
    assert disabled_children(OWNER, spec_of()) == []


def test_config_checksum_rolls_only_when_config_changes() -> None:
    def config_sum(spec: RedisQueueSpec) -> str:
        sts = next(
            c
            for c in build_children(OWNER, spec, secret_checksum="s")
            if c["kind"] == "StatefulSet"
        )
        value: str = sts["spec"]["template"]["metadata"]["annotations"][CONFIG_CHECKSUM]
        return value

    base = config_sum(spec_of())
    assert config_sum(spec_of()) == base
    assert config_sum(spec_of(persistence={"appendfsync": "always"})) != base
    assert config_sum(spec_of(memory={"maxmemory": "1gb"})) != base
    assert config_sum(spec_of(image="redis:7.4")) == base
    assert checksum({"a": "1"}) != checksum({"a": "2"})


@pytest.mark.parametrize(
    "raw", [{}, {"exporter": {"enabled": False}, "podDisruptionBudget": {"enabled": False}}]
)
def test_setting_the_secret_checksum_later_equals_building_with_it(raw: dict[str, Any]) -> None:
    """The reconcile builds children with a placeholder (before the Secret exists) and sets the
    checksum afterwards; that must be exactly the children built with the checksum."""
    spec = spec_of(**raw)
    children = build_children(OWNER, spec, secret_checksum="")
    set_secret_checksum(children, "sum-1")
    assert children == build_children(OWNER, spec, secret_checksum="sum-1")
    stamped = [c for c in children if SECRET_CHECKSUM in str(c)]
    assert {c["kind"] for c in stamped} == (
        {"StatefulSet", "Deployment"} if spec.exporter.enabled else {"StatefulSet"}
    )


def test_builders_are_pure() -> None:
    spec = spec_of(persistence={"size": "3Gi"})
    assert build_children(OWNER, spec, secret_checksum="s") == build_children(
        OWNER, spec, secret_checksum="s"
    )
