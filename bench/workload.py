"""Queues filled the way producers fill them: LPUSHed JSON jobs with ISO-8601 UTC timestamps."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import redis


def queue_names(count: int) -> list[str]:
    """``enhancement:queue`` alone, or that plus numbered tenant queues up to ``count``."""
    names = ["enhancement:queue"]
    names += [f"bench:tenant-{i:04d}:queue" for i in range(1, count)]
    return names


def job(queue: str, n: int, enqueued_at: datetime) -> str:
    return json.dumps(
        {
            "job_id": f"{queue}-{n}",
            "tenant_id": queue.split(":")[1] if queue.startswith("bench:") else "t1",
            "ticket_id": f"T-{n}",
            "description": "benchmark job with a realistic small payload",
            "priority": "normal",
            "timestamp": enqueued_at.isoformat(),
        }
    )


def fill(redis_url: str, names: list[str], jobs_per_queue: int) -> dict[str, int]:
    """LPUSH ``jobs_per_queue`` jobs per queue (oldest first, so the next job is the oldest).

    Returns the depth of every queue as Redis reports it afterwards.
    """
    now = datetime.now(UTC)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        pipe = client.pipeline(transaction=False)
        for index, name in enumerate(names):
            for n in range(jobs_per_queue):
                age = timedelta(seconds=60 + index + (jobs_per_queue - n))
                pipe.lpush(name, job(name, n, now - age))
            if len(pipe) >= 5000:
                pipe.execute()
        pipe.execute()
        depths = client.pipeline(transaction=False)
        for name in names:
            depths.llen(name)
        return dict(zip(names, (int(d) for d in depths.execute()), strict=True))
    finally:
        client.close()


def rotator(redis_url: str, names: list[str]) -> Callable[[], object]:
    """A callable that changes the next job of every queue (``LMOVE q q RIGHT LEFT`` moves it
    to the back), depths unchanged: heads that differ on every scrape, as in busy queues."""
    client = redis.Redis.from_url(redis_url)

    def rotate() -> list[object]:
        pipe = client.pipeline(transaction=False)  # a pipeline forgets its commands once run
        for name in names:
            pipe.lmove(name, name, "RIGHT", "LEFT")
        return pipe.execute()

    return rotate
