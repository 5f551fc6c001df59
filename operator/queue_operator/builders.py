"""Pure functions from a validated spec to the manifests the operator owns.

No I/O and no clock: the same inputs give the same dicts, so they are unit-tested and schema-
validated without any server, and the reconcile loop can compare them with live objects. The
only inputs that are not in the spec are the owner's identity and the password's checksum
(read from a Secret the operator may not have written).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Mapping
from typing import Any

from queue_operator.naming import (
    CONFIG_CHECKSUM,
    EXPORTER_PORT,
    REDIS_PORT,
    SECRET_CHECKSUM,
    Component,
    Owner,
)
from queue_operator.redis_conf import DATA_DIR, render_redis_conf
from queue_operator.spec import RedisQueueSpec

Manifest = dict[str, Any]

# The official redis images run as uid/gid 999; fsGroup makes the PVC writable for that group.
REDIS_UID = 999
# The project images (exporter/Dockerfile, operator/Dockerfile) create and run as uid 10001.
EXPORTER_UID = 10001
CONFIG_FILE = "redis.conf"
CONFIG_DIR = "/etc/redis"
PASSWORD_ENV = "REDIS_PASSWORD"  # noqa: S105 (a variable name, not a password)
# A PING that answers anything but PONG (LOADING, NOAUTH, MASTERDOWN) is not a healthy Redis;
# redis-cli exits 0 on error replies, so the reply itself is compared.
PING_COMMAND = ["sh", "-c", f'test "$(redis-cli -h 127.0.0.1 -p {REDIS_PORT} ping)" = PONG']


def checksum(data: Mapping[str, str]) -> str:
    """A stable digest of a ConfigMap's or Secret's data, for pod-template annotations."""
    return hashlib.sha256(json.dumps(dict(data), sort_keys=True).encode()).hexdigest()


def generate_password() -> str:
    """A password for the generated Secret; URL-safe so it also fits in a redis:// URL."""
    return secrets.token_urlsafe(32)


def secret_ref(owner: Owner, spec: RedisQueueSpec) -> tuple[str, str]:
    """Which Secret and key hold the password: the user's, or the one the operator generates."""
    return (spec.auth.existing_secret or owner.generated_secret, spec.auth.secret_key)


def _metadata(
    owner: Owner, name: str, component: Component, annotations: Mapping[str, str] | None = None
) -> Manifest:
    meta: Manifest = {
        "name": name,
        "namespace": owner.namespace,
        "labels": owner.labels(component),
        "ownerReferences": [owner.owner_reference()],
    }
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def _pod_security(uid: int) -> Manifest:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _container_security() -> Manifest:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _password_env(name: str, owner: Owner, spec: RedisQueueSpec) -> Manifest:
    secret, key = secret_ref(owner, spec)
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def build_config_map(owner: Owner, spec: RedisQueueSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(owner, owner.config_map, "redis"),
        "data": {CONFIG_FILE: render_redis_conf(spec)},
    }


def build_secret(owner: Owner, spec: RedisQueueSpec, password: str) -> Manifest:
    """The generated password Secret. Created once and never regenerated: Redis' data and every
    client depend on it. The key is the one every reader looks under (:func:`secret_ref`), so
    ``auth.secretKey`` without ``auth.existingSecret`` names the key of this Secret."""
    _, key = secret_ref(owner, spec)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _metadata(owner, owner.generated_secret, "redis"),
        "data": {key: base64.b64encode(password.encode()).decode()},
    }


