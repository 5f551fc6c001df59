"""What one snapshot read costs Redis does not grow with the size of the jobs it looks at.

Redis counts every byte it sends (``total_net_output_bytes`` in ``INFO stats``), so the cost of
a read is measured in bytes, not with a stopwatch: a read that shipped whole head jobs moved
about 11 MB here; one that ships a bounded prefix of each head moves a few kilobytes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from redis.asyncio import Redis

from queue_core.jobs import Job, encode_job
from queue_core.snapshot import read_snapshot
from tests.support.processes import RedisServer

STAMP = datetime(2025, 11, 1, 12, 0, tzinfo=UTC)
MB = 1_000_000

# Per queue: the head's prefix (1024 bytes) plus its depth and the RESP framing, generously.
PER_QUEUE_BYTES = 1024 + 200
# Once per read: the INFO persistence text, the PING, NOSCRIPT and SCRIPT LOAD replies, and the
# INFO stats reply that took the "before" reading.
PER_READ_BYTES = 8192


def library_job(description_bytes: int) -> str:
    return encode_job(
        Job(tenant_id="t", ticket_id="T-1", description="x" * description_bytes, timestamp=STAMP)
    )


def foreign_job(description_bytes: int) -> str:
    """A job another client wrote, with the documented fields in the story's order."""
    return (
        f'{{"job_id": "j", "tenant_id": "t", "ticket_id": "T-1", "description": '
        f'"{"x" * description_bytes}", "priority": "normal", "timestamp": "2025-11-01T12:00:00Z"}}'
    )


def bytes_sent(redis_server: RedisServer) -> int:
    stats = redis_server.cli("INFO", "stats")
    return int(stats.split("total_net_output_bytes:", 1)[1].split()[0])


async def test_a_read_ships_a_bounded_prefix_of_every_head_whatever_the_jobs_weigh(
    client: Redis, redis_server: RedisServer
) -> None:
    heads = {
        "small": library_job(10),
        "one-mb": library_job(MB),
        "ten-mb": library_job(10 * MB),
        "foreign:small": foreign_job(10),
        "foreign:ten-mb": foreign_job(10 * MB),
    }
    for queue, head in heads.items():
        # The head is the oldest job (LINDEX -1); a small job queued behind it must not matter.
        await client.lpush(queue, head, library_job(10))
    queues = [*heads, "missing"]

    before = bytes_sent(redis_server)
    snapshot = await read_snapshot(client, queues)
    sent = bytes_sent(redis_server) - before

    assert sent <= len(queues) * PER_QUEUE_BYTES + PER_READ_BYTES, f"{sent} bytes for one read"
    assert {q.name: q.depth for q in snapshot.queues} == dict.fromkeys(heads, 2) | {"missing": 0}
    ages = {q.name: q.oldest_enqueued_at for q in snapshot.queues}
    assert ages == {
        "small": STAMP,
        "one-mb": STAMP,
        "ten-mb": STAMP,
        "foreign:small": STAMP,  # another client's field order, timestamp inside the prefix
        "foreign:ten-mb": None,  # its timestamp is 10 MB in: absent, never made up
        "missing": None,
    }
