"""The console scripts as a person runs them: monitoring agreement, bad input, secrets."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.integration.exporter.scrape import depth, parse
from tests.support.processes import (
    ExporterProcess,
    PrometheusServer,
    RedisServer,
    scrape_config,
    wait_until,
)

StartExporter = Callable[..., ExporterProcess]
QUEUE = "enhancement:queue"


def script(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def clean_env(**env: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AI_AGENTS_")}
    return base | env


def run(program: str, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    """Run one of our console scripts with only the given AI_AGENTS_* settings."""
    return subprocess.run(
        [script(program), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=clean_env(**env),
        timeout=30,
    )


def run_queuectl(
    server: RedisServer, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {"AI_AGENTS_REDIS_URL": server.url}
    if server.password:
        env["AI_AGENTS_REDIS_PASSWORD"] = server.password
    return run("queuectl", *args, stdin=stdin, **env)


def queuectl(server: RedisServer, *args: str, stdin: str = "") -> Any:
    done = run_queuectl(server, *args, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_queuectl_rejects_an_invalid_job_naming_the_field(redis_server: RedisServer) -> None:
    done = run_queuectl(redis_server, "push", '{"tenant_id": "t", "description": "no ticket"}')
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip() == "queuectl: job 1: ticket_id: Field required"
    assert redis_server.cli("LLEN", QUEUE) == "0"  # nothing half-pushed


@pytest.mark.parametrize("value", ["0", "5", "7.5", "-1", "nan", "soon"])
def test_queuectl_block_seconds_out_of_range_names_the_flag_and_range(
    redis_server: RedisServer, value: str
) -> None:
    done = run_queuectl(redis_server, "pop", "--block-seconds", value)
    assert done.returncode == 2
    assert "--block-seconds" in done.stderr
    assert "above 0 and below 5" in done.stderr
    assert "Traceback" not in done.stderr


def test_queuectl_on_a_non_list_key_says_so_and_exits_2(redis_server: RedisServer) -> None:
    redis_server.cli("SET", QUEUE, "oops")
    job = json.dumps({"tenant_id": "t", "ticket_id": "TKT-1", "description": "d"})
    for args in (("push", job), ("pop", "--block-seconds", "0.1"), ("peek",)):
        done = run_queuectl(redis_server, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.splitlines()[-1] == (
            f"queuectl: queue {QUEUE} holds a non-list value (check: redis-cli TYPE {QUEUE})"
        )
        assert "unavailable" not in done.stderr
    assert redis_server.cli("GET", QUEUE) == "oops"
    # depth and stats report it as data (null depth and the error), not as a failure.
    assert queuectl(redis_server, "depth")[QUEUE] is None


def test_queuectl_refuses_to_consume_a_dead_letter_list(redis_server: RedisServer) -> None:
    entry = json.dumps(
        {"payload": "{bad", "reason": "Invalid JSON", "queue": QUEUE, "timestamp": "x"}
    )
    redis_server.cli("LPUSH", "enhancement:dlq", entry)
    done = run_queuectl(redis_server, "pop", "--queue", "enhancement:dlq")
    assert done.returncode == 2
    assert "enhancement:dlq is a dead-letter list" in done.stderr
    assert redis_server.cli("LRANGE", "enhancement:dlq", "0", "-1") == entry  # untouched
    assert redis_server.cli("EXISTS", "enhancement:dlq:dlq") == "0"


@pytest.mark.parametrize(
    ("command", "default"),
    [
        ("push", "the first configured queue"),
        ("pop", "the first configured queue"),
        ("peek", "the first configured queue"),
        ("depth", "every configured queue"),
        ("stats", "every configured queue"),
    ],
)
def test_queuectl_help_says_which_queues_a_command_reads_by_default(
    command: str, default: str
) -> None:
    done = run("queuectl", command, "--help")
    assert done.returncode == 0, done.stderr
    assert f"(default: {default})" in " ".join(done.stdout.split())


def test_queuectl_stats_never_shows_a_negative_age(redis_server: RedisServer) -> None:
    """A producer whose clock runs ahead stamps jobs in the future: the age is 0, as in the
    exporter's redis_queue_oldest_job_age_seconds, not negative."""
    ahead = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    job = {"tenant_id": "t", "ticket_id": "TKT-1", "description": "d", "timestamp": ahead}
    redis_server.cli("LPUSH", QUEUE, json.dumps(job))
    stats = queuectl(redis_server, "stats", "--queue", QUEUE)
    assert stats["queues"] == [
        {"queue": QUEUE, "depth": 1, "oldest_job_age_seconds": 0.0, "error": None, "usage": None}
    ]


