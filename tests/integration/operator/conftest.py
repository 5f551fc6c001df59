"""The real operator (``kopf.testing.KopfRunner``) against KMock's Kubernetes API over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kmock
import kopf
import pytest
import yaml
from kopf.testing import KopfRunner

from queue_operator.config import OperatorConfig
from queue_operator.kube import object_path
from queue_operator.naming import API_VERSION, GROUP, PLURAL, VERSION
from queue_operator.registration import register
from tests.support.kmock_k8s import KubernetesApiEmulator
from tests.support.kube import condition as condition  # re-exported for the tests here

NAMESPACE = "queues"
BUILTINS = {
    "v1/configmaps": "ConfigMap",
    "v1/secrets": "Secret",
    "v1/services": "Service",
    "v1/events": "Event",
    "apps/v1/statefulsets": "StatefulSet",
    "apps/v1/deployments": "Deployment",
    "policy/v1/poddisruptionbudgets": "PodDisruptionBudget",
}
VERBS = {"get", "list", "watch", "create", "patch", "delete"}
# Kopf waits for these two to appear in API discovery before it starts watching anything,
# even with scanning disabled (it never lists them then).
BACKBONE = {
    "v1/namespaces": "Namespace",
    "apiextensions.k8s.io/v1/customresourcedefinitions": "CustomResourceDefinition",
}
# The tests' own requests carry this User-Agent, so the operator's can be told apart.
TEST_AGENT = "kubectl-in-tests"


@dataclass
class Cluster:
    """A KMock API server plus helpers that go through its HTTP API, as kubectl would."""

    api: Any
    kubeconfig: Path

    async def request(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        headers = {"User-Agent": TEST_AGENT, **headers}
        async with self.api.request(method, path, json=body, headers=headers) as response:
            payload = await response.json()
            assert response.status < 400, payload
            return payload

    async def create_queue(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        body = {
            "apiVersion": API_VERSION,
            "kind": "RedisQueue",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": spec,
        }
        return dict(
            await self.request("POST", object_path(API_VERSION, "RedisQueue", NAMESPACE), body)
        )

    async def patch_queue_spec(self, name: str, spec: dict[str, Any]) -> None:
        path = object_path(API_VERSION, "RedisQueue", NAMESPACE, name)
        await self.request(
            "PATCH", path, {"spec": spec}, **{"Content-Type": "application/merge-patch+json"}
        )

    def get(self, api_version: str, plural: str, name: str) -> dict[str, Any] | None:
        """The stored object, or ``None`` if absent or deleted."""
        for (resource, namespace, obj_name), obj in self.api.objects.items():
            if (resource, namespace, obj_name) == (f"{api_version}/{plural}", NAMESPACE, name):
                return None if obj.deleted else dict(obj.raw)
        return None

    def queue(self, name: str) -> dict[str, Any]:
        found = self.get(API_VERSION, PLURAL, name)
        assert found is not None
        return found

    def operator_requests(self) -> list[Any]:
        """Every request KMock served that did not come from the test itself."""
        return [r for r in self.api if r.headers.get("User-Agent") != TEST_AGENT]

    def events(self) -> list[dict[str, Any]]:
        return [
            obj.raw
            for (resource, _, _), obj in self.api.objects.items()
            if resource == "v1/events" and not obj.deleted
        ]


async def eventually(
    check: Callable[[], Any], within: float = 20.0, what: str = "condition"
) -> Any:
    """Poll without blocking the loop (KMock serves from this same loop)."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.fixture
async def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Cluster]:
    async with KubernetesApiEmulator() as api, kmock.Server(api) as server:
        api.resources[f"{GROUP}/{VERSION}/{PLURAL}"] = kmock.ResourceInfo(
            kind="RedisQueue",
            namespaced=True,
            verbs=VERBS,
            shortnames={"rqueue"},
            subresources={"status"},
        )
        for resource, kind in BUILTINS.items():
            api.resources[resource] = kmock.ResourceInfo(kind=kind, namespaced=True, verbs=VERBS)
        for resource, kind in BACKBONE.items():
            api.resources[resource] = kmock.ResourceInfo(kind=kind, namespaced=False, verbs=VERBS)
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "kmock", "cluster": {"server": str(server.url)}}],
                    "users": [{"name": "kmock", "user": {}}],
                    "contexts": [
                        {"name": "kmock", "context": {"cluster": "kmock", "user": "kmock"}}
                    ],
                    "current-context": "kmock",
                }
            )
        )
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        yield Cluster(api=api, kubeconfig=kubeconfig)


RunOperator = Callable[..., Awaitable[KopfRunner]]


@pytest.fixture
async def run_operator() -> AsyncIterator[RunOperator]:
    """Start the operator in a thread (KopfRunner blocks); stop it at teardown."""
    runners: list[KopfRunner] = []

    async def start(config: OperatorConfig, scope: tuple[str, ...] = ("-A",)) -> KopfRunner:
        registry = kopf.OperatorRegistry()
        register(registry, config)
        runner = KopfRunner(
            ["run", "--standalone", *scope, "--verbose"],
            registry=registry,
            timeout=30,
        )
        await asyncio.to_thread(runner.__enter__)
        runners.append(runner)
        return runner

    yield start
    for runner in runners:  # exiting a runner twice (see stop_operator) is harmless
        await asyncio.to_thread(runner.__exit__, None, None, None)
        assert runner.exit_code == 0, runner.output


def fast_config(**overrides: Any) -> OperatorConfig:
    """Timers in about a second, so drift repair and status show up within a test."""
    values: dict[str, Any] = {
        "reconcile_interval": 1.0,
        "status_interval": 1.0,
        "redis_timeout": 0.5,
        "retry_delay": 1.0,
        "rejected_retry_delay": 1.0,
        "redis_host": "127.0.0.1",
        **overrides,
    }
    return OperatorConfig(**values)


async def stop_operator(runner: KopfRunner) -> None:
    """Stop an operator started by ``run_operator`` before the test ends."""
    await asyncio.to_thread(runner.__exit__, None, None, None)
    assert runner.exit_code == 0, runner.output
