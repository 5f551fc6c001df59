"""Steps the e2e modules share: Redis sessions over a port-forward, waits on Ready."""

from __future__ import annotations

import os
from typing import Any

import redis

from tests.support.kube import (
    WORKER,
    Kubectl,
    PortForward,
    condition_true,
    secret_value,
    wait_for,
)


def redis_password(kubectl: Kubectl, rqueue: dict[str, Any]) -> str:
    """Read the password afresh: a recreated RedisQueue may have generated a new Secret."""
    auth = rqueue.get("spec", {}).get("auth", {}) or {}
    name = auth.get("existingSecret") or f"{rqueue['metadata']['name']}-redis-auth"
    secret = wait_for(
        lambda: kubectl.get("secret", name), timeout=60, what=f"Secret {name}", interval=2
    )
    return secret_value(secret, auth.get("secretKey") or "password")


class RedisSession:
    """A port-forward to the RedisQueue's client Service plus a redis-py client over it."""

    def __init__(self, kubectl: Kubectl, rqueue_name: str) -> None:
        self.kubectl = kubectl
        self.rqueue_name = rqueue_name
        self.forward: PortForward | None = None
        self.client: redis.Redis | None = None

    def __enter__(self) -> redis.Redis:
        rqueue = self.kubectl.get("redisqueues.queues.ai-agents.io", self.rqueue_name)
        assert rqueue is not None, f"RedisQueue {self.rqueue_name} not found"
        password = redis_password(self.kubectl, rqueue)
        self.forward = self.kubectl.port_forward(f"svc/{self.rqueue_name}-redis", 6379)
        self.forward.__enter__()
        try:
            self.client = redis.Redis(
                host="127.0.0.1",
                port=self.forward.local_port,
                password=password,
                decode_responses=True,
                socket_timeout=10,
                socket_connect_timeout=10,
            )
            wait_for(
                self.client.ping,
                timeout=30,
                what="PING through the port-forward",
                interval=1,
                retry_on=(redis.RedisError, OSError),
            )
        except BaseException as exc:
            # `with` calls __exit__ only after __enter__ returned: stop kubectl here.
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self.client

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
        if self.forward is not None:
            self.forward.stop()


def own_release_namespace(kubectl: Kubectl, namespace: str, size: str) -> list[str]:
    """A restricted namespace for a module's own release, and the ``--set`` flags it installs
    with: a small volume, and the run's Redis image when the run names one."""
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": namespace,
                "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
            },
        },
        namespace="",
    )
    values = ["--set", f"redisQueue.persistence.size={size}"]
    if os.environ.get("E2E_REDIS_IMAGE"):
        values += ["--set", f"redisQueue.image={os.environ['E2E_REDIS_IMAGE']}"]
    return values


def wait_rqueue_ready(kubectl: Kubectl, name: str, timeout: float) -> dict[str, Any]:
    """Wait until the RedisQueue reports Ready=True for its current generation."""

    def ready() -> dict[str, Any] | None:
        obj = kubectl.get("redisqueues.queues.ai-agents.io", name)
        if obj is None:
            return None
        status = obj.get("status", {})
        current = status.get("observedGeneration") == obj["metadata"].get("generation")
        return obj if current and condition_true(obj, "Ready") else None

    return wait_for(ready, timeout=timeout, what=f"RedisQueue {name} Ready", interval=3)


def wait_pod_ready(kubectl: Kubectl, name: str, timeout: float, not_uid: str = "") -> str:
    """Wait until pod ``name`` is Ready (and is not the pod with uid ``not_uid``); its uid."""

    def ready() -> str | None:
        pod = kubectl.get("pod", name)
        if pod is None or pod["metadata"]["uid"] == not_uid:
            return None
        if pod["metadata"].get("deletionTimestamp"):
            return None
        return str(pod["metadata"]["uid"]) if condition_true(pod, "Ready") else None

    return wait_for(ready, timeout=timeout, what=f"pod {name} Ready", interval=2)


def processing_order(client: redis.Redis, key: str) -> list[str]:
    """Jobs in the order workers get them: LPUSH adds left, BRPOP takes right."""
    return list(reversed(client.lrange(key, 0, -1)))  # type: ignore[arg-type]


def assert_jobs_in_push_order(redis_session: RedisSession, key: str, jobs: list[str]) -> None:
    """The jobs under ``key`` come out in the order they were pushed; ``key`` is deleted after."""
    with redis_session as client:
        try:
            assert processing_order(client, key) == jobs
        finally:
            client.delete(key)


def wait_gone(kubectl: Kubectl, objects: list[tuple[str, str]], timeout: float, what: str) -> None:
    """Wait until none of ``objects`` (kind, name) exists any more."""
    wait_for(
        lambda: all(kubectl.get(kind, name) is None for kind, name in objects),
        timeout=timeout,
        what=what,
        interval=3,
    )


def worker_hpa(kubectl: Kubectl) -> dict[str, Any] | None:
    """The HPA scaling the stand-in workers: the chart's (prometheus-adapter engine) or the one
    KEDA generates for the chart's ScaledObject (keda engine)."""
    for hpa in kubectl.items("hpa"):
        if hpa["spec"]["scaleTargetRef"]["name"] == WORKER:
            return hpa
    return None


def assert_pvc_kept(kubectl: Kubectl, pvc: str, message: str) -> None:
    """PVC ``pvc`` still exists (``message`` if not) and is not being deleted."""
    claim = kubectl.get("pvc", pvc)
    assert claim is not None, message
    assert not claim["metadata"].get("deletionTimestamp"), "PVC is being deleted"
