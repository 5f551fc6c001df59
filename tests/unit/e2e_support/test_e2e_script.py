"""scripts/e2e.sh's install and prereqs steps, run against stand-in helm and kubectl.

The stand-ins record every call (one JSON argv per line), so the tests see exactly what the
script would run on a cluster: which repositories it adds, and which namespaces and
Prometheus address it hands to the charts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.support.kube import CHART_DIR, PROMETHEUS_SERVICE, REPO_ROOT

E2E_SCRIPT = REPO_ROOT / "scripts" / "e2e.sh"

RECORDER = textwrap.dedent(
    """\
    #!{python}
    import json, os, sys
    with open(os.environ["FAKE_LOG"], "a") as log:
        log.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
    if "apply" in sys.argv:
        sys.stdin.read()
    """
)


def run_script(tmp_path: Path, step: str, **env: str) -> list[list[str]]:
    """Run ``scripts/e2e.sh step`` with recording helm/kubectl; the calls they got."""
    log = tmp_path / "calls.jsonl"
    log.touch()
    for name in ("helm", "kubectl"):
        tool = tmp_path / name
        tool.write_text(RECORDER.format(python=sys.executable))
        tool.chmod(0o755)
    rules = tmp_path / "adapter-rules.yaml"
    rules.write_text("rules: {}\n")
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("E2E_", "KIND_", "KUBE"))
        and k not in ("HELM", "KUBECTL", "MONITORING_NAMESPACE", "KEDA_NAMESPACE")
        and not k.endswith("_VERSION")
    }
    environment.update(
        KIND_CLUSTER="rq-e2e",
        HELM=str(tmp_path / "helm"),
        KUBECTL=str(tmp_path / "kubectl"),
        FAKE_LOG=str(log),
        E2E_ARTIFACTS=str(tmp_path / "artifacts"),
        ADAPTER_VALUES=str(rules),
        **env,
    )
    done = subprocess.run(
        [str(E2E_SCRIPT), step],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return [json.loads(line) for line in log.read_text().splitlines()]


def helm_calls(calls: list[list[str]], *words: str) -> list[list[str]]:
    """helm calls whose arguments contain ``words`` in that order, next to each other."""
    n = len(words)
    return [
        call
        for call in calls
        if call[0] == "helm" and any(call[i : i + n] == list(words) for i in range(len(call)))
    ]


def sets(call: list[str]) -> dict[str, str]:
    pairs = [call[i + 1] for i, arg in enumerate(call) if arg == "--set"]
    return dict(pair.split("=", 1) for pair in pairs)


def option(call: list[str], name: str) -> str:
    return call[call.index(name) + 1]


def test_install_alone_adds_the_chart_repository_before_using_it(tmp_path: Path) -> None:
    calls = run_script(tmp_path, "install")
    repo_add = helm_calls(calls, "repo", "add", "prometheus-community")
    adapter = helm_calls(calls, "upgrade", "--install", "prometheus-adapter")
    assert len(repo_add) == 1, "install must add the repository it installs the adapter from"
    assert len(adapter) == 1
    assert calls.index(repo_add[0]) < calls.index(adapter[0])
    assert calls.index(helm_calls(calls, "repo", "update")[0]) < calls.index(adapter[0])
    assert "--force-update" in repo_add[0], "re-adding an existing repository must not fail"


@pytest.mark.parametrize("engine", ["prometheus-adapter", "keda"])
def test_install_hands_the_configured_namespaces_to_the_charts(tmp_path: Path, engine: str) -> None:
    calls = run_script(
        tmp_path, "install", E2E_ENGINE=engine, MONITORING_NAMESPACE="mon", KEDA_NAMESPACE="kd"
    )
    prometheus = f"http://{PROMETHEUS_SERVICE}.mon.svc"
    (chart,) = helm_calls(calls, "upgrade", "--install", "redis-queue", "charts/redis-queue")
    values = sets(chart)
    assert values["autoscaling.engine"] == engine
    assert values["autoscaling.keda.prometheus.serverAddress"] == f"{prometheus}:9090"
    assert values["autoscaling.keda.redisTrigger.kedaNamespace"] == "kd"
    chart_values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    keda = chart_values["autoscaling"]["keda"]
    assert {"serverAddress"} <= set(keda["prometheus"])
    assert {"kedaNamespace"} <= set(keda["redisTrigger"])

    adapter = helm_calls(calls, "upgrade", "--install", "prometheus-adapter")
    if engine == "keda":
        assert adapter == []
        return
    (call,) = adapter
    assert option(call, "--namespace") == "mon"
    assert sets(call) == {"prometheus.url": prometheus}
    files = [call[i + 1] for i, arg in enumerate(call) if arg == "--values"]
    assert files[-1] == "tests/e2e/values/prometheus-adapter.yaml"
    assert yaml.safe_load((REPO_ROOT / files[-1]).read_text())["prometheus"] == {"port": 9090}


def test_defaults_are_the_monitoring_and_keda_namespaces(tmp_path: Path) -> None:
    calls = run_script(tmp_path, "install")
    (chart,) = helm_calls(calls, "upgrade", "--install", "redis-queue", "charts/redis-queue")
    assert sets(chart)["autoscaling.keda.redisTrigger.kedaNamespace"] == "keda"
    (adapter,) = helm_calls(calls, "upgrade", "--install", "prometheus-adapter")
    assert option(adapter, "--namespace") == "monitoring"
    assert sets(adapter)["prometheus.url"] == f"http://{PROMETHEUS_SERVICE}.monitoring.svc"


@pytest.mark.parametrize(("version", "expected"), [("", []), ("4.11.0", ["--version=4.11.0"])])
def test_chart_versions_are_passed_only_when_pinned(
    tmp_path: Path, version: str, expected: list[str]
) -> None:
    calls = run_script(tmp_path, "install", ADAPTER_VERSION=version)
    (adapter,) = helm_calls(calls, "upgrade", "--install", "prometheus-adapter")
    assert [arg for arg in adapter if arg.startswith("--version")] == expected
    assert "" not in adapter, "an unpinned version must not leave an empty argument"


def test_prereqs_for_keda_install_it_into_keda_namespace(tmp_path: Path) -> None:
    calls = run_script(tmp_path, "prereqs", E2E_ENGINE="keda", KEDA_NAMESPACE="kd")
    assert helm_calls(calls, "repo", "add", "kedacore")
    (keda,) = helm_calls(calls, "upgrade", "--install", "keda", "kedacore/keda")
    assert option(keda, "--namespace") == "kd"
