"""The real queue-exporter over HTTP against a real Redis that is filled, killed and frozen."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from redis.asyncio import Redis

from queue_core.jobs import Job, encode_job
from tests.integration.exporter.scrape import depth, depth_series, parse
from tests.support.processes import (
    LOOPBACK,
    ExporterProcess,
    RedisServer,
    free_port,
    http_get,
    wait_until,
)

StartExporter = Callable[..., ExporterProcess]
QUEUES = "enhancement:queue,enhancement:dlq,big:queue,missing:queue"


def scrape(exporter: ExporterProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, body = exporter.get("/metrics")
    assert status == 200
    return parse(body)


def up(exporter: ExporterProcess) -> float:
    return scrape(exporter)[("redis_queue_up", ())]


def requests_read(pid: int, port: int) -> int:
    """Connections to ``port`` that process ``pid`` has accepted and read its request from.

    From ``/proc/net/tcp``: server-side sockets (local port ``port``) that are ESTABLISHED
    (state 01), whose inode is one of the process' file descriptors (accept() returned it),
    and whose receive queue is empty (the request bytes were read by the application).
    """
    owned = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            owned.add(target[len("socket:[") : -1])
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, queues, inode = fields[1], fields[3], fields[4], fields[9]
        receive_queue = int(queues.split(":")[1], 16)
        if int(local.split(":")[1], 16) == port and state == "01" and inode in owned:
            count += receive_queue == 0
    return count


def read_response(sock: socket.socket) -> tuple[int, str]:
    """Read one ``Connection: close`` HTTP/1.1 response to its end: (status, body)."""
    with sock:
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body.decode()


async def test_exact_depths_including_a_missing_key_and_100k_items(
    client: Redis, redis_server: RedisServer, start_exporter: StartExporter
) -> None:
    for start in range(0, 100_000, 10_000):
        await client.lpush("big:queue", *(f"job-{n}" for n in range(start, start + 10_000)))
    await client.lpush("enhancement:queue", *("x" * 3))
    await client.lpush("enhancement:dlq", "dead")
    exporter = start_exporter(redis_server.url, queues=QUEUES)
    samples = scrape(exporter)
    assert depth_series(samples) == {
        "enhancement:queue": 3.0,
        "enhancement:dlq": 1.0,
        "big:queue": 100_000.0,
        "missing:queue": 0.0,  # a missing key is an empty list, as LLEN says
    }
    assert samples[("redis_queue_up", ())] == 1.0
    assert samples[("redis_queue_aof_enabled", ())] == 1.0
    assert samples[("redis_queue_aof_last_write_ok", ())] == 1.0
    assert samples[("redis_queue_aof_rewrite_in_progress", ())] == 0.0
    # Durations are measured, not asserted against a bound: speed is `make bench`'s job.
    assert samples[("redis_queue_scrape_duration_seconds", ())] > 0
    assert samples[("redis_queue_ping_seconds", ())] > 0


async def test_oldest_job_age_comes_from_the_next_jobs_timestamp(
    client: Redis, redis_server: RedisServer, start_exporter: StartExporter
) -> None:
    old = Job(
        tenant_id="t",
        ticket_id="TKT-old",
        description="waiting",
        timestamp=datetime.now(UTC) - timedelta(seconds=120),
    )
    new = Job(tenant_id="t", ticket_id="TKT-new", description="fresh")
    await client.lpush("enhancement:queue", encode_job(old), encode_job(new))
    exporter = start_exporter(redis_server.url)
    samples = scrape(exporter)
    age = samples[("redis_queue_oldest_job_age_seconds", (("queue", "enhancement:queue"),))]
    assert 120 <= age < 180
    # An empty queue has no age series at all rather than a misleading 0.
    assert ("redis_queue_oldest_job_age_seconds", (("queue", "enhancement:dlq"),)) not in samples


def test_up_goes_to_zero_when_redis_dies_and_back_after_restart(
    redis_server: RedisServer, start_exporter: StartExporter
) -> None:
    redis_server.cli("LPUSH", "enhancement:queue", "a", "b")
    exporter = start_exporter(redis_server.url)
    assert depth(scrape(exporter), "enhancement:queue") == 2.0
    assert exporter.get("/health/ready") == (
        200,
        json.dumps({"status": "ready", "redis": "connected"}),
    )

    redis_server.kill()
    samples = scrape(exporter)
    assert samples[("redis_queue_up", ())] == 0.0
    assert depth_series(samples) == {}  # no made-up zeros for the autoscaler
    status, body = exporter.get("/health/ready")
    assert status == 503
    assert json.loads(body)["redis"] == "disconnected"
    assert exporter.get("/health/live")[0] == 200

    redis_server.start()
    samples = scrape(exporter)
    assert samples[("redis_queue_up", ())] == 1.0
    assert depth(samples, "enhancement:queue") == 2.0  # AOF brought the jobs back
    assert exporter.get("/health/ready")[0] == 200


def test_frozen_redis_is_answered_within_the_deadline(
    redis_server: RedisServer, start_exporter: StartExporter
) -> None:
    exporter = start_exporter(redis_server.url, AI_AGENTS_SCRAPE_DEADLINE_SECONDS="1")
    assert up(exporter) == 1.0
    redis_server.pause()
    try:
        # The client gives up after the deadline plus a generous margin (still well before
        # Prometheus' 10 s): a scrape that waited on the frozen Redis raises a timeout here.
        status, body = http_get(exporter.base_url + "/metrics", timeout=1 + 4)
        assert status == 200
        samples = parse(body)
        assert samples[("redis_queue_up", ())] == 0.0
        assert depth_series(samples) == {}
        assert exporter.get("/health/ready")[0] == 503
    finally:
        redis_server.resume()
    assert up(exporter) == 1.0


def test_ready_and_up_agree_when_ping_answers_but_the_read_misses_the_deadline(
    redis_server: RedisServer, start_exporter: StartExporter
) -> None:
    """``CLIENT PAUSE WRITE`` (what a failover does) holds every script, so the read, while
    PING still answers at once: readiness must not say "connected" when the scrape says
    ``redis_queue_up 0``."""
    exporter = start_exporter(redis_server.url, AI_AGENTS_SCRAPE_DEADLINE_SECONDS="1")
    assert up(exporter) == 1.0
    assert exporter.get("/health/ready")[0] == 200
    redis_server.cli("CLIENT", "PAUSE", "60000", "WRITE")
    try:
        assert redis_server.cli("PING") == "PONG"
        assert up(exporter) == 0.0
        status, body = exporter.get("/health/ready")
        assert status == 503
        assert json.loads(body) == {
            "status": "not ready",
            "redis": "disconnected",
            "error": "no answer within 1s",
        }
    finally:
        redis_server.cli("CLIENT", "UNPAUSE")
    assert exporter.get("/health/ready") == (
        200,
        json.dumps({"status": "ready", "redis": "connected"}),
    )
    assert up(exporter) == 1.0


def test_concurrent_scrapes_share_one_redis_read(
    redis_server: RedisServer, start_exporter: StartExporter
) -> None:
    """Eight scrapes arrive while Redis is frozen; after it thaws, Redis saw one read only.

    Redis is resumed only once the exporter has accepted all eight connections and read their
    requests (no fixed sleep: a scrape arriving after the thaw would start a second read).
    """
    exporter = start_exporter(redis_server.url, AI_AGENTS_SCRAPE_DEADLINE_SECONDS="9")
    assert up(exporter) == 1.0
    assert exporter.process is not None
    pid = exporter.process.pid
    redis_server.cli("CONFIG", "RESETSTAT")
    redis_server.pause()
    clients = []
    try:
        for _ in range(8):
            sock = socket.create_connection((LOOPBACK, exporter.port), timeout=30)
            clients.append(sock)
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        wait_until(
            lambda: requests_read(pid, exporter.port) == 8,
            timeout=5,
            what="the exporter to accept and read the 8 requests",
        )
    finally:
        redis_server.resume()
    bodies = [read_response(sock) for sock in clients]
    assert all(
        status == 200 and parse(body)[("redis_queue_up", ())] == 1.0 for status, body in bodies
    )
    stats = redis_server.cli("INFO", "commandstats")
    assert "cmdstat_ping:calls=1," in stats
    assert "cmdstat_llen:calls=2," in stats  # one LLEN per configured queue, not per scrape


def test_promtool_accepts_the_output(
    redis_server: RedisServer, start_exporter: StartExporter
) -> None:
    redis_server.cli("LPUSH", "enhancement:queue", "{}")
    redis_server.cli("SET", "not:a:list", "x")
    exporter = start_exporter(redis_server.url, queues="enhancement:queue,not:a:list")
    for alive in (True, False):
        status, body = exporter.get("/metrics")
        assert status == 200
        check = subprocess.run(
            ["promtool", "check", "metrics"], input=body, capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr
        if alive:
            redis_server.kill()


def test_a_non_list_key_is_reported_not_fatal(
    redis_server: RedisServer, start_exporter: StartExporter
) -> None:
    redis_server.cli("SET", "enhancement:queue", "oops")
    redis_server.cli("LPUSH", "enhancement:dlq", "dead")
    exporter = start_exporter(redis_server.url)
    samples = scrape(exporter)
    assert samples[("redis_queue_up", ())] == 1.0
    assert (
        samples[("redis_queue_key_error", (("error", "WRONGTYPE"), ("queue", "enhancement:queue")))]
        == 1.0
    )
    assert depth_series(samples) == {"enhancement:dlq": 1.0}
    scrape(exporter)  # logged once per change, not per scrape
    assert exporter.log_path is not None
    errors = [
        json.loads(line)
        for line in exporter.log_path.read_text().splitlines()
        if '"queue key is not a list' in line
    ]
    assert len(errors) == 1
    assert errors[0]["queue"] == "enhancement:queue"
    assert errors[0]["level"] == "ERROR"
    assert exporter.process is not None
    assert exporter.process.poll() is None


def test_starts_without_redis_and_stops_gracefully_on_sigterm(
    start_exporter: StartExporter,
) -> None:
    exporter = start_exporter(f"redis://127.0.0.1:{free_port()}/0")
    assert exporter.get("/health/live")[0] == 200
    assert up(exporter) == 0.0
    assert exporter.get("/health/ready")[0] == 503
    status, page = exporter.get("/")
    assert status == 200
    assert 'href="/metrics"' in page
    assert exporter.stop() == 0
    assert exporter.log_path is not None
    lines = [json.loads(line) for line in exporter.log_path.read_text().splitlines()]
    assert lines[-1]["message"] == "shutting down"


def test_memory_gauges_follow_config_set_maxmemory(
    redis_server: RedisServer, start_exporter: StartExporter
) -> None:
    """`CONFIG SET maxmemory 100mb` shows as 104857600 bytes; maxmemory 0 (no limit) as no
    sample at all, never a 0 that would read as "full"; both outputs pass promtool."""
    exporter = start_exporter(redis_server.url)
    redis_server.cli("CONFIG", "SET", "maxmemory", "100mb")
    _, limited = exporter.get("/metrics")
    redis_server.cli("CONFIG", "SET", "maxmemory", "0")
    _, unlimited = exporter.get("/metrics")
    for body in (limited, unlimited):
        check = subprocess.run(
            ["promtool", "check", "metrics"], input=body, capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr
    samples = parse(limited)
    assert samples[("redis_queue_redis_memory_max_bytes", ())] == 104857600
    assert samples[("redis_queue_redis_memory_used_bytes", ())] > 0
    assert samples[("redis_queue_aof_last_rewrite_ok", ())] == 1.0
    samples = parse(unlimited)
    assert ("redis_queue_redis_memory_max_bytes", ()) not in samples
    assert samples[("redis_queue_redis_memory_used_bytes", ())] > 0


def test_redis_down_has_no_memory_or_rewrite_series(
    redis_server: RedisServer, start_exporter: StartExporter
) -> None:
    exporter = start_exporter(redis_server.url)
    redis_server.cli("CONFIG", "SET", "maxmemory", "100mb")
    names = {name for name, _ in scrape(exporter)}
    new = {
        "redis_queue_redis_memory_used_bytes",
        "redis_queue_redis_memory_max_bytes",
        "redis_queue_aof_last_rewrite_ok",
    }
    assert new <= names
    redis_server.kill()
    assert not new & {name for name, _ in scrape(exporter)}
