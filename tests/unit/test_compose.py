"""docker-compose.yml is `make run` in containers: the same Redis durability flags, exporter
settings and ports, and the chart's own Prometheus rules.

No Docker engine is needed: the real `docker-compose config` (Debian's docker-compose 1.x,
installed by `make setup`) parses, validates and normalises the file without a daemon, and the
assertions read its output. What the compose stack must match is read from its sources
(scripts/run-local.sh, the chart rendered by helm), never from a copy in this test.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.support.helm import ROOT

COMPOSE_FILE = ROOT / "docker-compose.yml"
RUN_LOCAL = ROOT / "scripts/run-local.sh"
RULES = Path("deploy/prometheus/redis-queue.rules.yaml")
# The Redis settings the queue's durability rests on (docs/local-stack.md).
DURABILITY_FLAGS = ("appendonly", "appendfsync", "maxmemory-policy", "save")


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    """`docker-compose config` output for a shell with none of the stack's overrides set."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail(
            "docker-compose is not installed: run `make setup` (apt package docker-compose)"
        )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RUN_", "AI_AGENTS_", "COMPOSE_", "DOCKER_"))
    }
    # Nothing listens there: `config` must not need an engine.
    env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"
    result = subprocess.run(
        [binary, "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE), "config"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    parsed: dict[str, Any] = yaml.safe_load(result.stdout)
    return parsed


def script_defaults() -> dict[str, str]:
    """run-local.sh's own variables: ``NAME=${RUN_X:-default}`` and ``NAME=value`` lines."""
    values: dict[str, str] = {}
    for match in re.finditer(
        r"^([A-Z_]+)=(?:\$\{RUN_[A-Z_]+:-([^}]*)\}|([\w.:]+))\s*(?:#.*)?$",
        RUN_LOCAL.read_text(),
        re.MULTILINE,
    ):
        values[match[1]] = match[2] if match[2] is not None else match[3]
    return values


def expand(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: variables[m[1]], text)


def script_section(title: str) -> str:
    """The text of run-local.sh between ``# --- <title>`` and the next section."""
    match = re.search(rf"^# --- {title} -+\n(.*?)^# ---", RUN_LOCAL.read_text(), re.S | re.M)
    assert match, f"scripts/run-local.sh has no '# --- {title}' section"
    return match[1]


def exporter_env_of_make_run() -> dict[str, str]:
    """The ``AI_AGENTS_*`` assignments run-local.sh puts in front of the exporter, expanded."""
    section = script_section("exporter")
    assignments = dict(re.findall(r"(AI_AGENTS_\w+)=(\"[^\"]*\"|\S+)", section))
    assert assignments, "no AI_AGENTS_* assignments found in run-local.sh's exporter section"
    variables = script_defaults()
    return {key: expand(value.strip('"'), variables) for key, value in assignments.items()}


def redis_flags_of_make_run() -> dict[str, str]:
    words = shlex.split(script_section("redis-server").replace("\\\n", " "))
    start = words.index("redis-server")
    flags = {}
    for flag, value in zip(words[start + 1 :: 2], words[start + 2 :: 2], strict=False):
        if flag.startswith("--"):
            flags[flag.removeprefix("--")] = value
    return flags


def compose_flags(command: list[str]) -> dict[str, str]:
    return {
        flag.removeprefix("--"): value
        for flag, value in zip(command[::2], command[1::2], strict=False)
        if flag.startswith("--")
    }


def published(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(host ip, host port, container port) of each ``ports`` entry."""
    out = []
    for entry in service.get("ports", []):
        host_ip, host_port, container = str(entry).rsplit("/", 1)[0].split(":")
        out.append((host_ip, host_port, container))
    return out


def mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path (relative to the repository) of each bind mount."""
    return {
        spec.split(":")[1]: Path(spec.split(":")[0]).relative_to(ROOT)
        for spec in service["volumes"]
        if spec.startswith("/")
    }


def test_the_stack_is_redis_exporter_prometheus_and_an_optional_grafana(
    config: dict[str, Any],
) -> None:
    services = config["services"]
    assert sorted(services) == ["exporter", "grafana", "prometheus", "redis"]
    # Only `docker compose --profile grafana up` starts Grafana; a plain `up` is make run's three.
    assert [name for name, service in services.items() if "profiles" in service] == ["grafana"]
    assert services["grafana"]["profiles"] == ["grafana"]
    assert services["redis"]["image"] == "redis:7.2-alpine"
    image = services["prometheus"]["image"]
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", image), f"unpinned: {image}"
    image = services["grafana"]["image"]
    assert re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", image), f"unpinned: {image}"
    # Built like `make images`: the repository root is the context (.dockerignore allow-list).
    assert services["exporter"]["build"] == {
        "context": str(ROOT),
        "dockerfile": "exporter/Dockerfile",
    }


def test_redis_has_the_durability_of_make_run_on_a_named_volume(config: dict[str, Any]) -> None:
    redis = config["services"]["redis"]
    expected = {flag: redis_flags_of_make_run()[flag] for flag in DURABILITY_FLAGS}
    assert expected["appendonly"] == "yes"  # the source is the script; this checks the parse
    flags = compose_flags(redis["command"])
    assert {flag: flags.get(flag) for flag in DURABILITY_FLAGS} == expected
    assert "redis-data" in config["volumes"]
    assert f"redis-data:{flags['dir']}:rw" in redis["volumes"]


def test_the_password_is_a_secret_not_text_in_the_file(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        keys = [key for key in service.get("environment", {}) if "PASSWORD" in key]
        assert all(key.endswith("_PASSWORD_FILE") for key in keys), name
        assert "--requirepass" not in service.get("command", []), name
    secret = config["secrets"]["redis_password"]
    assert secret == {"file": str(ROOT / "deploy/compose/redis-password")}
    assert (ROOT / "deploy/compose/.gitignore").read_text().split() == ["/redis-password"]
    for name in ("redis", "exporter"):
        assert {"source": "redis_password"} in config["services"][name]["secrets"]
    env = config["services"]["exporter"]["environment"]
    assert env["AI_AGENTS_REDIS_PASSWORD_FILE"] == "/run/secrets/redis_password"
    assert urlsplit(env["AI_AGENTS_REDIS_URL"]).password is None


def test_every_port_is_the_make_run_default_on_loopback_only(config: dict[str, Any]) -> None:
    defaults = script_defaults()
    listens = {
        "redis": ("REDIS_PORT", "6379"),
        "exporter": ("EXPORTER_PORT", defaults["EXPORTER_PORT"]),
        "prometheus": ("PROMETHEUS_PORT", "9090"),
    }
    for name, (variable, container_port) in listens.items():
        host = defaults["HOST"]
        assert published(config["services"][name]) == [
            (host, defaults[variable], container_port)
        ], name
    assert defaults["HOST"] == "127.0.0.1"
    # Grafana is not part of make run; its port follows the same rule.
    assert published(config["services"]["grafana"]) == [(defaults["HOST"], "3000", "3000")]


def test_the_exporter_gets_the_settings_of_make_run(config: dict[str, Any]) -> None:
    """Same variables and values as run-local.sh sets, except where a container must differ:
    it listens on all of its own interfaces (only the published port is on loopback) and finds
    Redis by its service name."""
    make_run = exporter_env_of_make_run()
    env = config["services"]["exporter"]["environment"]
    passed_through = {
        "AI_AGENTS_QUEUES",
        "AI_AGENTS_SCRAPE_DEADLINE_SECONDS",
        "AI_AGENTS_LOG_LEVEL",
    }
    assert set(env) == set(make_run) | passed_through | {"AI_AGENTS_REDIS_PASSWORD_FILE"}
    # Unset in the shell, they stay unset in the container: the exporter's defaults apply,
    # as with make run (docs/local-stack.md, Settings).
    assert {key: env[key] for key in passed_through} == dict.fromkeys(passed_through)
    assert env["AI_AGENTS_EXPORTER_PORT"] == make_run["AI_AGENTS_EXPORTER_PORT"]
    assert make_run["AI_AGENTS_EXPORTER_HOST"] == "127.0.0.1"
    assert env["AI_AGENTS_EXPORTER_HOST"] == "0.0.0.0"
    url, local = urlsplit(env["AI_AGENTS_REDIS_URL"]), urlsplit(make_run["AI_AGENTS_REDIS_URL"])
    assert (url.scheme, url.port, url.path) == (local.scheme, local.port, local.path)
    assert url.hostname == "redis"


def test_the_exporter_runs_read_only_as_non_root_after_redis_is_healthy(
    config: dict[str, Any],
) -> None:
    services = config["services"]
    exporter = services["exporter"]
    assert exporter["read_only"] is True
    assert exporter["user"] == "10001:10001"
    assert exporter["depends_on"] == {"redis": {"condition": "service_healthy"}}
    assert services["prometheus"]["depends_on"] == {"exporter": {"condition": "service_healthy"}}
    assert services["grafana"]["depends_on"] == {"prometheus": {"condition": "service_healthy"}}
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
        assert service["user"] not in {"root", "0", "0:0"}, name
        assert service["cap_drop"] == ["ALL"], name
        assert service["read_only"] is True, name


def test_prometheus_evaluates_the_rules_the_chart_renders(config: dict[str, Any]) -> None:
    """The mounted rule file is the chart's (codegen keeps it current, test_generated checks
    that), and its exporter matchers select the series the compose scrape job labels."""
    prometheus = config["services"]["prometheus"]
    mounted = mounts(prometheus)
    settings = compose_flags([a for arg in prometheus["command"] for a in arg.split("=", 1)])
    scrape = yaml.safe_load((ROOT / mounted[settings["config.file"]]).read_text())
    rule_files = scrape["rule_files"]
    assert [mounted[path] for path in rule_files] == [RULES]

    from codegen.deploy import rule_file  # the chart rendered by helm, as `make generate` does

    assert (ROOT / RULES).read_text() == rule_file()
    groups = yaml.safe_load((ROOT / RULES).read_text())["groups"]
    assert groups, "the chart rendered no rules"
    (job,) = scrape["scrape_configs"]
    (target,) = job["static_configs"]
    assert target["targets"] == [
        f"exporter:{exporter_env_of_make_run()['AI_AGENTS_EXPORTER_PORT']}"
    ]
    for group in groups:
        for rule in group["rules"]:
            for label, value in re.findall(r'(namespace|service)="([^"]*)"', rule["expr"]):
                assert target["labels"][label] == value, rule.get("alert")


def test_promtool_accepts_the_compose_prometheus_files(
    config: dict[str, Any], tmp_path: Path
) -> None:
    """The files as the container sees them: the config with its mounted rule path."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: run `make setup` (apt package prometheus)")
    mounts = {
        spec.split(":")[1]: Path(spec.split(":")[0])
        for spec in config["services"]["prometheus"]["volumes"]
        if spec.startswith("/")
    }
    for container_path, host_path in mounts.items():
        target = tmp_path / container_path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            host_path.read_text().replace("/etc/prometheus/", f"{tmp_path}/etc/prometheus/")
        )
    result = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "etc/prometheus/prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rules = yaml.safe_load((ROOT / RULES).read_text())["groups"]
    count = sum(len(group["rules"]) for group in rules)
    assert f"SUCCESS: {count} rules found" in result.stdout, result.stdout  # all loaded


def test_grafana_loads_the_generated_dashboard_from_the_compose_prometheus(
    config: dict[str, Any],
) -> None:
    """The provisioning files Grafana reads point at the generated dashboard's mount and at the
    compose Prometheus; every mount is read-only."""
    from codegen.dashboard import dashboard
    from codegen.targets import DASHBOARDS
    from codegen.text import json_text

    services = config["services"]
    grafana = services["grafana"]
    mounted = mounts(grafana)
    assert all(spec.endswith(":ro") for spec in grafana["volumes"] if spec.startswith("/")), (
        grafana["volumes"]
    )
    provisioning = "/etc/grafana/provisioning"
    (providers_path,) = [p for p in mounted if p.startswith(f"{provisioning}/dashboards/")]
    (datasources_path,) = [p for p in mounted if p.startswith(f"{provisioning}/datasources/")]

    # The dashboard: the file `make generate` writes (deploy/grafana/), where the provider looks.
    generated = DASHBOARDS[0]
    assert generated.parts[:2] == ("deploy", "grafana")
    (dashboard_path,) = [path for path, host in mounted.items() if host == generated]
    assert (ROOT / generated).read_text() == json_text(dashboard())
    (provider,) = yaml.safe_load((ROOT / mounted[providers_path]).read_text())["providers"]
    assert provider["type"] == "file"
    assert Path(dashboard_path).parent == Path(provider["options"]["path"])
    env = grafana["environment"]
    assert env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"] == dashboard_path

    # The data source: the compose Prometheus service at the port it listens on in its container.
    (source,) = yaml.safe_load((ROOT / mounted[datasources_path]).read_text())["datasources"]
    prometheus = services["prometheus"]
    settings = compose_flags([a for arg in prometheus["command"] for a in arg.split("=", 1)])
    listen_port = settings["web.listen-address"].rsplit(":", 1)[1]
    url = urlsplit(source["url"])
    assert (url.hostname, str(url.port)) == ("prometheus", listen_port)
    assert source["isDefault"] is True
    # The dashboard's "Data source" variable lists data sources of this type.
    (variable,) = [v for v in dashboard()["templating"]["list"] if v["type"] == "datasource"]
    assert source["type"] == variable["query"]
