"""Queue operations on a Redis list: push, pop, peek, depth, and reliable consumption.

Order: producers ``LPUSH`` (left), consumers take from the right (``BRPOP``/``BLMOVE``), so a
list is FIFO and ``LINDEX key -1`` is the next job; :meth:`JobQueue.peek` returns jobs in that
processing order.

Two ways to consume, by how much a crash may cost:

* :meth:`JobQueue.pop` (``BRPOP``) is at-most-once: a worker that dies after the pop loses
  the job. Fine for work that can be redone by other means.
* :class:`ReliableConsumer` is at-least-once. ``claim`` moves the job atomically
  (``BLMOVE``) from the queue into the worker's own list ``<queue>:processing:<worker-id>``;
  ``ack`` removes it after the work is done. Liveness is a heartbeat key
  ``<queue>:heartbeat:<worker-id>`` with a TTL (the lease), renewed on every claim and by
  :meth:`ReliableConsumer.heartbeat` during long jobs; workers register in the set
  ``<queue>:workers``. Any consumer, before claiming, runs one Lua script that moves every
  job of a worker whose heartbeat has expired back to the *front* of the queue (in their
  original order) and forgets that worker. Why this design: a per-worker list tells exactly
  which jobs a dead worker held without parsing payloads, Redis expires the heartbeat for us
  (no clocks compared between hosts), and the requeue is one atomic script, so two consumers
  reaping at once cannot duplicate a job. A worker that stalls past its lease without
  heart-beating has its job re-queued; its late ``ack`` then returns ``False``, and the job
  may run twice: that is what at-least-once means, so make job handlers idempotent.

Payloads that are not valid jobs go to the dead-letter list (default: ``enhancement:queue``
-> ``enhancement:dlq``, otherwise ``<queue>:dlq``) wrapped with the reason, the source queue
and the time. In the reliable path the move is one MULTI/EXEC (push to the DLQ + remove from
processing), so a crash cannot lose the payload; in plain ``pop`` the payload was already
removed by ``BRPOP``, consistent with that path's at-most-once contract.

Dead-letter lists (names ending in ``:dlq``) hold envelopes (:class:`DeadLetter`), not jobs,
so :meth:`JobQueue.pop` and :meth:`JobQueue.consumer` refuse them (:class:`DeadLetterListError`):
decoding an envelope as a job fails, and consuming it would move every dead letter into
``<name>:dlq`` wrapped once more. Read them with :meth:`JobQueue.peek`, which decodes the
envelopes of a dead-letter list, or work them with :class:`DeadLetters`.

:class:`DeadLetters` is what a person works a dead-letter list with: list and show its
envelopes (oldest first, each with an index and an id, a hash of the stored text that does not
shift when other entries come and go), requeue one onto its source queue, purge one or all.
A requeue is one Lua script: it checks the exact envelope is still there, pushes the job, then
removes that envelope (``LREM`` count 1), so two people requeueing the same dead letter move it
once, and a failed push (``WRONGTYPE``, out of memory) leaves both lists as they were.

Every change the library makes is counted in the hash ``<queue>:stats`` (:mod:`queue_core.keys`)
in the same transaction or script as the change: jobs enqueued (push, and a dead letter
requeued), acknowledged (``ack``; with ``pop``, taking the job is its acknowledgement) and
dead-lettered. The exporter reads them in its one script call and publishes them as counters,
so rates, time-to-drain and a dead-letter alert exist; jobs written by other clients are in
the depth but not in these counters.

Redis connection and timeout errors are logged with the operation and queue as fields and
re-raised as :class:`QueueUnavailableError`, so callers handle one exception type. A key that
holds something other than a list (Redis answers ``WRONGTYPE``) raises
:class:`QueueKeyTypeError`: a configuration problem, not an outage.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from queue_core import keys
from queue_core.connection import TIMEOUT_SECONDS
from queue_core.jobs import (
    DeadLetter,
    Job,
    Undecodable,
    dead_letter_entry,
    decode_dead_letter,
    decode_job,
    encode_job,
    utc_now,
)

log = logging.getLogger(__name__)

# Jobs of workers whose heartbeat key is gone go back to the right end of the queue (next to
# be taken). LMOVE LEFT->RIGHT from the processing list puts the earliest-claimed job last,
# i.e. first in line, so their relative order is kept.
_REQUEUE_ORPHANS = """
local moved = 0
for _, worker in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[2] .. worker) == 0 then
    while redis.call('LMOVE', ARGV[1] .. worker, KEYS[1], 'LEFT', 'RIGHT') do
      moved = moved + 1
    end
    redis.call('SREM', KEYS[2], worker)
  end
