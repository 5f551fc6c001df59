"""One read of everything the exporter and the operator want to know about a Redis queue server.

Both the exporter's collector and the operator's status refresh (a periodic job of its sweeper)
call :func:`read_snapshot`, so "how deep is the queue" has one answer in the whole project, and
:func:`job_age_seconds` is the one definition of a job's age. The read costs two round trips
whatever the number of queues: a PING (its latency is what ``redis_queue_ping_seconds``
reports, undiluted by payload size) and **one script call** (``EVALSHA``) that returns
``INFO persistence`` plus ``LLEN`` and ``LINDEX key -1`` of every queue in one array.

Why a script and not a pipeline of ``LLEN``/``LINDEX`` per key: both are one round trip, but a
pipeline of 2001 commands costs the *client* 2001 packed commands and 2001 parsed replies
(about 24 ms of redis-py at 1000 queues on the benchmark machine), while the script is one
command and one reply array that hiredis parses in C (about 3 ms). Redis does the same work
either way (O(1) per key, about a microsecond each), now without 2000 command dispatches.

How the script behaves:

- It only reads (``LLEN``, ``LINDEX``, ``INFO``), so it runs on replicas and when Redis is out
  of memory with ``noeviction`` (no shebang: a plain script is judged command by command, and
  these are not write commands); it needs Redis >= 2.6 for scripting and ``redis.pcall``
  error tables as Redis 6/7 return them.
- ``LLEN`` runs under ``redis.pcall``: a key holding a non-list yields its error text
  (``WRONGTYPE ...``) in place of the depth, which becomes ``QueueState.error`` and the
  ``redis_queue_key_error`` series; it never fails the read for the other queues.
- An empty or missing queue's ``LINDEX`` is ``false`` in Lua, a nil reply on the wire (a Lua
  ``nil`` would truncate the array), so positions never shift.
- It is sent with ``EVALSHA``; on ``NOSCRIPT`` (fresh or restarted Redis, ``SCRIPT FLUSH``)
  it is loaded with ``SCRIPT LOAD`` and sent again, once.
- It runs atomically: Redis serves no other client for its duration (about 1 us per queue,
  1 ms at 1000 queues), the same time the pipeline's commands took back to back.
- Redis Cluster is not supported: all keys of one script call must live on one node (one hash
  slot), which arbitrary queue names do not. The stack runs one Redis per RedisQueue.
"""

from __future__ import annotations

import hashlib
import json
import json.scanner
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError

# KEYS = the queue names. Reply: {INFO persistence text, depth1, head1, depth2, head2, ...};
# a depth slot holds the error text instead of an integer when the key is not a list.
READ_SCRIPT = """\
local out = {redis.call('INFO', 'persistence')}
for i, key in ipairs(KEYS) do
  local depth = redis.pcall('LLEN', key)
  if type(depth) == 'table' then
    out[2 * i] = depth.err or 'ERR'
    out[2 * i + 1] = false
  else
    out[2 * i] = depth
    out[2 * i + 1] = redis.call('LINDEX', key, -1)
  end
end
return out
"""
READ_SCRIPT_SHA = hashlib.sha1(READ_SCRIPT.encode(), usedforsecurity=False).hexdigest()


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
    """A consistent picture: all queue values come from one atomic script call."""

    queues: tuple[QueueState, ...]
    persistence: PersistenceState
    ping_seconds: float


# json.loads(text) is JSONDecoder.decode -> raw_decode -> this C scanner; calling the scanner
# directly skips two Python frames per job (about 1 us, 1 ms a scrape at 1000 queues).
# (typeshed wants a "make_scanner" context; a JSONDecoder is what json itself passes.)
_scan_json: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    cast(Any, json.JSONDecoder())
)
_WHITESPACE = " \t\n\r"  # what JSON (and json.decoder.WHITESPACE) calls whitespace


def _loads(text: str) -> Any:
    """``json.loads`` for a ``str``: the same value, and an exception wherever it raises one.

    (``StopIteration`` for malformed input where ``json.loads`` says ``JSONDecodeError``; a
    leading BOM, which ``json.loads`` rejects, is malformed to the scanner too.)
    """
    value, end = _scan_json(text, len(text) - len(text.lstrip(_WHITESPACE)))
    if end != len(text) and text[end:].strip(_WHITESPACE):
        raise ValueError("extra data after the JSON value")
    return value


