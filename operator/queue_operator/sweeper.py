"""Periodic drift repair and status reads for every RedisQueue, without Kopf timers.

Kopf timers (and daemons) need a finalizer on every object they run for, so that Kopf can stop
them before the object goes. That finalizer outlives the operator: ``helm uninstall`` or
``kubectl delete -k manifests/`` removes the operator's Deployment and RBAC together with (or
before) the RedisQueues, nobody removes the finalizer, and the RedisQueue hangs in Terminating.

Instead, a Kopf index (which needs no finalizer) keeps the RedisQueues the watch has seen, and
one :class:`Sweeper` task, started by a startup handler and stopped by a cleanup handler, runs
each job for each indexed object at its own pace. A deleted RedisQueue leaves the index and its
jobs stop by themselves; nothing blocks its deletion.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from queue_operator.naming import Owner

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Tracked:
    """A RedisQueue as the watch last delivered it: what the periodic jobs act on."""

    owner: Owner
    generation: int | None
    spec: Any


# A periodic job: does its work for one RedisQueue and returns the seconds until its next run
# (its interval, or a shorter/longer retry delay after a failure).
Job = Callable[[Tracked], Awaitable[float]]


@dataclass(frozen=True, slots=True)
class Schedule:
    job: Job
    first_delay: float  # after the object is first seen
    interval: float  # also the delay after an unexpected exception


Index = Mapping[str, Iterable[Tracked]]  # Kopf's index: uid -> the object's entries


class Sweeper:
    """Runs every job for every object in ``index``, each at most once at a time.

    A slow job for one object (a frozen Redis, a slow API call) delays neither other objects nor
    the other job, because each run is its own task.
    """

    def __init__(
        self,
        index: Index,
        schedules: Mapping[str, Schedule],
        *,
        poll: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._index = index
        self._schedules = dict(schedules)
        self._poll = poll
        self._clock = clock
        self._due: dict[tuple[str, str], float] = {}
        self._running: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._again: set[tuple[str, str]] = set()  # run_soon during a run
        self._task: asyncio.Task[None] | None = None

    def start_due(self, now: float) -> list[asyncio.Task[None]]:
        """Start the runs that are due at ``now``; forget objects that left the index."""
        tracked = {uid: item for uid, store in list(self._index.items()) for item in list(store)}
        for key in [key for key in self._due if key[0] not in tracked]:
            del self._due[key]
        started = []
        for uid, item in tracked.items():
            for name, schedule in self._schedules.items():
                key = (uid, name)
                due = self._due.setdefault(key, now + schedule.first_delay)
                if due <= now and key not in self._running:
                    owner = item.owner
                    task = asyncio.create_task(
                        self._run(key, schedule, item),
                        name=f"{name} {owner.namespace}/{owner.name}",
                    )
                    self._running[key] = task
                    started.append(task)
        return started

    def run_soon(self, uid: str, name: str) -> None:
        """Make job ``name`` due now for object ``uid``; if a run is in flight (it may have read
        what is now stale), again right after it."""
        key = (uid, name)
        if key in self._running:
            self._again.add(key)
        elif key in self._due:
            self._due[key] = min(self._due[key], self._clock())

    async def _run(self, key: tuple[str, str], schedule: Schedule, item: Tracked) -> None:
        delay = schedule.interval
        try:
            delay = await schedule.job(item)
        except Exception:
            # Jobs report their own failures as conditions; this is a bug, not a reason to stop
            # serving every other RedisQueue.
            logger.exception(f"{key[1]} of {item.owner.namespace}/{item.owner.name} failed")
        finally:
            self._running.pop(key, None)
            again = key in self._again
            self._again.discard(key)
            self._due[key] = self._clock() + (0.0 if again else delay)

    async def run(self) -> None:
        while True:
            self.start_due(self._clock())
            pending = [due for key, due in self._due.items() if key not in self._running]
            wait = min([self._poll, *(due - self._clock() for due in pending)])
            # New objects show up in the index at any time: never sleep longer than ``poll``.
            await asyncio.sleep(max(wait, 0.05))

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="queue-operator sweeper")

    async def stop(self) -> None:
        """Cancel the loop and every run in flight, and wait for them."""
        tasks = [*self._running.values(), *([self._task] if self._task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