end
return moved
"""


# A requeued dead letter goes to the right end (next to be taken), as re-queued orphans do: it
# has waited its turn once already. The push comes before the removal so that a push Redis
# refuses (WRONGTYPE, OOM) aborts the script before anything was written; LPOS first makes an
# envelope that is gone (requeued or purged by someone else) a no-op. Returns the queue's depth
# after the push, or -1 when the envelope was not there.
_REQUEUE_DEAD_LETTER = f"""
if not redis.call('LPOS', KEYS[1], ARGV[1]) then
  return -1
end
local depth = redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('LREM', KEYS[1], 1, ARGV[1])
redis.call('HINCRBY', KEYS[3], '{keys.ENQUEUED}', 1)
redis.call('SADD', KEYS[4], KEYS[2])
return depth
"""

# Remove the acknowledged job from the worker's list and count it, in one step: a late ack of
# a job that was re-queued meanwhile (LREM finds nothing) is not counted, and a crash cannot
# count a job that is still held. Whatever writes a queue's stats hash also names the queue in
# keys.QUEUES (ARGV[2] here), so the read finds the counters.
_ACK = f"""
local removed = redis.call('LREM', KEYS[1], -1, ARGV[1])
if removed > 0 then
  redis.call('HINCRBY', KEYS[2], '{keys.ACKED}', 1)
  redis.call('SADD', KEYS[3], ARGV[2])
end
return removed
"""


class QueueUnavailableError(Exception):
    """Redis refused, dropped or did not answer a queue operation in time."""


class QueueKeyTypeError(Exception):
    """The queue's key holds a non-list value (Redis said ``WRONGTYPE``)."""

    def __init__(self, queue: str) -> None:
        super().__init__(f"queue {queue} holds a non-list value (check: redis-cli TYPE {queue})")
        self.queue = queue


class DeadLetterListError(ValueError):
    """A dead-letter list was asked to hand out jobs; its entries are envelopes."""


class DeadLetterGoneError(LookupError):
    """The dead letter asked for is not (or no longer) in its list; nothing was changed."""


class NotRequeueableError(ValueError):
    """A dead letter that cannot go back as it is: say what to fix, change nothing."""


DEAD_LETTER_SUFFIX = ":dlq"


def is_dead_letter_list(name: str) -> bool:
    """Every dead-letter list this library writes is named ``...:dlq``."""
    return name.endswith(DEAD_LETTER_SUFFIX)


def dead_letter_name(queue: str) -> str:
    """``enhancement:queue`` -> ``enhancement:dlq`` (the default names), else ``<queue>:dlq``."""
    base = queue.removesuffix(":queue")
    return f"{base}:dlq"


def source_queues(dead_letter: str) -> tuple[str, ...]:
    """The queues whose bad payloads :func:`dead_letter_name` sends to ``dead_letter``.

    ``enhancement:dlq`` -> ``("enhancement:queue", "enhancement")``: the inverse is not unique,
    so a person pointed at the source queue is shown both, the default form first.
    """
    base = dead_letter.removesuffix(DEAD_LETTER_SUFFIX)
    return tuple(
        name
        for name in (f"{base}:queue", base)
        if name and not is_dead_letter_list(name) and dead_letter_name(name) == dead_letter
    )


def _check_block(block_seconds: float) -> None:
    # A block longer than the socket timeout would be cut by the client as a TimeoutError;
    # 0 (block forever) would hang past every deadline in this project.
    if not 0 < block_seconds < TIMEOUT_SECONDS:
        raise ValueError(
            f"block_seconds must be above 0 and below {TIMEOUT_SECONDS:g} "
            f"(the socket timeout), got {block_seconds:g}"
        )