def job_enqueued_at(raw: str | bytes | None) -> datetime | None:
    """Parse a job's ``timestamp`` field, or ``None`` if the payload carries no usable one.

    Never raises: a corrupt job at the head of a queue must not break a scrape; the worker
    that pops it moves it to the dead-letter list, and until then the age is simply unknown.
    Naive timestamps are taken as UTC, because the job contract says timestamps are UTC.

    A full JSON parse on purpose (about 2 us a job): a regex for ``"timestamp":"..."`` would be
    faster but wrong for valid jobs that escape characters, reorder or repeat keys, or nest a
    ``timestamp`` in an extra field.

    Why here and not in the read script (``pcall(cjson.decode, head)``, returning only the
    timestamp): measured at 1000 queues, it saves the exporter CPU but costs the Redis being
    watched more than it saves, and the script blocks Redis while it runs. Read p50 / Redis
    CPU per read, payload shipped vs cjson in Redis: 10-byte descriptions 5.3 / 1.9 vs
    5.5 / 3.4 ms; 2 KB 11.9 / 6.8 vs 16.1 / 13.8 ms; 20 KB 91 / 64 vs 105 / 102 ms. cjson
    decodes the whole payload too, more slowly than Python's C scanner, so the bandwidth it
    saves does not pay for it. ``make bench`` agreed (p50 7.50 vs 7.57 ms, throughput with 8
    scrapers 959 vs 835 req/s).
    """
    if raw is None:
        return None
    try:
        job = _loads(raw) if isinstance(raw, str) else json.loads(raw)
        parsed = datetime.fromisoformat(job["timestamp"])
    except (
        StopIteration,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        UnicodeDecodeError,
        RecursionError,
    ):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def job_age_seconds(enqueued_at: datetime, now: datetime) -> float:
    """Seconds a job has waited at ``now``; never negative.

    A producer whose clock runs ahead of the reader's stamps jobs "in the future"; that skew
    must not show as a negative age (in ``redis_queue_oldest_job_age_seconds`` or in
    ``queuectl stats``), so such a job has waited 0 s.
    """
    return max(0.0, (now - enqueued_at).total_seconds())


def parse_info(text: str) -> dict[str, str]:
    """``INFO`` text (``# Section`` headers, ``key:value`` lines) as a dict of strings."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and not key.startswith("#"):
            fields[key] = value
    return fields


def parse_persistence(info: dict[str, Any]) -> PersistenceState:
    """Turn ``INFO persistence`` fields (parsed or raw strings) into the facts we alert on."""

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


def _text(reply: object) -> str:
    """A reply as text, whether the client decodes responses (exporter) or not (operator)."""
    if isinstance(reply, bytes):
        return reply.decode("utf-8", "replace")
    return str(reply)


def _queue_state(name: str, depth: object, head: object) -> QueueState:
    """Fold one queue's two reply slots into a QueueState."""
    if isinstance(depth, int):
        job = head if isinstance(head, str | bytes) else None
        return QueueState(name, depth, job_enqueued_at(job))
    # WRONGTYPE and friends: somebody stored a non-list under a queue name.
    return QueueState(name, None, None, error=_text(depth).split(" ", 1)[0] or "ERR")


def encode_keys(queues: Sequence[str]) -> tuple[bytes, ...]:
    """The queue names as the read script's ``KEYS``.

    Pre-encoded because redis-py's per-argument encoder costs more than ``str.encode``; a caller
    that reads the same queues on every scrape (the collector) encodes them once and passes the
    result to :func:`read_snapshot` as ``keys``.
    """
    return tuple(name.encode() for name in queues)


async def run_read_script(client: Redis, keys: Sequence[bytes]) -> list[Any]:
    """``EVALSHA`` the read script, loading it first if this Redis does not know it yet."""
    try:
        return list(await client.evalsha(READ_SCRIPT_SHA, len(keys), *keys))
    except NoScriptError:
        await client.script_load(READ_SCRIPT)
        return list(await client.evalsha(READ_SCRIPT_SHA, len(keys), *keys))


async def read_snapshot(
    client: Redis, queues: Sequence[str], keys: Sequence[bytes] | None = None
) -> Snapshot:
    """Read depths, next-job timestamps and AOF state for ``queues``.

    ``keys`` is ``encode_keys(queues)`` computed once by a caller that reads the same queues
    repeatedly; without it the names are encoded for this call.

    Connection and timeout errors propagate: the caller decides what "Redis down" means (the
    exporter answers ``redis_queue_up 0`` and no depth series; the operator sets a condition).
    """
    if keys is None:
        keys = encode_keys(queues)
    elif len(keys) != len(queues):
        raise ValueError(f"{len(keys)} encoded keys given for {len(queues)} queues")
    started = time.perf_counter()
    await client.ping()
    ping_seconds = time.perf_counter() - started

    replies = await run_read_script(client, keys)
    if len(replies) != 1 + 2 * len(queues):
        raise ResponseError(f"the read script answered {len(replies)} items for {len(queues)} keys")
    states = tuple(map(_queue_state, queues, replies[1::2], replies[2::2]))
    return Snapshot(
        queues=states,
        persistence=parse_persistence(parse_info(_text(replies[0]))),
        ping_seconds=ping_seconds,
    )
