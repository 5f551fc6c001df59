"""``python -m queue_exporter.selftest`` (the chart's ``helm test``) against real redis-server and
queue-exporter processes: every check passing, each failing with a message naming what failed,
and the password never printed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.helm import Helm
from tests.support.processes import ExporterProcess, RedisServer, free_port, wait_until

StartExporter = Callable[..., ExporterProcess]
PASSWORD = "s3cr3t p@ss/wörd"  # spaces, @ and / : what a URL would mangle
WRONG = "not-the-password"
QUEUE = "enhancement:queue"
JOB = '{"job_id":"real-1","tenant_id":"t","ticket_id":"T-1","description":"keep me"}'


@pytest.fixture
def auth_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server started with ``requirepass``, as the operator starts Redis."""
    server = RedisServer(data_dir=tmp_path / "auth-redis", password=PASSWORD).start()
    try:
        yield server
    finally:
        server.kill()


def selftest(command: list[str] | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the module as the hook Pod does, with only the given AI_AGENTS_* settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AI_AGENTS_")}
    return subprocess.run(
        command or [sys.executable, "-m", "queue_exporter.selftest"],
        capture_output=True,
        text=True,
        env=clean | env,
        timeout=60,
    )


def lines(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """``{check: status}`` from the output, e.g. ``{"ping": "ok", "canary": "skip"}``."""
    found = {}
    for line in done.stdout.splitlines():
        status, _, rest = line.partition(" ")
        if status in ("ok", "FAIL", "skip"):
            found[rest.strip().split(":", 1)[0]] = status
    return found


def assert_no_secret(done: subprocess.CompletedProcess[str], *secrets: str) -> None:
    for secret in secrets:
        for stream in (done.stdout, done.stderr):
            assert secret not in stream
            for part in secret.split():  # not even a piece of it
                assert part not in stream


def exporter_up(exporter: ExporterProcess) -> bool:
    status, body = exporter.get("/metrics")
    return status == 200 and "\nredis_queue_up 1" in body


def test_every_check_passes_and_leaves_only_the_real_queue(
    auth_redis: RedisServer, start_exporter: StartExporter
) -> None:
    auth_redis.cli("LPUSH", QUEUE, JOB)
    exporter = start_exporter(auth_redis.url, AI_AGENTS_REDIS_PASSWORD=PASSWORD)
    wait_until(lambda: exporter_up(exporter), what="the exporter to see Redis")
    done = selftest(
        AI_AGENTS_REDIS_URL=auth_redis.url,
        AI_AGENTS_REDIS_PASSWORD=PASSWORD,
        AI_AGENTS_EXPORTER_METRICS_URL=exporter.base_url + "/metrics",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert lines(done) == {"ping": "ok", "auth": "ok", "canary": "ok", "metrics": "ok"}
    assert "queue_exporter.selftest: 4 checks passed" in done.stdout
    assert "redis_queue_up 1" in done.stdout
    assert "redis-queue:selftest:" in done.stdout
    assert_no_secret(done, PASSWORD)
    # The canary went to a scratch key and was removed; the real queue was not touched.
    assert auth_redis.cli("KEYS", "*") == QUEUE
    assert auth_redis.cli("LRANGE", QUEUE, "0", "-1") == JOB


def test_wrong_password_fails_ping_clearly_and_never_prints_a_password(
    auth_redis: RedisServer, start_exporter: StartExporter
) -> None:
    exporter = start_exporter(auth_redis.url, AI_AGENTS_REDIS_PASSWORD=PASSWORD)
    wait_until(lambda: exporter_up(exporter), what="the exporter to see Redis")
    done = selftest(
        AI_AGENTS_REDIS_URL=auth_redis.url,
        AI_AGENTS_REDIS_PASSWORD=WRONG,
        AI_AGENTS_EXPORTER_METRICS_URL=exporter.base_url + "/metrics",
    )
    assert done.returncode == 1
    # Redis checks stop at the failed PING; the exporter check is independent and still runs.
    assert lines(done) == {"ping": "FAIL", "auth": "skip", "canary": "skip", "metrics": "ok"}
    (ping,) = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
    assert f"Redis at {auth_redis.url} refused the client, which sent a password" in ping
    assert "AI_AGENTS_REDIS_PASSWORD" in ping  # where to look
    assert done.stderr.strip().endswith("queue_exporter.selftest: FAILED: ping")
    assert_no_secret(done, WRONG, PASSWORD)
    assert auth_redis.cli("DBSIZE") == "0"


def test_no_password_against_a_protected_redis_fails_ping(auth_redis: RedisServer) -> None:
    done = selftest(AI_AGENTS_REDIS_URL=auth_redis.url)
    assert done.returncode == 1
    assert lines(done)["ping"] == "FAIL"
    assert "refused the client, which sent no password" in done.stdout


def test_password_in_the_url_is_masked(auth_redis: RedisServer) -> None:
    url = f"redis://:{WRONG}@127.0.0.1:{auth_redis.port}/0"
    done = selftest(AI_AGENTS_REDIS_URL=url)
    assert done.returncode == 1
    assert f"redis://:***@127.0.0.1:{auth_redis.port}/0" in done.stdout
    assert_no_secret(done, WRONG)


def test_redis_that_answers_without_credentials_fails_the_auth_check(
    redis_server: RedisServer,
) -> None:
    """A password that works proves nothing if Redis also serves anonymous clients."""
    user = "worker"
    redis_server.cli("ACL", "SETUSER", user, "on", f">{PASSWORD}", "~*", "&*", "+@all")
    done = selftest(
        AI_AGENTS_REDIS_URL=f"redis://{user}@127.0.0.1:{redis_server.port}/0",
        AI_AGENTS_REDIS_PASSWORD=PASSWORD,
    )
    assert done.returncode == 1, done.stdout
    assert lines(done) == {"ping": "ok", "auth": "FAIL", "canary": "ok", "metrics": "skip"}
    assert "answers a client that sent no credentials" in done.stdout
    assert done.stderr.strip().endswith("FAILED: auth")
    assert_no_secret(done, PASSWORD)


def test_redis_without_auth_passes_with_the_auth_check_skipped(redis_server: RedisServer) -> None:
    """A developer's local Redis: no password configured, so there is nothing to enforce."""
    done = selftest(AI_AGENTS_REDIS_URL=redis_server.url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert lines(done) == {"ping": "ok", "auth": "skip", "canary": "ok", "metrics": "skip"}


def test_exporter_that_cannot_reach_redis_fails_the_metrics_check(
    auth_redis: RedisServer, start_exporter: StartExporter
) -> None:
    exporter = start_exporter(auth_redis.url, AI_AGENTS_REDIS_PASSWORD=WRONG)
    done = selftest(
        AI_AGENTS_REDIS_URL=auth_redis.url,
        AI_AGENTS_REDIS_PASSWORD=PASSWORD,
        AI_AGENTS_EXPORTER_METRICS_URL=exporter.base_url + "/metrics",
    )
    assert done.returncode == 1
    assert lines(done) == {"ping": "ok", "auth": "ok", "canary": "ok", "metrics": "FAIL"}
    assert f"{exporter.base_url}/metrics reports redis_queue_up 0" in done.stdout
    assert "the exporter cannot reach Redis" in done.stdout
    assert_no_secret(done, WRONG, PASSWORD)


def test_unreachable_exporter_and_wrong_endpoint_fail_the_metrics_check(
    redis_server: RedisServer, start_exporter: StartExporter
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/metrics"
    done = selftest(AI_AGENTS_REDIS_URL=redis_server.url, AI_AGENTS_EXPORTER_METRICS_URL=closed)
    assert done.returncode == 1
    assert lines(done)["metrics"] == "FAIL"
    assert f"cannot reach the exporter at {closed}" in done.stdout
    exporter = start_exporter(redis_server.url)
    for path, message in [
        ("/health/live", "has no redis_queue_up sample"),
        ("/nope", "answered HTTP 404"),
    ]:
        done = selftest(
            AI_AGENTS_REDIS_URL=redis_server.url,
            AI_AGENTS_EXPORTER_METRICS_URL=exporter.base_url + path,
        )
        assert done.returncode == 1
        assert message in done.stdout


def test_unreachable_redis_fails_fast_naming_the_url(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    started = time.monotonic()
    done = selftest(AI_AGENTS_REDIS_URL=url, AI_AGENTS_REDIS_PASSWORD=PASSWORD)
    assert time.monotonic() - started < 20
    assert done.returncode == 1
    assert lines(done) == {"ping": "FAIL", "auth": "skip", "canary": "skip", "metrics": "skip"}
    assert f"cannot reach Redis at {url}" in done.stdout
    assert_no_secret(done, PASSWORD)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"AI_AGENTS_EXPORTER_METRICS_URL": "ftp://exporter/metrics"},
            "AI_AGENTS_EXPORTER_METRICS_URL",
        ),
        ({"AI_AGENTS_REDIS_URL": "http://redis:6379"}, "AI_AGENTS_REDIS_URL"),
    ],
)
def test_invalid_configuration_exits_2_naming_the_setting(
    env: dict[str, str], expected: str
) -> None:
    done = selftest(**env)
    assert done.returncode == 2
    assert expected in done.stderr
    assert done.stdout == ""


def hook_container(values: dict[str, Any] | None, tmp_path: Path) -> dict[str, Any]:
    manifests = Helm.named("helm4").template(values=values, work_dir=tmp_path)
    (pod,) = [
        m for m in manifests if m["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"
    ]
    (container,) = pod["spec"]["containers"]
    return dict(container)


@pytest.mark.parametrize("exporter", [True, False], ids=["exporter", "no-exporter"])
def test_the_charts_hook_command_and_env_pass_against_real_processes(
    auth_redis: RedisServer, start_exporter: StartExporter, tmp_path: Path, exporter: bool
) -> None:
    """The rendered Pod's command and variables, with cluster addresses swapped for loopback."""
    values = None if exporter else {"redisQueue": {"exporter": {"enabled": False}}}
    container = hook_container(values, tmp_path)
    command = list(container["command"])
    assert command[0] == "python"
    command[0] = sys.executable  # the venv's python, as the image's PATH finds /opt/venv's
    local = {"AI_AGENTS_REDIS_URL": auth_redis.url}
    if exporter:
        process = start_exporter(auth_redis.url, AI_AGENTS_REDIS_PASSWORD=PASSWORD)
        wait_until(lambda: exporter_up(process), what="the exporter to see Redis")
        local["AI_AGENTS_EXPORTER_METRICS_URL"] = process.base_url + "/metrics"
    env = {}
    for item in container["env"]:
        if "valueFrom" in item:
            assert item["valueFrom"]["secretKeyRef"]["key"] == "password"
            env[item["name"]] = PASSWORD  # what the kubelet reads from the Secret
        else:
            assert item["name"] in local, f"{item['name']} is not swapped for a local value"
            env[item["name"]] = local[item["name"]]
    assert set(env) == {*local, "AI_AGENTS_REDIS_PASSWORD"}
    done = selftest(command, **env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert lines(done) == {
        "ping": "ok",
        "auth": "ok",
        "canary": "ok",
        "metrics": "ok" if exporter else "skip",
    }
    assert_no_secret(done, PASSWORD)