def _text(reply: str | bytes) -> str:
    """The pool decodes replies; this only narrows redis-py's ``str | bytes`` reply type."""
    return reply if isinstance(reply, str) else reply.decode("utf-8", "surrogateescape")


@contextmanager
def _redis_errors(op: str, queue: str) -> Iterator[None]:
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError) as error:
        log.error(
            "redis unavailable",
            extra={"op": op, "queue": queue, "error": f"{type(error).__name__}: {error}"},
        )
        raise QueueUnavailableError(f"{op} on {queue}: {error}") from error
    except ResponseError as error:
        if "WRONGTYPE" not in str(error):
            raise
        log.error("queue key is not a list", extra={"op": op, "queue": queue, "error": "WRONGTYPE"})
        raise QueueKeyTypeError(queue) from error


@dataclass(frozen=True, slots=True)
class DeadLettered:
    """A payload that was not a job, now in the dead-letter list ``to``."""

    entry: Undecodable
    to: str


@dataclass(frozen=True, slots=True)
class Claim:
    """A job held by a reliable consumer; ``raw`` is the exact stored text ``ack`` removes."""

    job: Job
    raw: str


class JobQueue:
    """One Redis list used as a FIFO job queue, plus its dead-letter list."""

    def __init__(self, client: Redis, name: str, dead_letter: str | None = None) -> None:
        self.client = client
        self.name = name
        self.dead_letter = dead_letter or dead_letter_name(name)

    async def push(self, job: Job) -> int:
        """Enqueue one job; returns the queue depth after the push."""
        return await self._push("push", [encode_job(job)])

    async def push_many(self, jobs: Iterable[Job]) -> int:
        """Enqueue jobs in one command, so they are consumed in the given order."""
        payloads = [encode_job(job) for job in jobs]
        if not payloads:
            with _redis_errors("push_many", self.name):
                return await self.client.llen(self.name)
        return await self._push("push_many", payloads)

    async def _push(self, op: str, payloads: list[str]) -> int:
        """LPUSH and count the jobs in ``<queue>:stats`` in one transaction (one round trip),
        so the enqueued counter never runs ahead of or behind the list."""
        with _redis_errors(op, self.name):
            async with self.client.pipeline(transaction=True) as tx:
                tx.lpush(self.name, *payloads)
                tx.hincrby(keys.stats_key(self.name), keys.ENQUEUED, len(payloads))
                tx.sadd(keys.QUEUES, self.name)
                depth, *_ = await tx.execute()
        return int(depth)

    async def pop(self, block_seconds: float = 1.0) -> Job | None:
        """Take the next job (at-most-once), waiting up to ``block_seconds``; ``None`` if empty.

        Undecodable payloads met on the way are dead-lettered and skipped.
        """
        while True:
            taken = await self.pop_entry(block_seconds)
            if not isinstance(taken, DeadLettered):
                return taken

    async def pop_entry(self, block_seconds: float = 1.0) -> Job | DeadLettered | None:
        """Take the next entry (at-most-once): a job, or the dead-lettering of one that is not.

        For callers that must tell a person what happened (``queuectl pop``) rather than
        quietly move on to the next job as :meth:`pop` does.
        """
        self._refuse_dead_letter_list("pop")
        _check_block(block_seconds)
        with _redis_errors("pop", self.name):
            reply = await self.client.brpop([self.name], timeout=block_seconds)
        if reply is None:
            return None
        decoded = decode_job(_text(reply[1]))
        if isinstance(decoded, Job):
            await self._count_taken()
            return decoded
        return await self._dead_letter(decoded)

    async def _count_taken(self) -> None:
        """Count a job taken by at-most-once ``pop`` as acknowledged (taking it is the ack).

        A separate transaction (the counter and the queue's entry in :data:`keys.QUEUES`), as
        BRPOP cannot be part of one; if it fails the job is still returned (it is already off
        the list) and only the counter misses one.
        """
        try:
            async with self.client.pipeline(transaction=True) as tx:
                tx.hincrby(keys.stats_key(self.name), keys.ACKED, 1)
                tx.sadd(keys.QUEUES, self.name)
                await tx.execute()
        except (RedisConnectionError, RedisTimeoutError, ResponseError) as error:
            log.warning(
                "job taken but not counted",
                extra={"op": "pop", "queue": self.name, "error": f"{type(error).__name__}"},
            )

    async def peek(self, count: int = 10) -> list[Job | DeadLetter | Undecodable]:
        """The next ``count`` entries without removing them, next-to-be-processed first.

        Jobs for a queue; for a dead-letter list its envelopes, which are not jobs.
        """
        if count < 1:
            return []
        decode: Callable[[str], Job | DeadLetter | Undecodable] = (
            decode_dead_letter if is_dead_letter_list(self.name) else decode_job
        )
        with _redis_errors("peek", self.name):
            raws = await self.client.lrange(self.name, -count, -1)
        return [decode(_text(raw)) for raw in reversed(raws)]

    async def depth(self) -> int:
        """Jobs waiting (LLEN); jobs held by reliable consumers are not counted."""
        with _redis_errors("depth", self.name):
            return await self.client.llen(self.name)

    async def _dead_letter(self, bad: Undecodable, processing: str | None = None) -> DeadLettered:
        """Store ``bad`` in the dead-letter list, removing it from ``processing`` atomically."""
        entry = dead_letter_entry(bad.raw, bad.reason, self.name, utc_now())
        with _redis_errors("dead_letter", self.dead_letter):
            async with self.client.pipeline(transaction=True) as tx:
                tx.lpush(self.dead_letter, entry)
                if processing is not None:
                    tx.lrem(processing, -1, bad.raw)
                tx.hincrby(keys.stats_key(self.name), keys.DEAD_LETTERED, 1)
                tx.sadd(keys.QUEUES, self.name)
                await tx.execute()
        log.warning(
            "undecodable payload moved to the dead-letter list",
            extra={"queue": self.name, "dead_letter": self.dead_letter, "reason": bad.reason},
        )
        return DeadLettered(bad, self.dead_letter)

    def consumer(
        self, worker_id: str | None = None, lease_seconds: float = 30.0
    ) -> ReliableConsumer:
        self._refuse_dead_letter_list("claim")
        return ReliableConsumer(self, worker_id or default_worker_id(), lease_seconds)

    def _refuse_dead_letter_list(self, op: str) -> None:
        if is_dead_letter_list(self.name):
            raise DeadLetterListError(
                f"{self.name} is a dead-letter list (its name ends in {DEAD_LETTER_SUFFIX}): "
                f"its entries are envelopes, not jobs, and {op} would dead-letter each of them "
                f"again into {self.dead_letter}. Read them with `queuectl dlq list --queue "
                f"{self.name}` and send one back to its queue with `queuectl dlq requeue ID "
                f"--queue {self.name}` (--payload FIXED_JOB_JSON if it is still not a job)"
            )


