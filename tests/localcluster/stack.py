"""Inside the cluster's network namespace: install what tests/e2e expects, then run it.

The order is a user's: the monitoring prerequisites, the chart pushed to the loopback
registry and installed from ``oci://`` (as from GHCR), then Prometheus and the adapter
configured from what the chart rendered for them (its ``-prometheus`` and
``-prometheus-adapter`` ConfigMaps), as the chart's NOTES tell a user without the
Prometheus Operator to do.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from tests.localcluster import addons
from tests.localcluster.build import (
    REDIS_IMAGE,
    load_components,
    module_source,
    project_image,
)
from tests.localcluster.cluster import wait_for_late
from tests.localcluster.layout import REPO_ROOT
from tests.localcluster.progress import sh, step
from tests.support.kube import tool

NAMESPACE = "redis-queue-e2e"
RELEASE = "redis-queue"
CHART_REPO = "charts"
# The main suite runs with helm 4; test_06 takes helm 3 through a whole lifecycle.
HELM = tool("helm4")
HELM3 = tool("helm3")


PROMETHEUS_OPERATOR = ("prometheus-operator", "github.com/prometheus-operator/prometheus-operator")
KEDA = ("keda", "github.com/kedacore/keda/v2")
# The kinds the chart renders besides its own: the real CRDs, from the pinned modules (all of
# the Prometheus Operator's: it watches them all).
# KEDA's come with KEDA itself (the keda phase).
CRDS = {PROMETHEUS_OPERATOR: ("example/prometheus-operator-crd/*.yaml",)}


def upstream(component: tuple[str, str], pattern: str) -> list[Path]:
    """Files of an upstream module at the version the component pins."""
    return sorted(module_source(*component).glob(pattern))


def upstream_objects(component: tuple[str, str], pattern: str) -> list[dict[str, Any]]:
    return [
        obj
        for path in upstream(component, pattern)
        for obj in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if obj
    ]


class Stack:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.kubeconfig = run_dir / "admin.kubeconfig"
        self.registry = "127.0.0.1:5000"
        self.kubectl_bin = tool("kubectl")
        self.components = {c.name: c for c in load_components()}
        self.versions = {name: c.version for name, c in self.components.items()}

    @property
    def chart_ref(self) -> str:
        return f"oci://{self.registry}/{CHART_REPO}/redis-queue"

    def kubectl(self, *args: str, input_text: str | None = None) -> str:
        return sh(
            [self.kubectl_bin, "--kubeconfig", str(self.kubeconfig), *args],
            input_text=input_text,
            timeout=600,
        )

    def apply(self, objects: list[dict[str, Any]]) -> None:
        self.kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            "-",
            input_text=addons.dump(objects),
        )

    def helm(self, *args: str, binary: str = HELM) -> str:
        return sh([binary, "--kubeconfig", str(self.kubeconfig), *args], timeout=900)

    def rollout(self, namespace: str, *deployments: str) -> None:
        for name in deployments:
            self.kubectl(
                "rollout", "status", "-n", namespace, f"deployment/{name}", "--timeout=300s"
            )

    def configmap(self, suffix: str) -> dict[str, str]:
        name = f"{RELEASE}{suffix}"
        data = json.loads(self.kubectl("get", "configmap", "-n", NAMESPACE, name, "-o", "json"))
        return dict(data["data"])

    # ------------------------------------------------------------------ steps

    def prerequisites(self) -> None:
        with step("namespaces (restricted Pod Security), upstream CRDs, kube-state-metrics"):
            self.apply([addons.namespace(addons.MONITORING), addons.namespace(NAMESPACE)])
            for component, patterns in CRDS.items():
                for pattern in patterns:
                    for crd in upstream(component, pattern):
                        self.kubectl("apply", "--server-side", "-f", str(crd))
            self.apply(addons.kube_state_metrics(self.versions["kube-state-metrics"]))
        with step("Prometheus Operator and one Prometheus (ServiceMonitors, PrometheusRules)"):
            operator = self.versions["prometheus-operator"]
            self.apply(
                addons.prometheus_operator(
                    upstream_objects(
                        PROMETHEUS_OPERATOR, "example/rbac/prometheus-operator/*.yaml"
                    ),
                    operator,
                )
            )
            self.rollout(addons.MONITORING, "prometheus-operator")
            self.apply(
                addons.prometheus(
                    upstream_objects(
                        PROMETHEUS_OPERATOR, "example/rbac/prometheus/prometheus-*.yaml"
                    ),
                    self.versions["prometheus"],
                    self.prometheus_server_version(),
                )
            )

    def prometheus_server_version(self) -> str:
        """Prometheus' own version (3.x), which the Go module's v0.3xx.y tag encodes."""
        match = re.search(r"version\.Version=(\S+)", self.components["prometheus"].ldflags)
        assert match, "cluster/go/components.json: prometheus ldflags set no version"
        return f"v{match[1]}"

    def worker(self) -> None:
        text = (REPO_ROOT / "tests" / "e2e" / "manifests" / "worker.yaml").read_text()
        text = text.replace("@EXPORTER_IMAGE@", project_image("exporter"))
        self.kubectl("apply", "-n", NAMESPACE, "-f", "-", input_text=text)

    def push_chart(self) -> str:
        with (
            step(f"helm package + helm push {self.chart_ref}"),
            tempfile.TemporaryDirectory() as out,
        ):
            self.helm("package", str(REPO_ROOT / "charts" / "redis-queue"), "--destination", out)
            (package,) = Path(out).glob("*.tgz")
            self.helm("push", str(package), f"oci://{self.registry}/{CHART_REPO}", "--plain-http")
            version = package.name.removeprefix("redis-queue-").removesuffix(".tgz")
        return version

    def install(self, version: str, engine: str = "prometheus-adapter") -> None:
        with step(
            f"helm install {RELEASE} {self.chart_ref} --version {version} (helm 4, {engine})"
        ):
            self.helm(
                "upgrade", "--install", RELEASE, self.chart_ref, "--version", version,
                "--plain-http", "--namespace", NAMESPACE,
                "--values", str(REPO_ROOT / "tests" / "e2e" / "values" / "redis-queue.yaml"),
                "--set", f"redisQueue.image={REDIS_IMAGE}",
                "--set", f"autoscaling.engine={engine}",
                "--set", f"autoscaling.keda.redisTrigger.kedaNamespace={addons.KEDA_NAMESPACE}",
                "--wait", "--timeout", "10m",
            )  # fmt: skip

    def monitoring(self) -> None:
        with step("prometheus-adapter with the chart's rule (its -prometheus-adapter ConfigMap)"):
            values = yaml.safe_load(self.configmap("-prometheus-adapter")["values.yaml"])
            self.apply(
                addons.prometheus_adapter(
                    self.versions["prometheus-adapter"], addons.adapter_config(values)
                )
            )
            self.rollout(addons.MONITORING, "kube-state-metrics", "prometheus-adapter")
            self.kubectl(
                "rollout", "status", "-n", addons.MONITORING, "statefulset/prometheus-rqs",
                "--timeout=300s",
            )  # fmt: skip

    def switch_to_keda(self) -> None:
        """KEDA's metrics server takes the external metrics API over from the adapter."""
        with step("KEDA's binaries and images, built beside the first phase (`late`)"):
            wait_for_late(self.run_dir)
        with step("KEDA (its config/minimal, our images) in place of prometheus-adapter"):
            self.kubectl("delete", "apiservice", "v1beta1.external.metrics.k8s.io")
            self.kubectl("delete", "deployment", "-n", addons.MONITORING, "prometheus-adapter")
            rendered = self.kubectl("kustomize", str(module_source(*KEDA) / "config" / "minimal"))
            upstream_keda = [o for o in yaml.safe_load_all(rendered) if o]
            self.apply(addons.keda(upstream_keda, self.versions["keda"]))
            self.rollout(addons.KEDA_NAMESPACE, "keda-operator", "keda-metrics-apiserver")
            self.kubectl(
                "wait", "--for=condition=Available", "--timeout=300s",
                "apiservice/v1beta1.external.metrics.k8s.io",
            )  # fmt: skip

    def pytest(self, version: str, engine: str, args: list[str]) -> int:
        env = self.test_env(version)
        env["E2E_ENGINE"] = engine
        with step(f"pytest -m e2e {' '.join(args)} ({engine})"):
            done = subprocess.run(
                [
                    str(REPO_ROOT / ".venv" / "bin" / "pytest"), "-p", "no:cacheprovider",
                    "-m", "e2e", "-rs", "-v", "--durations", "10", "--timeout", "1800", *args,
                ],
                cwd=REPO_ROOT,
                env=env,
                check=False,
            )  # fmt: skip
        return done.returncode

    def test_env(self, version: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            KUBECONFIG=str(self.kubeconfig),
            E2E_BACKEND="local",
            E2E_CONTEXT="rqs",
            E2E_REQUIRED="1",
            E2E_NAMESPACE=NAMESPACE,
            E2E_RELEASE=RELEASE,
            MONITORING_NAMESPACE=addons.MONITORING,
            KUBECTL=self.kubectl_bin,
            HELM=HELM,
            HELM3=HELM3,
            E2E_CHART=self.chart_ref,
            E2E_CHART_VERSION=version,
            E2E_REDIS_IMAGE=REDIS_IMAGE,
        )
        return env


def install_and_test(run_dir: Path, pytest_args: list[str]) -> int:
    """The whole suite on the prometheus-adapter engine, then the engine's tests on KEDA.

    With ``pytest_args`` (``-k durability``, a path) only the first run, with those.
    """
    stack = Stack(run_dir)
    stack.prerequisites()
    stack.worker()
    version = stack.push_chart()
    stack.install(version)
    stack.monitoring()
    rc = stack.pytest(version, "prometheus-adapter", pytest_args or ["tests/e2e"])
    if rc != 0 or pytest_args:
        return rc
    # The other engine: the same release with autoscaling.engine=keda, and what depends on
    # the engine run again (the main suite ended with uninstalls).
    stack.switch_to_keda()
    stack.install(version, engine="keda")
    return stack.pytest(version, "keda", [f"tests/e2e/{t}" for t in KEDA_TESTS])


# What the engine changes: the RedisQueue (and its status) under the new release, scaling, and
# the uninstall (KEDA's finalizers on the ScaledObject and TriggerAuthentication, its HPA).
KEDA_TESTS = (
    "test_00_cluster_policy.py",
    "test_01_ready.py",
    "test_03_autoscaling.py",
    "test_05_helm_lifecycle.py::test_uninstall_keeps_the_pvc",
)
