"""The whole picture of a queue in the one read: counters, workers and jobs in flight.

Everything here is done through the library against a real redis-server, and the expected
numbers are what the test itself did (pushed 5, acknowledged 2, ...), not what the read said.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from queue_core import keys
from queue_core.jobs import Job, encode_job
from queue_core.queue import DeadLetters, JobQueue
from queue_core.snapshot import MAX_WORKERS_READ, PREFIX_BYTES, QueueUsage, read_snapshot
from tests.integration.core.test_scrape_cost import bytes_sent
from tests.support.processes import RedisServer

START = datetime(2025, 11, 1, 12, 0, tzinfo=UTC)
QUEUE = "enhancement:queue"


def job(n: int, description: str = "d") -> Job:
    return Job(
        tenant_id="t",
        ticket_id=f"T-{n}",
        description=description,
        timestamp=START + timedelta(minutes=n),
    )


async def usage(client: Redis, queue: str = QUEUE) -> QueueUsage | None:
    (state,) = (await read_snapshot(client, [queue])).queues
    return state.usage


async def test_a_queue_no_library_client_touched_has_no_usage(client: Redis) -> None:
    await client.lpush("other:queue", '{"timestamp":"2025-11-01T12:00:00Z"}')
    assert await usage(client, "other:queue") is None
    assert await usage(client, "missing") is None


async def test_a_named_queue_whose_bookkeeping_was_deleted_has_no_usage(client: Redis) -> None:
    queue = JobQueue(client, QUEUE)
    await queue.push(job(1))
    await queue.consumer("w").heartbeat()
    assert await usage(client) is not None
    await client.delete(keys.stats_key(QUEUE), keys.workers_key(QUEUE))  # the registry keeps it
    assert await usage(client) is None
    await client.hset(keys.stats_key(QUEUE), "unrelated", "1")  # no counter of the library's
    assert await usage(client) is None
    await client.hset(keys.stats_key(QUEUE), keys.ACKED, "2")
    assert await usage(client) == QueueUsage(0, 2, 0, 0, 0, 0, None)  # never incremented: 0


async def test_counters_workers_and_in_flight_are_what_the_workers_did(client: Redis) -> None:
    queue = JobQueue(client, QUEUE)
    await queue.push_many([job(1), job(2), job(3)])
    await queue.push(job(4))
    await queue.push(job(5))
    holder, finisher = queue.consumer("holder"), queue.consumer("finisher")
    held = await holder.claim(block_seconds=0.1)  # job 1, never acknowledged
    done = await finisher.claim(block_seconds=0.1)  # job 2
    assert held is not None
    assert done is not None
    assert await finisher.ack(done)
    taken = await queue.pop(block_seconds=0.1)  # taking it is its acknowledgement
    assert taken is not None
    assert taken.ticket_id == "T-3"
    await client.lpush(QUEUE, "not a job")  # another client's bad payload: not counted in
    await client.rpush(QUEUE, "{also not a job")  # ...and next in line
    assert await finisher.claim(block_seconds=0.1) is not None  # dead-letters it, then job 4

    assert await usage(client) == QueueUsage(
        enqueued=5,
        acked=2,
        dead_lettered=1,
        registered_workers=2,
        live_workers=2,
        in_flight=2,  # job 1 (holder) and job 4 (finisher)
        oldest_in_flight_at=START + timedelta(minutes=1),
    )


async def test_jobs_are_conserved_between_the_queue_the_workers_and_the_counters(
    client: Redis,
) -> None:
    queue = JobQueue(client, QUEUE)
    await queue.push_many([job(n) for n in range(7)])
    worker = queue.consumer("w")
    claims = [await worker.claim(block_seconds=0.1) for _ in range(3)]
    assert claims[0] is not None
    assert await worker.ack(claims[0])
    await queue.pop(block_seconds=0.1)
    snapshot = await read_snapshot(client, [QUEUE])
    (state,) = snapshot.queues
    assert state.usage is not None
    assert state.depth is not None
    assert state.usage.enqueued is not None
    assert state.usage.acked is not None
    assert state.usage.in_flight is not None
    waiting_or_held = state.depth + state.usage.in_flight
    assert waiting_or_held == state.usage.enqueued - state.usage.acked == 7 - 2


async def test_a_late_ack_of_a_requeued_job_is_not_counted(client: Redis) -> None:
    queue = JobQueue(client, QUEUE)
    await queue.push(job(1))
    slow = queue.consumer("slow")
    claim = await slow.claim(block_seconds=0.1)
    assert claim is not None
    await client.delete(keys.heartbeat_key(QUEUE, "slow"))  # what Redis does when a lease ends
    expired = await usage(client)
    assert expired is not None
    assert (expired.registered_workers, expired.live_workers, expired.in_flight) == (1, 0, 1)
    await queue.consumer("reaper").requeue_orphans()
    assert not await slow.ack(claim)
    after = await usage(client)
    assert after is not None
    assert (after.acked, after.in_flight, after.registered_workers) == (0, 0, 0)


async def test_a_requeued_dead_letter_counts_as_enqueued_again(client: Redis) -> None:
    queue = JobQueue(client, QUEUE)
    await client.lpush(QUEUE, '{"ticket_id": 1}')
    assert await queue.pop_entry(block_seconds=0.1) is not None  # dead-lettered
    dead = DeadLetters(client, QUEUE)
    (stored,) = await dead.entries()
    await dead.requeue(stored, fixed=job(1))
    counted = await usage(client)
    assert counted is not None
    assert (counted.enqueued, counted.acked, counted.dead_lettered) == (1, 0, 1)


async def test_above_the_worker_cap_only_registered_workers_are_read(client: Redis) -> None:
    await client.sadd(keys.workers_key(QUEUE), *[f"w{n}" for n in range(MAX_WORKERS_READ + 1)])
    await client.sadd(keys.QUEUES, QUEUE)  # as every library write does
    capped = await usage(client)
    # Counters start at 0 once the library is in use: increase() then sees the first event.
    assert capped == QueueUsage(0, 0, 0, MAX_WORKERS_READ + 1, None, None, None)


async def test_broken_bookkeeping_keys_never_fail_the_read(client: Redis) -> None:
    await client.set(keys.stats_key(QUEUE), "not a hash")
    await client.set(keys.workers_key(QUEUE), "not a set")
    await client.sadd(keys.QUEUES, QUEUE)
    await client.lpush(QUEUE, "x")
    (state,) = (await read_snapshot(client, [QUEUE])).queues
    assert state.depth == 1
    assert state.usage == QueueUsage(None, None, None, 0, 0, 0, None)


async def registered(client: Redis, queue: str) -> bool:
    return bool(await client.sismember(keys.QUEUES, queue))  # type: ignore[misc]  # stubs: sync


async def test_every_library_write_names_its_queue_for_the_read(client: Redis) -> None:
    """The read looks for bookkeeping only where keys.QUEUES says there is some."""
    await JobQueue(client, "pushed").push(job(1))
    await client.lpush("popped", encode_job(job(1)))  # a foreign producer...
    assert await JobQueue(client, "popped").pop(block_seconds=0.1) is not None  # ...our pop
    await client.lpush("dead", "not a job")
    assert await JobQueue(client, "dead").pop_entry(block_seconds=0.1) is not None
    await JobQueue(client, "claimed").consumer("w").heartbeat()
    await client.srem(keys.QUEUES, "dead")  # a requeued dead letter names its queue again
    (stored,) = await DeadLetters(client, "dead").entries()
    await DeadLetters(client, "dead").requeue(stored, fixed=job(2))
    for queue in ("pushed", "popped", "dead", "claimed"):
        assert await registered(client, queue), queue


async def test_an_ack_names_its_queue_for_the_read(client: Redis) -> None:
    queue = JobQueue(client, QUEUE)
    await queue.push(job(1))
    worker = queue.consumer("w")
    claim = await worker.claim(block_seconds=0.1)
    assert claim is not None
    await client.srem(keys.QUEUES, QUEUE)
    assert await worker.ack(claim)
    assert await registered(client, QUEUE)


async def test_bookkeeping_of_a_queue_the_registry_does_not_name_is_not_read(
    client: Redis,
) -> None:
    """The contract, both ways: what keys.QUEUES does not name costs the read nothing."""
    await JobQueue(client, QUEUE).push(job(1))
    await client.srem(keys.QUEUES, QUEUE)
    assert await usage(client) is None


async def test_usage_is_found_past_the_first_chunk_of_names(client: Redis) -> None:
    """The script asks SMISMEMBER in chunks; a queue far down the list is still found."""
    names = [f"q{n}" for n in range(2500)]
    for name in ("q0", "q999", "q1000", "q2499"):
        await JobQueue(client, name).push(job(1))
    states = (await read_snapshot(client, names)).queues
    found = {state.name for state in states if state.usage is not None}
    assert found == {"q0", "q999", "q1000", "q2499"}
    assert states[2499].usage == QueueUsage(1, 0, 0, 0, 0, 0, None)
    assert [state.depth for state in states].count(1) == 4


async def test_a_registry_that_is_no_set_never_fails_the_read(client: Redis) -> None:
    await JobQueue(client, QUEUE).push(job(1))
    await client.delete(keys.QUEUES)
    await client.set(keys.QUEUES, "not a set")
    (state,) = (await read_snapshot(client, [QUEUE])).queues
    assert (state.depth, state.usage) == (1, None)


async def test_in_flight_jobs_cost_a_bounded_prefix_whatever_they_weigh(
    client: Redis, redis_server: RedisServer
) -> None:
    queue = JobQueue(client, QUEUE)
    await queue.push_many([job(1, "x" * 5_000_000), job(2, "x" * 5_000_000)])
    for worker in ("a", "b"):
        assert await queue.consumer(worker).claim(block_seconds=0.1) is not None
    await read_snapshot(client, [QUEUE])  # loads the script
    before = bytes_sent(redis_server)
    held = await usage(client)
    sent = bytes_sent(redis_server) - before
    assert held is not None
    assert held.in_flight == 2
    assert held.oldest_in_flight_at == START + timedelta(minutes=1)
    # Two held prefixes and the INFO texts, not 10 MB of jobs.
    assert sent <= 2 * PREFIX_BYTES + 8192, f"{sent} bytes for one read"