def default_worker_id() -> str:
    """Host, pid and a random suffix: unique even when a pod restarts with the same pid."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class ReliableConsumer:
    """At-least-once consumption for one worker (see the module docstring for the design)."""

    def __init__(self, queue: JobQueue, worker_id: str, lease_seconds: float) -> None:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be above 0")
        self.queue = queue
        self.worker_id = worker_id
        self.lease_ms = int(lease_seconds * 1000)
        self.processing = keys.processing_key(queue.name, worker_id)
        self._workers = keys.workers_key(queue.name)
        self._heartbeat = keys.heartbeat_key(queue.name, worker_id)

    async def heartbeat(self) -> None:
        """Renew this worker's lease; call it more often than the lease during long jobs."""
        with _redis_errors("heartbeat", self.queue.name):
            async with self.queue.client.pipeline(transaction=True) as tx:
                tx.set(self._heartbeat, "1", px=self.lease_ms)
                tx.sadd(self._workers, self.worker_id)
                tx.sadd(keys.QUEUES, self.queue.name)
                await tx.execute()

    async def requeue_orphans(self) -> int:
        """Return the jobs of dead workers to the front of the queue; returns how many."""
        client = self.queue.client
        with _redis_errors("requeue", self.queue.name):
            moved = int(
                await client.eval(
                    _REQUEUE_ORPHANS,
                    2,
                    self.queue.name,
                    self._workers,
                    keys.processing_key(self.queue.name, ""),
                    keys.heartbeat_key(self.queue.name, ""),
                )
            )
        if moved:
            log.warning(
                "re-queued jobs of dead workers", extra={"queue": self.queue.name, "jobs": moved}
            )
        return moved

    async def claim(self, block_seconds: float = 1.0) -> Claim | None:
        """Move the next job into this worker's processing list; ``None`` if none came."""
        _check_block(block_seconds)
        if block_seconds * 1000 >= self.lease_ms:
            # The lease must outlive the blocking wait, or an idle worker parked in BLMOVE
            # would look dead and could have a job re-queued right after taking it.
            raise ValueError("block_seconds must be shorter than the lease")
        await self.heartbeat()
        await self.requeue_orphans()
        while True:
            with _redis_errors("claim", self.queue.name):
                reply = await self.queue.client.blmove(
                    self.queue.name,
                    self.processing,
                    block_seconds,  # type: ignore[arg-type]  # Redis takes fractions; stubs say int
                    "RIGHT",
                    "LEFT",
                )
            if reply is None:
                return None
            raw = _text(reply)
            decoded = decode_job(raw)
            if isinstance(decoded, Job):
                await self.heartbeat()  # the full lease starts when the job is held
                return Claim(decoded, raw)
            await self.queue._dead_letter(decoded, processing=self.processing)

    async def ack(self, claim: Claim) -> bool:
        """Mark the job done. ``False``: it was no longer held (lease expired, re-queued)."""
        with _redis_errors("ack", self.queue.name):
            removed = await self.queue.client.eval(
                _ACK,
                3,
                self.processing,
                keys.stats_key(self.queue.name),
                keys.QUEUES,
                claim.raw,
                self.queue.name,
            )
        return bool(removed)

    async def release(self) -> int:
        """Graceful stop: drop the lease and hand unfinished jobs back to the queue now."""
        with _redis_errors("release", self.queue.name):
            await self.queue.client.delete(self._heartbeat)
        return await self.requeue_orphans()


