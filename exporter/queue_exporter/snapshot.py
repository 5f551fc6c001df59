"""One read of everything the exporter and the operator want to know about a Redis queue server.

Both the exporter's collector and the operator's status timer call :func:`read_snapshot`, so
"how deep is the queue" has one answer in the whole project. The read costs two round trips
whatever the number of queues: a PING (its latency is what ``redis_queue_ping_seconds``
reports, undiluted by payload size) and one non-transactional pipeline carrying
``INFO persistence`` plus ``LLEN`` and ``LINDEX key -1`` for every queue. redis_exporter sends
TYPE+LLEN per key one by one; at a thousand queues that difference is the whole scrape time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError


@dataclass(frozen=True, slots=True)
class QueueState:
    """What one queue key looked like at snapshot time.

    ``depth`` is ``None`` when the key could not be read as a list (``error`` says why); a
    missing key is an empty queue (LLEN answers 0), which is the truth for Redis lists.
    """

    name: str
    depth: int | None
    oldest_enqueued_at: datetime | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PersistenceState:
    """The AOF facts from ``INFO persistence`` that decide whether acknowledged jobs survive."""

    aof_enabled: bool
    aof_last_write_ok: bool
    aof_rewrite_in_progress: bool
    aof_last_rewrite_ok: bool
    loading: bool


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A consistent-enough picture: all values come from the same pipeline, in one round trip."""

    queues: tuple[QueueState, ...]
    persistence: PersistenceState
    ping_seconds: float
    taken_at: datetime


def job_enqueued_at(raw: str | bytes | None) -> datetime | None:
    """Parse a job's ``timestamp`` field, or ``None`` if the payload carries no usable one.

    Never raises: a corrupt job at the head of a queue must not break a scrape; the worker
    that pops it moves it to the dead-letter list, and until then the age is simply unknown.
    Naive timestamps are taken as UTC, because the job contract says timestamps are UTC.
    """
    if raw is None:
        return None
    try:
        job = json.loads(raw)
        stamp = job["timestamp"]
        parsed = datetime.fromisoformat(stamp)
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def parse_persistence(info: dict[str, Any]) -> PersistenceState:
    """Turn redis-py's parsed ``INFO persistence`` dict into the facts we alert on."""

    def flag(key: str) -> bool:
        return str(info.get(key, "0")) in {"1", "True", "true"}

    def ok(key: str) -> bool:
        # Redis reports "ok" or "err"; absent means the operation never ran, which is not a failure.
        return str(info.get(key, "ok")) == "ok"

    return PersistenceState(
        aof_enabled=flag("aof_enabled"),
        aof_last_write_ok=ok("aof_last_write_status"),
        aof_rewrite_in_progress=flag("aof_rewrite_in_progress"),
        aof_last_rewrite_ok=ok("aof_last_bgrewrite_status"),
        loading=flag("loading"),
    )


def _queue_state(name: str, depth: object, head: object) -> QueueState:
    """Fold the two pipeline replies for one key into a QueueState."""
    for reply in (depth, head):
        if isinstance(reply, ResponseError):
            # WRONGTYPE and friends: somebody stored a non-list under a queue name.
            return QueueState(name, None, None, error=str(reply).split(" ", 1)[0] or "ERR")
        if isinstance(reply, Exception):
            raise reply
    assert isinstance(depth, int)
    return QueueState(name, depth, job_enqueued_at(head if isinstance(head, str | bytes) else None))


async def read_snapshot(client: Redis, queues: Sequence[str]) -> Snapshot:
    """Read depths, next-job timestamps and AOF state for ``queues``.

    Connection and timeout errors propagate: the caller decides what "Redis down" means (the
    exporter answers ``redis_queue_up 0`` and no depth series; the operator sets a condition).
    """
    started = time.perf_counter()
    await client.ping()
    ping_seconds = time.perf_counter() - started

    pipe = client.pipeline(transaction=False)
    pipe.info("persistence")
    for name in queues:
        pipe.llen(name)
        pipe.lindex(name, -1)
    replies = await pipe.execute(raise_on_error=False)
    info = replies[0]
    if isinstance(info, Exception):
        raise info
    states = tuple(
        _queue_state(name, replies[1 + 2 * i], replies[2 + 2 * i]) for i, name in enumerate(queues)
    )
    return Snapshot(
        queues=states,
        persistence=parse_persistence(info),
        ping_seconds=ping_seconds,
        taken_at=datetime.now(UTC),
    )
