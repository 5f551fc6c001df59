"""The status read and the generated redis.conf against a real redis-server on loopback."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest

from queue_operator.redis_conf import DATA_DIR, render_redis_conf
from queue_operator.redis_probe import probe_redis
from queue_operator.spec import parse_spec
from tests.support.processes import (
    LOOPBACK,
    RedisServer,
    free_port,
    slow_loading_redis,
    wait_until,
)

QUEUES = ["enhancement:queue", "enhancement:dlq"]


async def test_probe_reports_true_depths_and_aof(redis_server: RedisServer) -> None:
    for job in range(5):
        redis_server.cli("LPUSH", "enhancement:queue", f'{{"job_id": "{job}"}}')
    redis_server.cli("LPUSH", "enhancement:dlq", "{}")
    report = await probe_redis(LOOPBACK, redis_server.port, None, QUEUES, io_timeout=1.0)
    assert report.fields["depth"] == 5
    assert report.fields["queues"] == [
        {"name": "enhancement:queue", "depth": 5},
        {"name": "enhancement:dlq", "depth": 1},
    ]
    assert report.fields["aof"]["enabled"] is True
    assert {c.type: c.status for c in report.conditions} == {
        "Ready": "True",
        "PersistenceHealthy": "True",
    }


async def test_probe_reports_aof_off(redis_server: RedisServer) -> None:
    redis_server.cli("CONFIG", "SET", "appendonly", "no")
    report = await probe_redis(LOOPBACK, redis_server.port, None, QUEUES, io_timeout=1.0)
    persistence = report.conditions[1]
    assert (persistence.status, persistence.reason) == ("False", "AOFDisabled")


async def test_probe_reports_redis_down_as_a_condition(redis_server: RedisServer) -> None:
    redis_server.kill()
    report = await probe_redis(LOOPBACK, redis_server.port, None, QUEUES, io_timeout=1.0)
    ready = report.conditions[0]
    assert (ready.status, ready.reason) == ("False", "RedisUnreachable")
    assert report.fields["depth"] is None


async def test_a_loading_redis_is_not_ready_with_reason_loading(tmp_path: Path) -> None:
    """A real Redis loading its AOF answers -LOADING: the status says Loading and how far, not
    RedisUnreachable; once loaded it is Ready again."""
    redis_server = slow_loading_redis(tmp_path / "redis")
    try:
        redis_server.kill()
        redis_server.start(loaded=False)
        report = await probe_redis(LOOPBACK, redis_server.port, None, QUEUES, io_timeout=1.0)
        assert redis_server.loading(), "Redis finished loading before the probe"
        ready = report.conditions[0]
        assert (ready.status, ready.reason) == ("False", "Loading")
        assert "% loaded" in ready.message
        assert report.fields["depth"] is None
        wait_until(lambda: not redis_server.loading(), timeout=60, what="Redis to load")
        loaded = await probe_redis(LOOPBACK, redis_server.port, None, QUEUES, io_timeout=1.0)
        assert (loaded.conditions[0].status, loaded.conditions[0].reason) == (
            "True",
            "RedisAnswering",
        )
    finally:
        redis_server.stop()


async def test_a_frozen_redis_is_answered_by_the_short_timeout(redis_server: RedisServer) -> None:
    """A Redis that accepts connections but never replies: the read ends through its own
    timeout (TimeoutError) and becomes a condition, instead of hanging the status read."""
    redis_server.pause()
    try:
        report = await probe_redis(LOOPBACK, redis_server.port, None, QUEUES, io_timeout=0.5)
    finally:
        redis_server.resume()
    ready = report.conditions[0]
    assert (ready.status, ready.reason) == ("False", "RedisUnreachable")
    assert "Timeout" in ready.message
    assert report.fields["depth"] is None


async def test_probe_with_a_wrong_password_says_so(tmp_path: Path) -> None:
    server = RedisServer(data_dir=tmp_path / "redis", password="right").start()
    try:
        report = await probe_redis(LOOPBACK, server.port, "wrong", QUEUES, io_timeout=1.0)
        assert report.conditions[0].reason == "AuthenticationFailed"
        assert "wrong" not in report.conditions[0].message
        good = await probe_redis(LOOPBACK, server.port, "right", QUEUES, io_timeout=1.0)
        assert good.conditions[0].status == "True"
    finally:
        server.kill()


def test_generated_redis_conf_runs_a_real_redis(tmp_path: Path) -> None:
    """Redis accepts the file as written, with the password on the command line as in the pod."""
    spec = parse_spec("jobs", {"persistence": {"appendfsync": "always"}})
    port = free_port()
    data = tmp_path / "data"
    data.mkdir()
    # Only what a pod provides differently is changed: loopback, a free port, a temp data dir.
    conf = tmp_path / "redis.conf"
    conf.write_text(render_redis_conf(spec).replace(f"dir {DATA_DIR}\n", f"dir {data}\n"))
    process = subprocess.Popen(
        [
            "redis-server",
            str(conf),
            "--requirepass",
            "pw with space",
            "--port",
            str(port),
            "--bind",
            LOOPBACK,
            "--dir",
            str(data),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        server = RedisServer(data_dir=data, port=port, password="pw with space")
        wait_until(server.answers_ping, what="redis-server with the generated config")
        assert server.cli("CONFIG", "GET", "appendfsync").splitlines() == ["appendfsync", "always"]
        assert server.cli("CONFIG", "GET", "maxmemory-policy").splitlines()[1] == "noeviction"
        assert server.cli("CONFIG", "GET", "aof-load-truncated").splitlines()[1] == "yes"
        without_password = RedisServer(data_dir=data, port=port)
        assert "NOAUTH" in without_password.cli("LLEN", "enhancement:queue")
    finally:
        process.kill()
        process.wait(timeout=10)


async def test_status_reads_leave_no_maintenance_notification_noise(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Each status read opens a connection; redis-py 7+ would try CLIENT MAINT_NOTIFICATIONS on
    it and log Redis 7.0's refusal at DEBUG, once per RedisQueue per refresh with --debug."""
    caplog.set_level(logging.DEBUG)
    for _ in range(3):
        report = await probe_redis(LOOPBACK, redis_server.port, None, QUEUES, io_timeout=1.0)
        assert report.conditions[0].status == "True"
    assert not [r for r in caplog.records if "MAINT_NOTIFICATIONS" in r.getMessage()]
