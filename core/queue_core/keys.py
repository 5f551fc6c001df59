"""The Redis keys the library keeps beside a queue's list, named in one place.

The queue operations (:mod:`queue_core.queue`) write them and the one-round-trip read
(:mod:`queue_core.snapshot`) reads them, inside a Lua script that derives each name from the
queue's name with these same suffixes; a second spelling would make a worker invisible to the
exporter without any error. For a queue ``Q``:

- ``Q:stats``: a hash of counters the library increments in the same transaction as the
  change it counts (:data:`ENQUEUED`, :data:`ACKED`, :data:`DEAD_LETTERED`); kept in Redis, so
  they survive exporter restarts, are persisted with the queue (AOF), and every producer and
  worker adds to the same numbers;
- ``Q:workers``: the set of reliable consumers' ids;
- ``Q:processing:<id>``: the jobs worker ``<id>`` holds (claimed, not yet acknowledged);
- ``Q:heartbeat:<id>``: that worker's lease, a key with a TTL.

And one key for all queues, :data:`QUEUES`: the set of queue names the library has written any
of these keys for, added to in the same transaction or script as each write (``SADD`` of a
member already there changes nothing and is not written to the AOF). Why: the read asks it
once, with one ``SMISMEMBER`` for all the queues it reads, which of them have bookkeeping to
read, instead of one ``EXISTS`` per queue (at 1000 queues, 0.7 ms of Redis blocked per scrape
for queues no library client touched). It is a reserved name: no queue may be called so.
"""

from __future__ import annotations

STATS_SUFFIX = ":stats"
WORKERS_SUFFIX = ":workers"
PROCESSING_INFIX = ":processing:"
HEARTBEAT_INFIX = ":heartbeat:"
QUEUES = "redis-queue-stack:queues"

# Fields of the stats hash: jobs pushed (or requeued from the dead-letter list), jobs a worker
# acknowledged (or took with at-most-once pop, where taking is the acknowledgement), and
# payloads moved to the dead-letter list.
ENQUEUED = "enqueued"
ACKED = "acked"
DEAD_LETTERED = "dead_lettered"
COUNTERS = (ENQUEUED, ACKED, DEAD_LETTERED)


def stats_key(queue: str) -> str:
    return queue + STATS_SUFFIX


def workers_key(queue: str) -> str:
    return queue + WORKERS_SUFFIX


def processing_key(queue: str, worker_id: str) -> str:
    return queue + PROCESSING_INFIX + worker_id


def heartbeat_key(queue: str, worker_id: str) -> str:
    return queue + HEARTBEAT_INFIX + worker_id
