"""Queue operations against a real redis-server: order, peek, codec, reliability, DLQ."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap

import pytest
from redis.asyncio import Redis

from queue_core.jobs import Job, Undecodable
from queue_core.queue import (
    DeadLetterListError,
    JobQueue,
    QueueKeyTypeError,
    QueueUnavailableError,
)
from tests.support.processes import RedisServer, wait_until

QUEUE = "enhancement:queue"


def make_job(n: int, **fields: object) -> Job:
    values: dict[str, object] = {
        "tenant_id": "tenant-abc",
        "ticket_id": f"TKT-{n}",
        "description": f"job {n}",
    }
    return Job.model_validate(values | fields)


async def test_push_pop_is_fifo_and_depth_is_llen(client: Redis, redis_server: RedisServer) -> None:
    queue = JobQueue(client, QUEUE)
    for n in range(5):
        assert await queue.push(make_job(n)) == n + 1
    assert await queue.depth() == 5
    assert redis_server.cli("LLEN", QUEUE) == "5"
    popped = [await queue.pop(block_seconds=0.5) for _ in range(5)]
    assert [j.ticket_id for j in popped if j] == [f"TKT-{n}" for n in range(5)]
    assert await queue.pop(block_seconds=0.2) is None
    assert await queue.depth() == 0


async def test_push_many_keeps_order_and_peek_shows_processing_order(client: Redis) -> None:
    queue = JobQueue(client, QUEUE)
    jobs = [make_job(n) for n in range(20)]
    assert await queue.push_many(jobs) == 20
    assert await queue.push_many([]) == 20
    peeked = await queue.peek(3)
    assert peeked == jobs[:3]
    assert await queue.depth() == 20  # peek does not remove
    assert await queue.peek(100) == jobs
    assert await queue.pop(block_seconds=0.5) == jobs[0]


async def test_unicode_round_trip_through_redis(client: Redis, redis_server: RedisServer) -> None:
    queue = JobQueue(client, QUEUE)
    job = make_job(1, description="Serveur très lent ☃ — 日本語 🚀", tenant_id="tenant-ü")
    await queue.push(job)
    # What a person sees with redis-cli is the same UTF-8 JSON, not \u escapes.
    assert "très lent ☃ — 日本語 🚀" in redis_server.cli("LINDEX", QUEUE, "-1")
    assert await queue.pop(block_seconds=0.5) == job


async def test_reliable_consumption_requeues_jobs_of_a_crashed_worker(
    client: Redis, redis_server: RedisServer
) -> None:
    """A real worker process claims two jobs and is SIGKILLed; its jobs come back first."""
    queue = JobQueue(client, QUEUE)
    await queue.push_many([make_job(n) for n in range(4)])
    worker = textwrap.dedent(
        f"""
        import asyncio, sys
        from queue_core.connection import create_client
        from queue_core.queue import JobQueue
        from queue_core.settings import RedisSettings

        async def main():
            client = create_client(RedisSettings(redis_url={redis_server.url!r}))
            consumer = JobQueue(client, {QUEUE!r}).consumer("doomed", lease_seconds=5.0)
            for _ in range(2):
                claim = await consumer.claim(block_seconds=0.5)
                print(claim.job.ticket_id, flush=True)
            await asyncio.sleep(60)  # "working" when the crash comes

        asyncio.run(main())
        """
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", worker, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        held = [(await process.stdout.readline()).decode().strip() for _ in range(2)]
        assert held == ["TKT-0", "TKT-1"]
    finally:
        process.kill()  # the crash: SIGKILL, no chance to release or ack
        await process.wait()
    assert await queue.depth() == 2
    assert redis_server.cli("LLEN", f"{QUEUE}:processing:doomed") == "2"

    survivor = queue.consumer("survivor", lease_seconds=2.0)
    # Nothing comes back while the dead worker's lease is still running (a 5 s lease: this
    # line is reached well within it even on a loaded machine)...
    assert await survivor.requeue_orphans() == 0
    # ...and once Redis has expired its heartbeat, the next claim re-queues its jobs first.
    # The wait is the lease itself, on Redis' clock: nothing here shortens it.
    wait_until(
        lambda: redis_server.cli("EXISTS", f"{QUEUE}:heartbeat:doomed") == "0",
        timeout=5 + 15,
        what="the dead worker's heartbeat to expire",
    )
    claims = [await survivor.claim(block_seconds=0.5) for _ in range(4)]
    assert [c.job.ticket_id for c in claims if c] == ["TKT-0", "TKT-1", "TKT-2", "TKT-3"]
    assert redis_server.cli("EXISTS", f"{QUEUE}:processing:doomed") == "0"
    assert redis_server.cli("SISMEMBER", f"{QUEUE}:workers", "doomed") == "0"
    for claim in claims:
        assert claim is not None
        assert await survivor.ack(claim) is True
        assert await survivor.ack(claim) is False  # already gone
    assert redis_server.cli("LLEN", survivor.processing) == "0"


async def test_release_hands_unfinished_jobs_back(client: Redis) -> None:
    queue = JobQueue(client, QUEUE)
    await queue.push_many([make_job(1), make_job(2)])
    consumer = queue.consumer("stopping", lease_seconds=5.0)
    claim = await consumer.claim(block_seconds=0.5)
    assert claim is not None
    assert await consumer.release() == 1
    assert [j.ticket_id for j in await queue.peek(5) if isinstance(j, Job)] == ["TKT-1", "TKT-2"]


async def test_corrupt_payloads_go_to_the_dead_letter_list_with_a_reason(
    client: Redis, redis_server: RedisServer
) -> None:
    queue = JobQueue(client, QUEUE)
    await queue.push(make_job(1))
    redis_server.cli("LPUSH", QUEUE, "{not json")
    raw_client = Redis(host="127.0.0.1", port=redis_server.port)  # bytes, as a foreign producer
    await raw_client.lpush(QUEUE, b"\xff\xfe binary")
    await raw_client.aclose()
    await queue.push(make_job(2))

    peeked = await queue.peek(10)
    assert isinstance(peeked[1], Undecodable)
    assert "Invalid JSON" in peeked[1].reason

    consumer = queue.consumer("w1", lease_seconds=5.0)
    first = await consumer.claim(block_seconds=0.5)
    second = await consumer.claim(block_seconds=0.5)
    assert first is not None
    assert second is not None
    assert [first.job.ticket_id, second.job.ticket_id] == ["TKT-1", "TKT-2"]
    # The corrupt payloads left the processing list together with their move to the DLQ.
    assert redis_server.cli("LLEN", consumer.processing) == "2"
    entries = [json.loads(e) for e in await client.lrange("enhancement:dlq", 0, -1)]
    assert len(entries) == 2
    by_payload = {e["payload"].encode("utf-8", "surrogateescape"): e for e in reversed(entries)}
    assert set(by_payload) == {b"{not json", b"\xff\xfe binary"}
    for entry in entries:
        assert entry["queue"] == QUEUE
        assert entry["reason"]
        assert entry["timestamp"].endswith("Z")
    assert "Invalid JSON" in by_payload[b"{not json"]["reason"]

    # Plain pop dead-letters too, and returns the next good job.
    redis_server.cli("RPUSH", QUEUE, "[]")
    await queue.push(make_job(3))
    popped = await queue.pop(block_seconds=0.5)
    assert popped is not None
    assert popped.ticket_id == "TKT-3"
    assert await client.llen("enhancement:dlq") == 3


async def test_redis_down_raises_queue_unavailable(
    client: Redis, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    queue = JobQueue(client, QUEUE)
    await queue.push(make_job(1))
    redis_server.kill()
    with pytest.raises(QueueUnavailableError, match="push on enhancement:queue"):
        await queue.push(make_job(2))
    record = next(r for r in caplog.records if r.getMessage() == "redis unavailable")
    assert record.__dict__["op"] == "push"
    assert record.__dict__["queue"] == QUEUE
    redis_server.start()
    assert await queue.depth() == 1  # the same client recovers once Redis is back


async def test_blocking_waits_are_bounded_below_the_socket_timeout(client: Redis) -> None:
    queue = JobQueue(client, QUEUE)
    with pytest.raises(ValueError, match="below 5"):
        await queue.pop(block_seconds=0)
    with pytest.raises(ValueError, match="shorter than the lease"):
        await queue.consumer("w", lease_seconds=1.0).claim(block_seconds=2.0)


async def test_a_non_list_key_raises_queue_key_type_error(
    client: Redis, redis_server: RedisServer
) -> None:
    redis_server.cli("SET", QUEUE, "oops")
    queue = JobQueue(client, QUEUE)
    for operation in (queue.push(make_job(1)), queue.pop(block_seconds=0.1), queue.depth()):
        with pytest.raises(QueueKeyTypeError, match=f"queue {QUEUE} holds a non-list value"):
            await operation
    with pytest.raises(QueueKeyTypeError):
        await queue.consumer("w", lease_seconds=5.0).claim(block_seconds=0.1)
    assert redis_server.cli("GET", QUEUE) == "oops"


async def test_dead_letter_lists_are_not_consumed_as_job_queues(
    client: Redis, redis_server: RedisServer
) -> None:
    redis_server.cli("LPUSH", QUEUE, "{not json")
    queue = JobQueue(client, QUEUE)
    assert await queue.pop(block_seconds=0.1) is None  # dead-lettered into enhancement:dlq
    dlq = JobQueue(client, "enhancement:dlq")
    with pytest.raises(DeadLetterListError, match="enhancement:dlq:dlq"):
        await dlq.pop(block_seconds=0.1)
    with pytest.raises(DeadLetterListError, match="is a dead-letter list"):
        dlq.consumer("w")
    assert await dlq.depth() == 1  # still there, readable with peek
    assert (
        "Invalid JSON" in json.loads(redis_server.cli("LINDEX", "enhancement:dlq", "-1"))["reason"]
    )
    assert redis_server.cli("EXISTS", "enhancement:dlq:dlq") == "0"