def _probe(period: int, timeout: int, failures: int) -> Manifest:
    return {
        "exec": {"command": PING_COMMAND},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def _redis_container(spec: RedisQueueSpec, owner: Owner) -> Manifest:
    container: Manifest = {
        "name": "redis",
        "image": spec.image,
        "imagePullPolicy": spec.image_pull_policy,
        # The image's entrypoint is skipped on purpose: it would try to chown as root.
        "command": ["redis-server"],
        # Kubernetes expands $(REDIS_PASSWORD) from the Secret; Redis then overwrites its
        # process title, so the password is in neither the ConfigMap nor the pod spec.
        "args": [f"{CONFIG_DIR}/{CONFIG_FILE}", "--requirepass", f"$({PASSWORD_ENV})"],
        "env": [
            _password_env(PASSWORD_ENV, owner, spec),
            # redis-cli in the probes authenticates from this variable, not from its arguments.
            _password_env("REDISCLI_AUTH", owner, spec),
        ],
        "ports": [{"name": "redis", "containerPort": REDIS_PORT, "protocol": "TCP"}],
        "volumeMounts": [
            {"name": "data", "mountPath": DATA_DIR},
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
        ],
        # Loading a large AOF can take minutes; liveness must not kill Redis while it loads
        # (900 x 2 s: 30 minutes). Every 2 s, because Redis is Ready only once this probe has
        # passed, and the kubelet's first try usually comes before the container runs: at a
        # 10 s period every restart or roll kept the queue away from its clients ~10 s longer.
        "startupProbe": _probe(period=2, timeout=5, failures=900),
        "livenessProbe": _probe(period=10, timeout=5, failures=6),
        "readinessProbe": _probe(period=5, timeout=3, failures=2),
        "securityContext": _container_security(),
    }
    resources = spec.resources.as_manifest()
    if resources:
        container["resources"] = resources
    return container


def _scheduling(spec: RedisQueueSpec) -> Manifest:
    scheduling = spec.scheduling
    fields: Manifest = {
        "nodeSelector": dict(scheduling.node_selector),
        "tolerations": [toleration.as_manifest() for toleration in scheduling.tolerations],
        "affinity": dict(scheduling.affinity),
        "priorityClassName": scheduling.priority_class_name,
    }
    return {key: value for key, value in fields.items() if value}


def build_statefulset(
    owner: Owner, spec: RedisQueueSpec, *, config_checksum: str, secret_checksum: str
) -> Manifest:
    """One Redis with its AOF on a PVC; checksums in the pod template roll it on change."""
    claim_spec: Manifest = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": spec.persistence.size}},
    }
    if spec.persistence.storage_class_name:
        claim_spec["storageClassName"] = spec.persistence.storage_class_name
    retention = "Retain" if spec.persistence.keep_on_delete else "Delete"
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _metadata(owner, owner.redis, "redis"),
        "spec": {
            "replicas": 1,
            "serviceName": owner.headless_service,
            "selector": {"matchLabels": owner.selector("redis")},
            "updateStrategy": {"type": "RollingUpdate"},
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": retention,
                "whenScaled": "Retain",
            },
            "template": {
                "metadata": {
                    "labels": owner.labels("redis"),
                    "annotations": {
                        CONFIG_CHECKSUM: config_checksum,
                        SECRET_CHECKSUM: secret_checksum,
                    },
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    # SIGTERM makes Redis fsync the AOF before exiting; give it time to.
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": _pod_security(REDIS_UID),
                    "containers": [_redis_container(spec, owner)],
                    "volumes": [{"name": "config", "configMap": {"name": owner.config_map}}],
                    **_scheduling(spec),
                },
            },
            # Immutable once created: only the stable selector labels, so a change to the other
            # labels (managed-by, part-of) can never turn every StatefulSet patch into a 422.
            "volumeClaimTemplates": [
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {"name": "data", "labels": owner.selector("redis")},
                    "spec": claim_spec,
                }
            ],
        },
    }


def _service(owner: Owner, name: str, component: Component, port: int, port_name: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(owner, name, component),
        "spec": {
            "type": "ClusterIP",
            "selector": owner.selector(component),
            "ports": [
                {"name": port_name, "port": port, "targetPort": port_name, "protocol": "TCP"}
            ],
        },
    }


def build_client_service(owner: Owner) -> Manifest:
    """What producers and workers connect to: ``<name>-redis.<namespace>.svc:6379``."""
    return _service(owner, owner.redis, "redis", REDIS_PORT, "redis")


def build_headless_service(owner: Owner) -> Manifest:
    """The StatefulSet's governing Service: stable per-pod DNS, also while not ready."""
    service = _service(owner, owner.headless_service, "redis", REDIS_PORT, "redis")
    service["spec"]["clusterIP"] = "None"
    service["spec"]["publishNotReadyAddresses"] = True
    return service


