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
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from tests.localcluster import addons
from tests.localcluster.build import (
    REDIS_IMAGE,
    app_version,
    load_components,
    module_source,
    project_image,
)
from tests.localcluster.layout import REPO_ROOT
from tests.localcluster.progress import sh, step

NAMESPACE = "redis-queue-e2e"
RELEASE = "redis-queue"
CHART_REPO = "charts"
TOOLS = REPO_ROOT / ".tools" / "bin"
# The main suite runs with helm 4; test_06 takes helm 3 through a whole lifecycle.
HELM = str(TOOLS / "helm4")
HELM3 = str(TOOLS / "helm3")


PROMETHEUS_OPERATOR = ("prometheus-operator", "github.com/prometheus-operator/prometheus-operator")
KEDA = ("keda", "github.com/kedacore/keda/v2")
# The kinds the chart renders besides its own: the real CRDs, from the pinned modules (all of
# the Prometheus Operator's: it watches them all).
CRDS = {
    PROMETHEUS_OPERATOR: ("example/prometheus-operator-crd/*.yaml",),
    KEDA: (
        "config/crd/bases/keda.sh_scaledobjects.yaml",
        "config/crd/bases/keda.sh_triggerauthentications.yaml",
    ),
}


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
        self.kubectl_bin = str(next((REPO_ROOT / ".tools" / "bin").glob("kubectl")))
        self.versions = {c.name: c.version for c in load_components()}

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
        (component,) = [c for c in load_components() if c.name == "prometheus"]
        match = re.search(r"version\.Version=(\S+)", component.ldflags)
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

    def install(self, version: str) -> None:
        with step(f"helm install {RELEASE} {self.chart_ref} --version {version} (helm 4)"):
            self.helm(
                "upgrade", "--install", RELEASE, self.chart_ref, "--version", version,
                "--plain-http", "--namespace", NAMESPACE,
                "--values", str(REPO_ROOT / "tests" / "e2e" / "values" / "redis-queue.yaml"),
                "--set", f"redisQueue.image={REDIS_IMAGE}",
                "--set", "autoscaling.engine=prometheus-adapter",
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
    stack = Stack(run_dir)
    stack.prerequisites()
    stack.worker()
    version = stack.push_chart()
    if version != app_version():
        print(f"note: chart version {version}, appVersion {app_version()}", file=sys.stderr)
    stack.install(version)
    stack.monitoring()
    with step("pytest -m e2e tests/e2e"):
        done = subprocess.run(
            [
                str(REPO_ROOT / ".venv" / "bin" / "pytest"), "-p", "no:cacheprovider", "-m", "e2e",
                "-rs", "-v", "--timeout", "1800", "tests/e2e", *pytest_args,
            ],
            cwd=REPO_ROOT,
            env=stack.test_env(version),
            check=False,
        )  # fmt: skip
    return done.returncode
