"""Scrape-time collection: one bounded Redis read shared by every concurrent scrape.

Why not a prometheus_client ``Collector`` registered globally: its ``collect()`` is synchronous,
and a blocking Redis call inside it would stall aiohttp's event loop for every request. Instead
the handler awaits :meth:`QueueCollector.scrape`, which reads Redis asynchronously, and the
result is rendered by :func:`queue_exporter.metrics.render` (text format 0.0.4; see that module
for why not prometheus_client). Nothing is cached between scrapes and there are no global
gauges: every scrape reports what Redis said during that scrape.

Two properties redis_exporter lacks:
- *single flight*: scrapes (and ``/health/ready`` probes, which report the same outcome) that
  arrive while a read is in progress await that read instead of starting their own, so eight
  Prometheus replicas cost Redis one script call, not eight; the body is rendered once per
  read and shared too (at 1000 queues that is 130 KiB and a millisecond of CPU not repeated
  per waiting scrape, and eight bodies not alive at once);
- *deadline*: the read is abandoned after ``scrape_deadline_seconds`` (below Prometheus' 10 s
  scrape timeout), so a frozen Redis yields a fast ``redis_queue_up 0`` and no depth series
  instead of a scrape timeout that hides the cause.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.asyncio import Redis
from redis.exceptions import RedisError

from queue_core.snapshot import Snapshot, encode_keys, read_snapshot
from queue_exporter.metrics import CONTENT_TYPE, build_families, render

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reading:
    """The outcome of one shared read: a snapshot, or why there is none, and its exposition.

    ``body`` is rendered when the read completes, so ages are measured at the moment Redis
    answered, the same for every scrape that shared the read.
    """

    snapshot: Snapshot | None
    error: str | None = None
    body: bytes = b""

    @property
    def redis_up(self) -> bool:
        """Whether Redis answered this read: ``redis_queue_up``, ``/health/ready`` and the
        connected/disconnected log all take this one answer."""
        return self.snapshot is not None


class QueueCollector:
    """Reads queue state from Redis on demand, at most one read in flight at a time."""

    def __init__(self, client: Redis, queues: Sequence[str], deadline_seconds: float) -> None:
        self._client = client
        self._queues = tuple(queues)
        self._keys = encode_keys(self._queues)  # the same keys on every scrape: encoded once
        self._deadline = deadline_seconds
        self._inflight: asyncio.Task[Reading] | None = None
        self._redis_was_up: bool | None = None
        self._bad_keys: dict[str, str] = {}

    async def read(self) -> Reading:
        """Join the read in progress, or start one.

        ``shield``: a Prometheus that gives up on its request cancels this coroutine, but the
        shared read must finish for the other scrapes waiting on it.
        """
        if self._inflight is None:
            task = asyncio.create_task(self._read_once())
            self._inflight = task
            task.add_done_callback(self._clear_inflight)
        return await asyncio.shield(self._inflight)

    def _clear_inflight(self, task: asyncio.Task[Reading]) -> None:
        if self._inflight is task:
            self._inflight = None

    async def _read_once(self) -> Reading:
        started = time.perf_counter()
        snapshot: Snapshot | None = None
        error: str | None = None
        try:
            snapshot = await asyncio.wait_for(
                read_snapshot(self._client, self._queues, self._keys), timeout=self._deadline
            )
        except TimeoutError:
            error = f"no answer within {self._deadline:g}s"
        except (RedisError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - started
        body = render(build_families(snapshot, seconds, datetime.now(UTC)))
        reading = Reading(snapshot, error, body)
        self._log_changes(reading)
        return reading

    def _log_changes(self, reading: Reading) -> None:
        """Log transitions only: a Redis outage or a bad key must not log once per scrape."""
        up = reading.redis_up
        if up != self._redis_was_up:
            if up:
                log.info("redis reachable", extra={"redis": "connected"})
            else:
                log.warning(
                    "redis unreachable", extra={"redis": "disconnected", "error": reading.error}
                )
            self._redis_was_up = up
        if reading.snapshot is None:
            return
        bad = {q.name: q.error for q in reading.snapshot.queues if q.error is not None}
        for name, error in bad.items():
            if self._bad_keys.get(name) != error:
                log.error(
                    "queue key is not a list; depth not reported",
                    extra={"queue": name, "error": error},
                )
        for name in self._bad_keys.keys() - bad.keys():
            log.info("queue key readable again", extra={"queue": name})
        self._bad_keys = bad

    async def scrape(self) -> tuple[bytes, str]:
        """One scrape: the shared read's text exposition and its content type."""
        reading = await self.read()
        return reading.body, CONTENT_TYPE