DEAD_LETTER_ID_LENGTH = 12
_SCAN_PAGE = 1000


def dead_letter_id(raw: str) -> str:
    """A short hash of the stored text: it names one entry however many others come and go
    (an index shifts when an older entry leaves). Identical texts share an id and are
    interchangeable: requeue and purge take one of them."""
    digest = hashlib.sha256(raw.encode("utf-8", "surrogateescape")).hexdigest()
    return digest[:DEAD_LETTER_ID_LENGTH]


@dataclass(frozen=True, slots=True)
class StoredDeadLetter:
    """One entry of a dead-letter list as it was read.

    ``index`` is its place in processing order (0 = oldest, ``LINDEX key -1``); ``raw`` is the
    exact stored text, the one thing requeue and purge remove, so they never take a different
    entry than the one that was shown.
    """

    index: int
    raw: str
    entry: DeadLetter | Undecodable

    @property
    def id(self) -> str:
        return dead_letter_id(self.raw)


@dataclass(frozen=True, slots=True)
class Requeued:
    """A dead letter's job, back at the front of ``queue`` (``depth`` after the push)."""

    job: Job
    queue: str
    depth: int


class DeadLetters:
    """A dead-letter list as a person works it: read, requeue, purge (module docstring)."""

    def __init__(self, client: Redis, queue: str) -> None:
        """``queue``: the dead-letter list itself, or a queue whose dead letters to work on."""
        self.client = client
        self.name = queue if is_dead_letter_list(queue) else dead_letter_name(queue)

    async def depth(self) -> int:
        with _redis_errors("dlq_depth", self.name):
            return await self.client.llen(self.name)

    async def entries(self, count: int = 10) -> list[StoredDeadLetter]:
        """The ``count`` oldest entries, oldest (next in processing order) first."""
        if count < 1:
            return []
        with _redis_errors("dlq_list", self.name):
            raws = await self.client.lrange(self.name, -count, -1)
        return [self._stored(index, raw) for index, raw in enumerate(reversed(raws))]

    async def find(self, ref: int | str) -> StoredDeadLetter:
        """The entry at index ``ref`` (an int) or with id ``ref`` (a str)."""
        if isinstance(ref, int):
            with _redis_errors("dlq_find", self.name):
                raw = await self.client.lindex(self.name, -1 - ref) if ref >= 0 else None
            if raw is not None:
                return self._stored(ref, raw)
        else:
            async for stored in self._scan():
                if stored.id == ref:
                    return stored
        what = f"index {ref}" if isinstance(ref, int) else f"id {ref}"
        raise DeadLetterGoneError(
            f"no dead letter with {what} in {self.name} (it holds {await self.depth()}; "
            f"see: queuectl dlq list --queue {self.name})"
        )

    async def requeue(self, stored: StoredDeadLetter, fixed: Job | None = None) -> Requeued:
        """Move ``stored`` back to its source queue as ``fixed``, or as its own payload if that
        is a valid job; refuse (:class:`NotRequeueableError`) before any write otherwise."""
        envelope = stored.entry
        if isinstance(envelope, Undecodable):
            raise NotRequeueableError(
                f"dead letter {stored.id} in {self.name} is not an envelope ({envelope.reason}), "
                "so its source queue is unknown: push a fixed job with queuectl push --queue "
                f"QUEUE, then delete it with queuectl dlq purge {stored.id} --queue {self.name}"
            )
        if is_dead_letter_list(envelope.queue):
            raise NotRequeueableError(
                f"dead letter {stored.id} names a dead-letter list ({envelope.queue}) as its "
                "source queue; jobs pushed there never run. Push a fixed job to the right "
                "queue with queuectl push, then delete it with queuectl dlq purge"
            )
        job = fixed if fixed is not None else decode_job(envelope.payload)
        if isinstance(job, Undecodable):
            raise NotRequeueableError(
                f"the payload of dead letter {stored.id} is still not a valid job ({job.reason}): "
                f"pass a fixed one, e.g. queuectl dlq requeue {stored.id} --queue {self.name} "
                "--payload JOB_JSON (see: queuectl dlq show)"
            )
        with _redis_errors("dlq_requeue", envelope.queue):
            depth = int(
                await self.client.eval(
                    _REQUEUE_DEAD_LETTER,
                    4,
                    self.name,
                    envelope.queue,
                    keys.stats_key(envelope.queue),
                    keys.QUEUES,
                    stored.raw,
                    encode_job(job),
                )
            )
        if depth < 0:
            raise self._gone(stored)
        log.info(
            "dead letter requeued",
            extra={"dead_letter": self.name, "queue": envelope.queue, "id": stored.id},
        )
        return Requeued(job, envelope.queue, depth)

    async def remove(self, stored: StoredDeadLetter) -> None:
        """Delete exactly the entry that was read (``LREM`` count 1 of its text)."""
        with _redis_errors("dlq_purge", self.name):
            removed = await self.client.lrem(self.name, 1, stored.raw)
        if not removed:
            raise self._gone(stored)
        log.warning("dead letter deleted", extra={"dead_letter": self.name, "id": stored.id})

    async def purge(self) -> int:
        """Delete every entry; returns how many there were when they went (one transaction)."""
        with _redis_errors("dlq_purge", self.name):
            async with self.client.pipeline(transaction=True) as tx:
                tx.llen(self.name)
                tx.delete(self.name)
                count, _ = await tx.execute()
        log.warning("dead letters purged", extra={"dead_letter": self.name, "count": count})
        return int(count)

    def _stored(self, index: int, raw: str | bytes) -> StoredDeadLetter:
        text = _text(raw)
        return StoredDeadLetter(index, text, decode_dead_letter(text))

    async def _scan(self) -> AsyncIterator[StoredDeadLetter]:
        """Every entry, oldest first, a page at a time (a dead-letter list can be long)."""
        start = 0
        while True:
            with _redis_errors("dlq_find", self.name):
                raws = await self.client.lrange(self.name, -(start + _SCAN_PAGE), -(start + 1))
            for offset, raw in enumerate(reversed(raws)):
                yield self._stored(start + offset, raw)
            if len(raws) < _SCAN_PAGE:
                return
            start += _SCAN_PAGE

    def _gone(self, stored: StoredDeadLetter) -> DeadLetterGoneError:
        return DeadLetterGoneError(
            f"dead letter {stored.id} is no longer in {self.name} (requeued or purged by "
            "someone else meanwhile); nothing was changed"
        )