def test_exporter_port_already_in_use_exits_1_with_a_clear_message(
    redis_server: RedisServer,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run(
            "queue-exporter",
            AI_AGENTS_REDIS_URL=redis_server.url,
            AI_AGENTS_EXPORTER_HOST="127.0.0.1",
            AI_AGENTS_EXPORTER_PORT=str(port),
        )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    error = json.loads(done.stderr.splitlines()[-1])
    assert error["level"] == "ERROR"
    assert "is the port taken?" in error["message"]
    assert "AI_AGENTS_EXPORTER_PORT" in error["message"]
    assert error["port"] == port
    assert "address already in use" in error["error"]


def test_redis_cli_queuectl_and_metrics_agree(
    redis_server: RedisServer, start_exporter: StartExporter
) -> None:
    """Story AC 6: the depth and order a person reads with redis-cli is what tools report."""
    lines = "\n".join(
        json.dumps({"tenant_id": "t", "ticket_id": f"TKT-{n}", "description": f"désc {n}"})
        for n in range(7)
    )
    pushed = queuectl(redis_server, "push", "-", stdin=lines)
    assert pushed["depth"] == 7

    exporter = start_exporter(redis_server.url)
    llen = int(redis_server.cli("LLEN", QUEUE))
    assert llen == 7
    assert queuectl(redis_server, "depth") == {QUEUE: 7, "enhancement:dlq": 0}
    assert depth(parse(exporter.get("/metrics")[1]), QUEUE) == 7.0

    # LRANGE lists newest first (LPUSH side); processing order is its reverse, as peek shows.
    listed = redis_server.cli("LRANGE", QUEUE, "0", "-1").splitlines()
    next_first = [json.loads(raw)["job_id"] for raw in reversed(listed)]
    assert [j["job_id"] for j in queuectl(redis_server, "peek", "--count", "7")["jobs"]] == (
        next_first
    )
    assert next_first == pushed["pushed"]
    assert json.loads(redis_server.cli("LINDEX", QUEUE, "-1"))["job_id"] == next_first[0]

    popped = queuectl(redis_server, "pop")
    assert popped["job"]["job_id"] == next_first[0]
    assert popped["job"]["description"] == "désc 0"
    stats = queuectl(redis_server, "stats")
    assert stats["queues"][0] == {
        "queue": QUEUE,
        "depth": 6,
        "oldest_job_age_seconds": stats["queues"][0]["oldest_job_age_seconds"],
        "error": None,
        "usage": {
            "enqueued": 7,
            "acked": 1,  # the pop
            "dead_lettered": 0,
            "workers_registered": 0,
            "workers_live": 0,
            "in_flight": 0,
            "oldest_in_flight_age_seconds": None,
        },
    }
    assert stats["aof"]["enabled"] is True
    assert redis_server.cli("LLEN", QUEUE) == "6"
    assert redis_server.cli("HGET", f"{QUEUE}:stats", "enqueued") == "7"
    assert redis_server.cli("HGET", f"{QUEUE}:stats", "acked") == "1"


def test_prometheus_scrapes_the_right_depth(
    redis_server: RedisServer,
    start_exporter: StartExporter,
    start_prometheus: Callable[..., PrometheusServer],
) -> None:
    for _ in range(3):
        redis_server.cli("LPUSH", QUEUE, *[f"job-{n}" for n in range(14)])
    exporter = start_exporter(redis_server.url)
    prometheus = start_prometheus(scrape_config(exporter.port))

    def depth_in_prometheus() -> bool:
        result = prometheus.query(f'redis_queue_depth{{queue="{QUEUE}"}}')
        return bool(result) and result[0]["value"][1] == "42"

    wait_until(depth_in_prometheus, timeout=30, what="Prometheus to scrape depth 42")
    assert prometheus.query("redis_queue_up")[0]["value"][1] == "1"


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"AI_AGENTS_REDIS_URL": "localhost:6379"}, "AI_AGENTS_REDIS_URL"),
        ({"AI_AGENTS_QUEUES": ""}, "AI_AGENTS_QUEUES"),
        ({"AI_AGENTS_EXPORTER_PORT": "70000"}, "AI_AGENTS_EXPORTER_PORT"),
        ({"AI_AGENTS_SCRAPE_DEADLINE_SECONDS": "12"}, "AI_AGENTS_SCRAPE_DEADLINE_SECONDS"),
        ({"AI_AGENTS_REDIS_PASSWORD_FILE": "/nonexistent/pw"}, "AI_AGENTS_REDIS_PASSWORD_FILE"),
    ],
)
def test_invalid_settings_exit_2_with_one_clear_message(env: dict[str, str], setting: str) -> None:
    done = run("queue-exporter", **env)
    assert done.returncode == 2
    assert done.stdout == ""
    message = done.stderr.strip()
    assert message.startswith("queue-exporter: ")
    assert setting in message
    assert "Fix:" in message or "keep" in message or "file" in message
    assert "Traceback" not in message


