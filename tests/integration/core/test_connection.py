"""The shared connection pool against a real redis-server: its bound and its settings."""

from __future__ import annotations

import asyncio
import logging

import pytest
from redis.asyncio import BlockingConnectionPool, Redis

from queue_core.connection import MAX_CONNECTIONS, TIMEOUT_SECONDS, create_client
from queue_core.jobs import Job, encode_job
from queue_core.queue import JobQueue
from tests.integration.conftest import settings_for
from tests.support.processes import RedisServer, wait_until

QUEUE = "enhancement:queue"
CLIENT_NAME = "redis-queue-stack"


def named_clients(server: RedisServer) -> list[dict[str, str]]:
    """``CLIENT LIST`` entries of connections our library opened (it names them)."""
    entries = [
        dict(field.split("=", 1) for field in line.split(" ") if "=" in field)
        for line in server.cli("CLIENT", "LIST").splitlines()
    ]
    return [entry for entry in entries if entry.get("name") == CLIENT_NAME]


async def test_twelve_blocking_calls_share_at_most_ten_connections(
    client: Redis, redis_server: RedisServer
) -> None:
    """Ten callers hold the pool's ten connections in BRPOP; two more wait for one, none fail."""
    queue = JobQueue(client, QUEUE)
    pops = [asyncio.create_task(queue.pop(block_seconds=2.0)) for _ in range(12)]

    def ten_blocked() -> bool:
        return sum(c["cmd"] == "brpop" for c in named_clients(redis_server)) == MAX_CONNECTIONS

    await asyncio.to_thread(wait_until, ten_blocked, 10, "10 pooled connections in BRPOP")
    assert len(named_clients(redis_server)) == MAX_CONNECTIONS  # not 12: the pool is the bound
    assert not any(task.done() for task in pops)  # the two without a connection are waiting

    # A producer elsewhere (pushing through this client would wait for a connection too).
    jobs = [Job(tenant_id="t", ticket_id=f"TKT-{n}", description="d") for n in range(12)]
    redis_server.cli("LPUSH", QUEUE, *(encode_job(job) for job in jobs))
    popped = await asyncio.gather(*pops)
    assert sorted(j.ticket_id for j in popped if j is not None) == sorted(j.ticket_id for j in jobs)
    assert len(named_clients(redis_server)) <= MAX_CONNECTIONS


async def test_pool_settings_are_the_storys(client: Redis) -> None:
    """Read from the pool and from a real connection it hands out, not from our own constants."""
    pool = client.connection_pool
    assert isinstance(pool, BlockingConnectionPool)
    assert pool.max_connections == 10
    assert pool.timeout == 5.0  # how long a caller waits for a free connection
    connection = await pool.get_connection()
    try:
        await connection.connect()
        assert connection.socket_timeout == 5.0
        assert connection.socket_connect_timeout == 5.0
        assert connection.encoder.decode_responses is True
        assert connection.encoder.encoding_errors == "surrogateescape"
        assert connection.client_name == CLIENT_NAME
    finally:
        await pool.release(connection)
    assert (MAX_CONNECTIONS, TIMEOUT_SECONDS) == (10, 5.0)
    assert await client.get("missing") is None
    await client.set("k", "é")
    assert await client.get("k") == "é"  # decoded str, not bytes


async def test_no_maintenance_notification_handshake_fills_the_debug_log(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """redis-py 7+ sends CLIENT MAINT_NOTIFICATIONS on every new connection (RESP3) and logs the
    refusal of a Redis that does not know it (7.0) at DEBUG: one line per connection, forever,
    in a process run with --debug. The library's client never asks."""
    caplog.set_level(logging.DEBUG)
    for _ in range(3):
        client = create_client(settings_for(redis_server))
        try:
            await client.lpush(QUEUE, "{}")
            assert await client.llen(QUEUE) >= 1
        finally:
            await client.aclose()
    assert redis_server.cli("LLEN", QUEUE) == "3"
    assert not [r for r in caplog.records if "MAINT_NOTIFICATIONS" in r.getMessage()]
