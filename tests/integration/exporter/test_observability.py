"""The exporter observed like any Prometheus exporter: process_*, build info, its own scrape
counters, gzip, and an HTTP server that neither keeps slow sockets nor logs tracebacks for bad
requests. Every test talks to the real ``queue-exporter`` process over real sockets."""

from __future__ import annotations

import gzip
import json
import platform
import socket
import subprocess
import urllib.request
from collections.abc import Callable
from email.message import Message
from importlib.metadata import version
from pathlib import Path

from queue_core.connection import create_client
from queue_core.jobs import Job
from queue_core.queue import JobQueue
from tests.integration.conftest import settings_for
from tests.integration.exporter.scrape import parse
from tests.integration.exporter.test_cli import run
from tests.support.processes import (
    LOOPBACK,
    ExporterProcess,
    RedisServer,
    slow_loading_redis,
    wait_until,
)

StartExporter = Callable[..., ExporterProcess]


def promtool_check(body: str) -> None:
    check = subprocess.run(
        ["promtool", "check", "metrics"], input=body, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_process_and_build_info_metrics(
    redis_server: RedisServer, start_exporter: StartExporter
) -> None:
    exporter = start_exporter(redis_server.url)
    status, body = exporter.get("/metrics")
    assert status == 200
    promtool_check(body)
    samples = parse(body)
    assert samples[("process_resident_memory_bytes", ())] > 1_000_000
    assert (
        samples[("process_virtual_memory_bytes", ())]
        > samples[("process_resident_memory_bytes", ())]
    )
    assert samples[("process_cpu_seconds_total", ())] > 0
    assert samples[("process_open_fds", ())] >= 3
    assert samples[("process_max_fds", ())] >= samples[("process_open_fds", ())]
    assert samples[("process_start_time_seconds", ())] > 1_600_000_000
    build = (
        "redis_queue_exporter_build_info",
        (("python_version", platform.python_version()), ("version", version("redis-queue-stack"))),
    )
    assert samples[build] == 1.0


def test_scrapes_and_scrape_errors_are_counted_by_reason(
    redis_server: RedisServer, start_exporter: StartExporter
) -> None:
    exporter = start_exporter(redis_server.url)

    def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        status, body = exporter.get("/metrics")
        assert status == 200
        promtool_check(body)
        return parse(body)

    def errors(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[str, float]:
        return {
            dict(labels)["reason"]: value
            for (name, labels), value in samples.items()
            if name == "redis_queue_exporter_scrape_errors_total"
        }

    first = scrape()
    assert first[("redis_queue_exporter_scrapes_total", ())] == 1.0
    assert first[("redis_queue_exporter_last_scrape_error", ())] == 0.0
    assert set(errors(first).values()) == {0.0}  # every reason announced at 0 for rate()
    assert {"timeout", "connection", "auth", "response"} <= errors(first).keys()

    redis_server.cli("CONFIG", "SET", "requirepass", "now-required")
    redis_server.password = "now-required"
    # The exporter's pooled connection was authenticated (as no one) before: a new one is not.
    redis_server.cli("CLIENT", "KILL", "TYPE", "normal")
    auth = scrape()
    assert auth[("redis_queue_up", ())] == 0.0
    assert auth[("redis_queue_exporter_scrapes_total", ())] == 2.0
    assert auth[("redis_queue_exporter_last_scrape_error", ())] == 1.0
    assert errors(auth)["auth"] == 1.0

    redis_server.kill()
    down = scrape()
    assert down[("redis_queue_exporter_scrapes_total", ())] == 3.0
    assert errors(down)["connection"] == 1.0
    assert errors(down)["auth"] == 1.0  # a counter: the earlier error stays counted
    assert down[("redis_queue_exporter_last_scrape_error", ())] == 1.0
    # The exporter's own health is written while Redis runs the read; without a read it still is.
    for failed in (auth, down):
        assert failed[("process_open_fds", ())] >= 3
        assert any(name == "redis_queue_exporter_build_info" for name, _ in failed)


def get_metrics(exporter: ExporterProcess, accept_encoding: str) -> tuple[Message, bytes]:
    url = exporter.base_url + "/metrics"
    request = urllib.request.Request(url, headers={"Accept-Encoding": accept_encoding})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback only)
        return response.headers, response.read()


def test_gzip_when_the_scraper_asks_and_plain_otherwise(
    redis_server: RedisServer, start_exporter: StartExporter
) -> None:
    exporter = start_exporter(redis_server.url)
    # What Prometheus sends, and what a browser sends (gzip, never deflate, for both).
    for accept in ("gzip", "gzip, deflate, br"):
        headers, zipped = get_metrics(exporter, accept)
        assert headers["Content-Encoding"] == "gzip"
        assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        body = gzip.decompress(zipped).decode()
        promtool_check(body)
        assert parse(body)[("redis_queue_up", ())] == 1.0

    headers, plain = get_metrics(exporter, "identity")
    assert headers["Content-Encoding"] is None
    assert parse(plain.decode())[("redis_queue_up", ())] == 1.0


def test_slow_sockets_are_closed_after_the_header_timeout(
    redis_server: RedisServer, start_exporter: StartExporter
) -> None:
    exporter = start_exporter(redis_server.url, AI_AGENTS_EXPORTER_HEADER_TIMEOUT_SECONDS="1")
    silent = socket.create_connection((LOOPBACK, exporter.port), timeout=30)
    half = socket.create_connection((LOOPBACK, exporter.port), timeout=30)
    half.sendall(b"GET /metr")
    with silent, half:
        # recv returns b"" once the server closed the connection; a server that keeps the
        # socket raises socket.timeout after 30 s instead.
        assert silent.recv(1024) == b""
        assert half.recv(1024) == b""
    assert exporter.get("/health/live")[0] == 200


def test_an_overlong_url_is_refused_without_a_traceback(
    redis_server: RedisServer, start_exporter: StartExporter
) -> None:
    exporter = start_exporter(redis_server.url)
    with socket.create_connection((LOOPBACK, exporter.port), timeout=30) as sock:
        sock.sendall(
            b"GET /metrics?" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    assert status in (400, 414)
    assert exporter.get("/health/live")[0] == 200
    assert exporter.log_path is not None
    entries = [json.loads(line) for line in exporter.log_path.read_text().splitlines()]
    assert not [e for e in entries if "exception" in e or "Traceback" in json.dumps(e)]
    refused = [e for e in entries if e["message"] == "refused a malformed HTTP request"]
    assert len(refused) == 1
    assert refused[0]["status"] == status
    assert len(json.dumps(refused[0])) < 1000  # the 100 KB line is not copied into the log


def test_the_header_timeout_setting_is_validated() -> None:
    done = run("queue-exporter", AI_AGENTS_EXPORTER_HEADER_TIMEOUT_SECONDS="0")
    assert done.returncode == 2
    assert "AI_AGENTS_EXPORTER_HEADER_TIMEOUT_SECONDS" in done.stderr
    assert "greater than 0" in done.stderr


def test_a_refused_request_is_quiet_at_log_level_error(
    redis_server: RedisServer, start_exporter: StartExporter
) -> None:
    exporter = start_exporter(redis_server.url, AI_AGENTS_LOG_LEVEL="ERROR")
    with socket.create_connection((LOOPBACK, exporter.port), timeout=30) as sock:
        sock.sendall(b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert sock.recv(12).split(b" ")[1].startswith(b"4")
    assert exporter.get("/health/live")[0] == 200
    assert exporter.log_path is not None
    assert exporter.log_path.read_text() == ""


async def test_workers_in_flight_and_counters_of_a_queue_the_library_works(
    redis_server: RedisServer, start_exporter: StartExporter
) -> None:
    """Producers and workers of the library against a real Redis, then the real exporter's
    body: the values are what the test did, and promtool accepts the new families."""
    client = create_client(settings_for(redis_server))
    queue = JobQueue(client, "enhancement:queue")
    await queue.push_many(
        [Job(tenant_id="t", ticket_id=f"T-{n}", description="d") for n in range(4)]
    )
    worker = queue.consumer("w-1")
    first = await worker.claim(block_seconds=0.1)
    assert first is not None
    assert await worker.ack(first)
    assert await worker.claim(block_seconds=0.1) is not None  # held, not acked
    await client.rpush("enhancement:queue", "not a job")  # next in line: dead-lettered
    assert await queue.pop(block_seconds=0.1) is not None  # skips it, takes a job
    await client.aclose()

    exporter = start_exporter(redis_server.url)
    status, body = exporter.get("/metrics")
    assert status == 200
    promtool_check(body)
    samples = parse(body)
    label = (("queue", "enhancement:queue"),)
    assert {
        name: samples.get((f"redis_queue_{name}", label))
        for name in (
            "depth",
            "jobs_in_flight",
            "workers",
            "workers_registered",
            "jobs_enqueued_total",
            "jobs_acked_total",
            "jobs_dead_lettered_total",
        )
    } == {
        "depth": 1.0,
        "jobs_in_flight": 1.0,
        "workers": 1.0,
        "workers_registered": 1.0,
        "jobs_enqueued_total": 4.0,
        "jobs_acked_total": 2.0,
        "jobs_dead_lettered_total": 1.0,
    }
    assert samples[("redis_queue_oldest_in_flight_age_seconds", label)] >= 0
    # The dead-letter list itself is no library queue: no bookkeeping series for it.
    assert ("redis_queue_workers", (("queue", "enhancement:dlq"),)) not in samples


def test_a_loading_redis_is_reported_as_loading_not_just_down(
    tmp_path: Path, start_exporter: StartExporter
) -> None:
    """A real Redis restarted onto an AOF that takes seconds to load (Redis' key-load-delay):
    while it answers -LOADING the exporter says so; once loaded, loading is 0 and up is 1."""
    redis_server = slow_loading_redis(tmp_path / "redis")
    try:
        exporter = start_exporter(redis_server.url)
        redis_server.kill()
        redis_server.start(loaded=False)
        status, body = exporter.get("/metrics")
        assert redis_server.loading(), "Redis finished loading before the scrape"
        assert status == 200
        promtool_check(body)
        samples = parse(body)
        assert samples[("redis_queue_up", ())] == 0
        assert samples[("redis_queue_redis_loading", ())] == 1
        assert 0 <= samples[("redis_queue_redis_loading_loaded_ratio", ())] < 1
        assert samples[("redis_queue_exporter_scrape_errors_total", (("reason", "loading"),))] >= 1
        assert not [name for name, _ in samples if name == "redis_queue_depth"]

        wait_until(lambda: not redis_server.loading(), timeout=60, what="Redis to load")
        _, body = exporter.get("/metrics")
        loaded = parse(body)
        assert loaded[("redis_queue_up", ())] == 1
        assert loaded[("redis_queue_redis_loading", ())] == 0
        assert ("redis_queue_redis_loading_loaded_ratio", ()) not in loaded
    finally:
        redis_server.stop()
