"""read_snapshot against a real redis-server: one script call, every kind of key, NOSCRIPT."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from queue_core.jobs import Job, encode_job
from queue_core.snapshot import (
    READ_SCRIPT_SHA,
    HeadStamps,
    QueueState,
    prepare_read,
    read_snapshot,
)
from tests.support.processes import RedisServer
from tests.unit.core.test_snapshot import CORRUPT_PAYLOADS, VALID_SPELLINGS
from tests.unit.core.test_snapshot import STAMP as VALID_STAMP

STAMP = datetime(2025, 11, 1, 12, 0, tzinfo=UTC)


def job(ticket: str, when: datetime) -> str:
    return encode_job(Job(tenant_id="t", ticket_id=ticket, description="d", timestamp=when))


async def fill(client: Redis) -> None:
    await client.lpush("jobs", job("T-1", STAMP), job("T-2", datetime.now(UTC)))
    await client.lpush("corrupt", "{not json")
    await client.set("a:string", "x")
    await client.hset("a:hash", "f", "v")
    await client.lpush("emptied", "x")
    await client.rpop("emptied")


EXPECTED = (
    QueueState("jobs", 2, STAMP),
    QueueState("missing", 0, None),
    QueueState("corrupt", 1, None),
    QueueState("a:string", None, None, error="WRONGTYPE"),
    QueueState("a:hash", None, None, error="WRONGTYPE"),
    QueueState("emptied", 0, None),
    QueueState("jobs", 2, STAMP),  # positions never shift, repeats included
)


async def test_every_kind_of_key_in_one_read(client: Redis, redis_server: RedisServer) -> None:
    await fill(client)
    redis_server.cli("CONFIG", "RESETSTAT")
    snapshot = await read_snapshot(client, [q.name for q in EXPECTED])
    assert snapshot.queues == EXPECTED
    assert snapshot.persistence.aof_enabled
    assert snapshot.persistence.aof_last_write_ok
    assert snapshot.ping_seconds > 0
    stats = redis_server.cli("INFO", "commandstats")
    # A fresh Redis does not know the script: NOSCRIPT, SCRIPT LOAD, then EVALSHA again.
    assert "cmdstat_evalsha:calls=2," in stats
    assert "cmdstat_script|load:calls=1," in stats
    assert "cmdstat_llen:calls=7," in stats  # LLEN ran inside the script, once per key

    redis_server.cli("CONFIG", "RESETSTAT")
    await read_snapshot(client, ["jobs"])
    stats = redis_server.cli("INFO", "commandstats")
    assert "cmdstat_evalsha:calls=1," in stats
    assert "cmdstat_script" not in stats


async def test_a_prepared_read_reads_the_same_as_names(client: Redis) -> None:
    """The collector prepares its fixed queue list's request once and sends it every scrape."""
    await fill(client)
    request = prepare_read([q.name for q in EXPECTED])
    assert (await read_snapshot(client, request)).queues == EXPECTED
    assert (await read_snapshot(client, request)).queues == EXPECTED


async def test_a_flushed_script_cache_is_reloaded(client: Redis, redis_server: RedisServer) -> None:
    await fill(client)
    await read_snapshot(client, ["jobs"])
    assert redis_server.cli("SCRIPT", "EXISTS", READ_SCRIPT_SHA).strip() == "1"
    redis_server.cli("SCRIPT", "FLUSH")
    snapshot = await read_snapshot(client, ["jobs", "a:string"])
    assert snapshot.queues == (EXPECTED[0], EXPECTED[3])


async def test_a_client_without_decoding_reads_the_same(
    client: Redis, redis_server: RedisServer
) -> None:
    """The operator's client does not decode replies; the snapshot must not depend on it."""
    await fill(client)
    raw = Redis.from_url(redis_server.url, password=redis_server.password)
    try:
        snapshot = await read_snapshot(raw, [q.name for q in EXPECTED])
    finally:
        await raw.aclose()
    assert snapshot.queues == EXPECTED
    assert snapshot.persistence.aof_enabled


async def test_no_queues_still_reads_persistence(client: Redis) -> None:
    snapshot = await read_snapshot(client, [])
    assert snapshot.queues == ()
    assert snapshot.persistence.aof_enabled


async def test_next_job_timestamps_through_real_redis(
    client: Redis, redis_server: RedisServer
) -> None:
    """Every spelling and every corrupt head of the unit corpus, read back through the script."""
    raw_client = Redis.from_url(redis_server.url)  # pushes bytes as they are
    valid = [f"valid:{n}" for n in range(len(VALID_SPELLINGS))]
    corrupt = [f"corrupt:{n}" for n, p in enumerate(CORRUPT_PAYLOADS) if p is not None]
    try:
        for key, payload in zip(valid, VALID_SPELLINGS, strict=True):
            await raw_client.lpush(key, payload)
        payloads = [p for p in CORRUPT_PAYLOADS if p is not None]
        for key, payload in zip(corrupt, payloads, strict=True):
            data = (
                payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else payload
            )
            await raw_client.lpush(key, data)
        huge = encode_job(
            Job(tenant_id="t", ticket_id="T", description="x" * 1_000_000, timestamp=STAMP)
        )
        await raw_client.lpush("huge", huge)
    finally:
        await raw_client.aclose()
    snapshot = await read_snapshot(client, [*valid, *corrupt, "huge"])
    ages = {q.name: q.oldest_enqueued_at for q in snapshot.queues}
    assert all(q.depth == 1 for q in snapshot.queues)
    assert {key: ages[key] for key in valid} == dict.fromkeys(valid, VALID_STAMP)
    assert {key: ages[key] for key in corrupt} == dict.fromkeys(corrupt, None)
    assert ages["huge"] == STAMP


async def test_remembered_stamps_follow_the_head_as_jobs_are_taken(client: Redis) -> None:
    """With HeadStamps kept across reads (as the exporter does), every read's age is still
    the age of that read's head: after a pop the next job's timestamp, after the last pop none."""
    older, newer = STAMP, STAMP + timedelta(minutes=3)
    await client.lpush("jobs", job("T-1", older), job("T-2", newer))
    stamps = HeadStamps()
    ages = []
    for _ in range(3):
        (state,) = (await read_snapshot(client, ["jobs"], stamps=stamps)).queues
        ages.append(state.oldest_enqueued_at)
        (state,) = (await read_snapshot(client, ["jobs"], stamps=stamps)).queues  # unchanged
        ages.append(state.oldest_enqueued_at)
        await client.rpop("jobs")
    assert ages == [older, older, newer, newer, None, None]
