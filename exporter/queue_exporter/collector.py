"""Scrape-time collection: one bounded Redis read shared by every concurrent scrape.

Why not a prometheus_client ``Collector`` registered globally: its ``collect()`` is synchronous,
and a blocking Redis call inside it would stall aiohttp's event loop for every request. Instead
the handler awaits :meth:`QueueCollector.scrape`, which reads Redis asynchronously, and the
result is rendered by :func:`queue_exporter.metrics.render` (text format 0.0.4; see that module
for why not prometheus_client). No value is carried from one read to the next and there are no
global gauges: every scrape reports what Redis said during that scrape. (What is remembered is
the parsed timestamp of each head, keyed by the exact bytes Redis sent: a pure function's
answer, so an unchanged head is not parsed again; see ``queue_core.snapshot.HeadStamps``.)

Two properties redis_exporter lacks:
- *single flight*: scrapes (and ``/health/ready`` probes, which report the same outcome) that
  arrive while a read is in progress await that read instead of starting their own, so eight
  Prometheus replicas cost Redis one script call, not eight; the body is rendered once per
  read and shared too (at 1000 queues that is 130 KiB and a millisecond of CPU not repeated
  per waiting scrape, and eight bodies not alive at once);
- *deadline*: the read is abandoned after ``scrape_deadline_seconds`` (below Prometheus' 10 s
  scrape timeout), so a frozen Redis yields a fast ``redis_queue_up 0`` and no depth series
  instead of a scrape timeout that hides the cause.

The exporter's own health rides in the same body: ``process_*`` from ``/proc`` (Linux only),
the build info, and counters of reads and failed reads by reason. The counters are fields of
the collector, not module globals, so two apps in one process (tests) count apart.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from queue_core.snapshot import (
    HeadStamps,
    LoadingState,
    Snapshot,
    prepare_read,
    read_loading,
    read_snapshot,
)
from queue_exporter.metrics import (
    CONTENT_TYPE,
    AnyFamily,
    Family,
    ProcText,
    QueueLabels,
    build_families,
    process_families,
    render,
    scrape_stats_families,
)

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


def error_reason(error: BaseException) -> str:
    """The ``reason`` label of a failed read: what an operator would look at first.

    Authentication comes before connection because redis-py's ``AuthenticationError`` is a
    ``ConnectionError``: a wrong password is not a network problem.
    """
    if isinstance(
        error,
        redis_errors.AuthenticationError
        | redis_errors.AuthorizationError
        | redis_errors.NoPermissionError,
    ):
        return "auth"
    if isinstance(error, TimeoutError | redis_errors.TimeoutError):
        return "timeout"
    if isinstance(error, redis_errors.BusyLoadingError):  # a ConnectionError, but Redis is up
        return "loading"
    if isinstance(error, redis_errors.ConnectionError | OSError):
        return "connection"
    if isinstance(error, redis_errors.ResponseError | redis_errors.InvalidResponse):
        return "response"
    return "other"


@functools.cache
def _boot_time_line() -> str:
    """The ``btime`` line of ``/proc/stat``, read once: the boot time does not change, and the
    rest of the file (per-CPU and interrupt counters) is not needed and costs the kernel work
    to generate on every scrape."""
    return next(
        (line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime")),
        "",
    )


def read_proc() -> ProcText | None:
    """This process' ``/proc`` text, or ``None`` where there is no ``/proc`` (not Linux)."""
    if sys.platform != "linux":
        return None
    try:
        return ProcText(
            stat=Path("/proc/self/stat").read_text(),
            limits=Path("/proc/self/limits").read_text(),
            system_stat=_boot_time_line(),
            open_fds=len(os.listdir("/proc/self/fd")),
            clock_ticks=os.sysconf("SC_CLK_TCK"),
            page_size=os.sysconf("SC_PAGE_SIZE"),
        )
    except OSError:  # /proc not mounted (some sandboxes): no process_* rather than no scrape
        return None


def process_exposition() -> bytes:
    """This process' ``process_*`` families as text, nothing where there is no ``/proc``."""
    proc = read_proc()
    return render(process_families(proc)) if proc is not None else b""


class QueueCollector:
    """Reads queue state from Redis on demand, at most one read in flight at a time.

    ``static`` families (the build info) are computed once by the caller and appended to
    every body.
    """

    def __init__(
        self,
        client: Redis,
        queues: Sequence[str],
        deadline_seconds: float,
        static: Sequence[Family] = (),
    ) -> None:
        self._client = client
        self._queues = tuple(queues)
        self._request = prepare_read(self._queues)  # the same bytes on every scrape
        self._stamps = HeadStamps()  # heads unchanged since the last read are not parsed again
        self._labels = QueueLabels(self._queues)  # every queue's label text, escaped once
        self._deadline = deadline_seconds
        self._inflight: asyncio.Task[Reading] | None = None
        self._redis_was_up: bool | None = None
        self._bad_keys: dict[str, str] = {}
        self._static_text = render(static)  # the same text on every scrape
        self._reads = 0
        self._errors: Counter[str] = Counter()

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
        loading: LoadingState | None = None
        error: str | None = None
        reason: str | None = None
        # process_* needs no reply: written while Redis runs the read script
        process_text: list[bytes] = []
        try:
            async with asyncio.timeout(self._deadline):
                try:
                    snapshot = await read_snapshot(
                        self._client,
                        self._request,
                        self._stamps,
                        lambda: process_text.append(process_exposition()),
                    )
                except redis_errors.BusyLoadingError as exc:
                    error, reason = f"{type(exc).__name__}: {exc}", error_reason(exc)
                    # Redis serves INFO while it loads: say how far it is, not just "down".
                    loading = await read_loading(self._client) or LoadingState(None, None)
        except TimeoutError as exc:
            error, reason = f"no answer within {self._deadline:g}s", error_reason(exc)
        except (redis_errors.RedisError, OSError) as exc:
            error, reason = f"{type(exc).__name__}: {exc}", error_reason(exc)
        seconds = time.perf_counter() - started
        self._reads += 1
        if reason is not None:
            self._errors[reason] += 1
        families: list[AnyFamily] = [
            *build_families(snapshot, seconds, datetime.now(UTC), loading, self._labels),
            *scrape_stats_families(self._reads, self._errors, reason),
        ]
        own = process_text[-1] if process_text else process_exposition()  # failed read
        body = b"".join((render(families), self._static_text, own))
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
        snapshot = reading.snapshot
        bad = {snapshot.names[at]: error for at, error in snapshot.errors.items()}
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