def build_exporter_deployment(
    owner: Owner, spec: RedisQueueSpec, *, secret_checksum: str
) -> Manifest:
    # Liveness only: readiness on /health/ready would drop the exporter from its Service during
    # a Redis outage, and Prometheus would see "exporter absent" instead of redis_queue_up 0.
    http_probe = {"httpGet": {"path": "/health/live", "port": "metrics"}}
    container: Manifest = {
        "name": "exporter",
        "image": spec.exporter.image,
        "imagePullPolicy": spec.image_pull_policy,
        "env": [
            {"name": "AI_AGENTS_REDIS_URL", "value": f"redis://{owner.redis}:{REDIS_PORT}/0"},
            _password_env("AI_AGENTS_REDIS_PASSWORD", owner, spec),
            {"name": "AI_AGENTS_QUEUES", "value": ",".join(spec.queues)},
        ],
        "ports": [{"name": "metrics", "containerPort": EXPORTER_PORT, "protocol": "TCP"}],
        # 5 s: the first try usually comes before Python listens, and until the next one the
        # new exporter is not in its Service (Prometheus does not scrape it).
        "readinessProbe": {**http_probe, "periodSeconds": 5, "timeoutSeconds": 3},
        "livenessProbe": {**http_probe, "periodSeconds": 20, "timeoutSeconds": 5},
        "securityContext": _container_security(),
    }
    resources = spec.exporter.resources.as_manifest()
    if resources:
        container["resources"] = resources
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(owner, owner.exporter, "exporter"),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": owner.selector("exporter")},
            "template": {
                "metadata": {
                    "labels": owner.labels("exporter"),
                    "annotations": {SECRET_CHECKSUM: secret_checksum},
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": _pod_security(EXPORTER_UID),
                    "containers": [container],
                },
            },
        },
    }


def build_exporter_service(owner: Owner) -> Manifest:
    """Selected by the chart's ServiceMonitor (component=exporter, instance=<name>)."""
    return _service(owner, owner.exporter, "exporter", EXPORTER_PORT, "metrics")


def build_pdb(owner: Owner) -> Manifest:
    """minAvailable 1 on a single replica: a node drain waits until someone moves Redis on
    purpose instead of taking the queue offline."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(owner, owner.redis, "redis"),
        "spec": {"minAvailable": 1, "selector": {"matchLabels": owner.selector("redis")}},
    }


def build_children(owner: Owner, spec: RedisQueueSpec, *, secret_checksum: str) -> list[Manifest]:
    """Every child except the Secret, in the order they should be applied (config before the
    pods that mount it)."""
    config_map = build_config_map(owner, spec)
    children = [
        config_map,
        build_headless_service(owner),
        build_client_service(owner),
        build_statefulset(
            owner,
            spec,
            config_checksum=checksum(config_map["data"]),
            secret_checksum=secret_checksum,
        ),
    ]
    if spec.exporter.enabled:
        children += [
            build_exporter_deployment(owner, spec, secret_checksum=secret_checksum),
            build_exporter_service(owner),
        ]
    if spec.pod_disruption_budget.enabled:
        children.append(build_pdb(owner))
    return children


def set_secret_checksum(children: list[Manifest], secret_checksum: str) -> None:
    """Put ``secret_checksum`` into every pod template of ``children`` that carries one.

    The reconcile builds the children before the password Secret may exist (its refusal check
    must write nothing), and learns the checksum only afterwards: it builds them once with a
    placeholder and sets the real value here, which gives what ``build_children`` with that
    checksum gives.
    """
    for child in children:
        template = child.get("spec", {}).get("template", {})
        annotations = template.get("metadata", {}).get("annotations", {})
        if SECRET_CHECKSUM in annotations:
            annotations[SECRET_CHECKSUM] = secret_checksum


def disabled_children(owner: Owner, spec: RedisQueueSpec) -> list[tuple[str, str, str]]:
    """(apiVersion, kind, name) of optional children the spec switched off, to be deleted."""
    gone: list[tuple[str, str, str]] = []
    if not spec.exporter.enabled:
        gone += [
            ("apps/v1", "Deployment", owner.exporter),
            ("v1", "Service", owner.exporter),
        ]
    if not spec.pod_disruption_budget.enabled:
        gone.append(("policy/v1", "PodDisruptionBudget", owner.redis))
    return gone