@pytest.mark.parametrize("program", ["queue-exporter", "queuectl"])
def test_an_unusable_password_file_exits_2_naming_the_setting(tmp_path: Path, program: str) -> None:
    secret = tmp_path / "password"
    secret.write_bytes(b"\xff\xfe\n")  # not UTF-8: read_text raised in the pool before
    args = ["depth"] if program == "queuectl" else []
    done = run(program, *args, AI_AGENTS_REDIS_PASSWORD_FILE=str(secret))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(f"{program}: invalid setting AI_AGENTS_REDIS_PASSWORD_FILE")
    assert "not UTF-8" in done.stderr


def test_invalid_flag_value_exits_2_for_queuectl_too() -> None:
    done = run("queuectl", "--redis-url", "http://h", "depth")
    assert done.returncode == 2
    assert "AI_AGENTS_REDIS_URL (--redis-url)" in done.stderr


def leaked_forms(password: str) -> list[str]:
    """The password as is, JSON-escaped, percent-encoded, and each piece around / @ " \\."""
    pieces = [p for p in re.split(r'[/@"\\]', password) if len(p) >= 4]
    return list({password, json.dumps(password)[1:-1], quote(password, safe=""), *pieces})


@pytest.mark.parametrize(
    "password",
    ["Pa55-never-logged", "s3cr/et+pw", "p@ss@w0rd9", 'pa"ss\\w0rd9'],
    ids=["plain", "slash", "at-signs", "quote-backslash"],
)
def test_password_never_appears_in_logs_or_errors(
    tmp_path: Path, start_exporter: StartExporter, password: str
) -> None:
    server = RedisServer(data_dir=tmp_path / "auth", password=password).start()
    try:
        url_with_password = f"redis://:{quote(password, safe='')}@127.0.0.1:{server.port}/0"
        # As a person would paste it, special characters not escaped: for "/" not a valid URL.
        raw_url = f"redis://:{password}@127.0.0.1:{server.port}/0"
        by_env = start_exporter(
            server.url, AI_AGENTS_REDIS_PASSWORD=password, AI_AGENTS_LOG_LEVEL="DEBUG"
        )
        by_url = start_exporter(url_with_password, AI_AGENTS_LOG_LEVEL="DEBUG")
        wrong = start_exporter(server.url, AI_AGENTS_REDIS_PASSWORD=password + "-wrong")
        for exporter in (by_env, by_url):
            assert parse(exporter.get("/metrics")[1])[("redis_queue_up", ())] == 1.0
            # The DEBUG access log quotes the request line: a secret in it must be scrubbed
            # even where JSON escapes its quotes and backslashes.
            assert exporter.get("/" + password)[0] == 404  # sent unescaped, as typed
        assert parse(wrong.get("/metrics")[1])[("redis_queue_up", ())] == 0.0
        server.kill()
        outputs = []
        for exporter in (by_env, by_url, wrong):
            body = exporter.get("/metrics")[1]
            assert parse(body)[("redis_queue_up", ())] == 0.0
            outputs += [body, exporter.get("/")[1]]
        for exporter in (by_env, by_url, wrong):
            exporter.stop()
            assert exporter.log_path is not None
            outputs.append(exporter.log_path.read_text())
        bad = run(
            "queue-exporter",
            AI_AGENTS_REDIS_URL=url_with_password,
            AI_AGENTS_REDIS_PASSWORD="other",
        )
        assert bad.returncode == 2
        down = run("queuectl", "depth", AI_AGENTS_REDIS_URL=url_with_password)
        assert down.returncode == 1
        pasted = run("queue-exporter", AI_AGENTS_REDIS_URL=raw_url, AI_AGENTS_EXPORTER_PORT="0")
        assert pasted.returncode == 2  # a bad URL, or (URL fine) port 0 refused
        pasted_ctl = run("queuectl", "depth", AI_AGENTS_REDIS_URL=raw_url)
        assert pasted_ctl.returncode == (2 if "/" in password else 1), pasted_ctl.stderr
        outputs += [bad.stderr, down.stderr, down.stdout, pasted.stderr, pasted_ctl.stderr]
    finally:
        server.kill()
    joined = "\n".join(outputs)
    assert "redis://:***@127.0.0.1" in joined  # the URL is logged, masked
    for form in leaked_forms(password):
        assert form not in joined, f"{form!r} leaked"
