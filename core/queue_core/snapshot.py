"""One read of everything the exporter and the operator want to know about a Redis queue server.

Both the exporter's collector and the operator's status refresh (a periodic job of its sweeper)
call :func:`read_snapshot`, so "how deep is the queue" has one answer in the whole project, and
:func:`job_age_seconds` is the one definition of a job's age (:func:`ages_seconds` is the same
rule for a whole column, the exporter's hot path). The read costs **one round trip**
whatever the number of queues: one write carries a PING (its latency is what
``redis_queue_ping_seconds`` reports: its reply leaves Redis before the script runs, undiluted
by the read) and **one script call** (``EVALSHA``) that returns ``INFO persistence`` and
``INFO memory`` plus ``LLEN`` and the first :data:`PREFIX_BYTES` bytes of ``LINDEX key -1`` of
every queue in one array, and for queues the library has used its counters, workers and jobs in
flight (:class:`QueueUsage`; which queues have any is one ``SMISMEMBER`` of the library's set of
queue names, :data:`queue_core.keys.QUEUES`, never ``KEYS`` or ``SCAN``). ``INFO memory`` is
there because a Redis at ``maxmemory`` with ``noeviction`` refuses every write, so every new
job: the exporter publishes used and maximum memory so an alert fires before that.

Why only a prefix of the next job: its age is all the read wants, and a whole head costs its
size on the wire, in Redis' output buffer and in the reader (10 queues with a 10 MB job at the
head: 100 MB a read, Redis' memory peak 123 -> 197 MB, 0.7-1 s; with the prefix: 12 KB, no
growth, 0.35 s). The library writes ``timestamp`` first (:func:`queue_core.jobs.encode_job`), so
its jobs always have an age; another client's job has one if its timestamp is in the prefix.
What the prefix does not bound is the copy inside Redis: no command reads part of a list
element, so ``LINDEX`` in Lua still copies the whole head (about 3 ms of blocked Redis per
MB on the benchmark machine). Keep large payloads out of jobs (store a reference to them).

Why a script and not a pipeline of ``LLEN``/``LINDEX`` per key: both are one round trip, but a
pipeline of 2001 commands costs the *client* 2001 packed commands and 2001 parsed replies
(about 24 ms of redis-py at 1000 queues on the benchmark machine), while the script is one
command and one reply array that hiredis parses in C. The request's bytes are prepared once
for a fixed queue list (:class:`ReadRequest`), so redis-py does not pack 1000 arguments again
on every scrape.

How the script behaves:

- It only reads (``LLEN``, ``LINDEX``, ``INFO``, ``SMISMEMBER`` and the bookkeeping reads), so
  it runs on replicas and when Redis is out of memory with ``noeviction`` (no shebang: a plain
  script is judged command by command, and these are not write commands); it needs Redis
  >= 6.2 (``SMISMEMBER``; the stack runs 7.x).
- ``LLEN`` runs under ``redis.pcall``: a key holding a non-list yields its error text
  (``WRONGTYPE ...``) in place of the depth, which becomes ``QueueState.error`` and the
  ``redis_queue_key_error`` series; it never fails the read for the other queues.
- An empty or missing queue's head is ``false`` in Lua, a nil reply on the wire (a Lua
  ``nil`` would truncate the array), so positions never shift.
- It is sent with ``EVALSHA``; on ``NOSCRIPT`` (fresh or restarted Redis, ``SCRIPT FLUSH``)
  it is loaded with ``SCRIPT LOAD`` and sent again, once.
- It runs atomically: Redis serves no other client for its duration, about 2.8 us per queue
  on the benchmark machine (2.8 ms of Redis CPU per scrape at 1000 queues, more with large
  heads: see below). Nearly all of it is the per-call cost of ``redis.call`` from Lua
  (``LINDEX`` about 1.4 us, ``LLEN`` 0.7 us, where a pipelined ``LLEN`` costs Redis 0.2 us):
  the price of cutting the head to a prefix inside Redis.
- Redis Cluster is not supported: all keys of one script call must live on one node (one hash
  slot), which arbitrary queue names do not. The stack runs one Redis per RedisQueue.
"""

from __future__ import annotations

import hashlib
import json
import json.decoder
import json.scanner
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError

from queue_core import keys

# How much of each queue's head job the read script returns. The library writes ``timestamp``
# first (jobs.encode_job), about 45 bytes in; the rest of the prefix is room for other clients'
# field orders. A read ships at most this much per queue, whatever the jobs weigh.
PREFIX_BYTES = 1024

# The most workers of one queue whose in-flight jobs a read looks at. Each costs Redis three
# O(1) commands and the reply one prefix; beyond it a queue reports its registered workers
# only (no live-worker, in-flight or in-flight age series), so one read stays bounded.
MAX_WORKERS_READ = 256
_COUNTER_FIELDS = ", ".join(f"'{field}'" for field in keys.COUNTERS)  # in QueueUsage's order
_MEMBERS_PER_CALL = 1000  # queue names per SMISMEMBER (Lua's unpack takes a few thousand)

# KEYS = keys.QUEUES, then the queue names. Reply: {INFO persistence and INFO memory text (one
# string), depth1, head1, depth2, head2, ..., then for each queue with usage its position (1 for
# the first queue) and its usage}:
# - a depth slot holds the error text instead of an integer when the key is not a list;
# - a head slot the first PREFIX_BYTES bytes of the next job (false when the queue is empty);
# - a usage is {{enqueued, acked, dead_lettered}, registered workers, live workers, jobs held,
#   {prefix of each worker's oldest held job}}, where a counter never incremented is false,
#   the counters are false together when the stats key is not a hash, and the last three are
#   false above MAX_WORKERS_READ. A queue has one when keys.QUEUES names it (some library
#   client wrote its bookkeeping: one SMISMEMBER for all queues, in chunks because Lua's
#   unpack is bounded by its C stack) and its stats hash still holds a counter or its workers
#   set a worker (or either key is of another type). Read off HMGET and SCARD themselves: an
#   EXISTS first cost a call per queue, and the library never leaves a hash without counters.
# '-1' as a string: Redis turns a Lua number argument into text with a printf, per call. The
# functions it calls per queue are locals: a global is a table lookup (two for redis.call) per use.
# A head no longer than the prefix is returned as it is: string.sub would copy it (and hash
# the copy into Lua's string table) for nothing, about a microsecond a queue.
READ_SCRIPT = f"""\
local rcall, rpcall, type, sub = redis.call, redis.pcall, type, string.sub

local function usage(key)
  local stats, workers = key .. '{keys.STATS_SUFFIX}', key .. '{keys.WORKERS_SUFFIX}'
  local counts, found = rpcall('HMGET', stats, {_COUNTER_FIELDS}), false
  if type(counts) ~= 'table' or counts.err then
    counts, found = false, true
  else
    for j = 1, #counts do
      found = found or counts[j] ~= false
    end
  end
  local registered = rpcall('SCARD', workers)
  if type(registered) ~= 'number' then
    registered, found = 0, true
  end
  if not found and registered == 0 then
    return false
  end
  local live, held, heads = false, false, {{}}
  if registered <= {MAX_WORKERS_READ} then
    live, held = 0, 0
    for _, id in ipairs(registered > 0 and rcall('SMEMBERS', workers) or {{}}) do
      live = live + rcall('EXISTS', key .. '{keys.HEARTBEAT_INFIX}' .. id)
      local list = key .. '{keys.PROCESSING_INFIX}' .. id
      local n = rpcall('LLEN', list)
      if type(n) == 'number' and n > 0 then
        held = held + n
        heads[#heads + 1] = sub(rcall('LINDEX', list, '-1'), 1, {PREFIX_BYTES})
      end
    end
  end
  return {{counts, registered, live, held, heads}}
end

local used = {{}}
for first = 2, #KEYS, {_MEMBERS_PER_CALL} do
  local last = math.min(#KEYS, first + {_MEMBERS_PER_CALL - 1})
  local flags = rpcall('SMISMEMBER', KEYS[1], unpack(KEYS, first, last))
  for j = 1, type(flags) == 'table' and #flags or 0 do
    used[first + j - 2] = flags[j]
  end
end
local out, extra = {{rcall('INFO', 'persistence') .. rcall('INFO', 'memory')}}, {{}}
for i = 1, #KEYS - 1 do
  local key = KEYS[i + 1]
  local depth = rpcall('LLEN', key)
  if type(depth) == 'table' then
    out[2 * i] = depth.err or 'ERR'
    out[2 * i + 1] = false
  else
    out[2 * i] = depth
    local head = depth > 0 and rcall('LINDEX', key, '-1')
    if head and #head > {PREFIX_BYTES} then
      head = sub(head, 1, {PREFIX_BYTES})
    end
    out[2 * i + 1] = head
    local found = used[i] == 1 and usage(key)
    if found then
      extra[#extra + 1] = i
      extra[#extra + 1] = found
    end
  end
end
for _, item in ipairs(extra) do
  out[#out + 1] = item
end
return out
"""
READ_SCRIPT_SHA = hashlib.sha1(READ_SCRIPT.encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class QueueUsage:
    """What the library's producers and workers left beside a queue (:mod:`queue_core.keys`).

    A counter is 0 until its event first happens, and ``None`` only when the stats key holds
    something that is not the library's hash (unknown, never guessed). ``live_workers``,
    ``in_flight`` and ``oldest_in_flight_at`` are ``None`` above :data:`MAX_WORKERS_READ`
    registered workers (not read, to keep one read bounded); ``oldest_in_flight_at`` is also
    ``None`` when nothing is held or no held job's timestamp is readable. Its time is when the
    oldest held job was *enqueued* (its ``timestamp``), as the library records no claim time.
    """

    enqueued: int | None
    acked: int | None
    dead_lettered: int | None
    registered_workers: int
    live_workers: int | None
    in_flight: int | None
    oldest_in_flight_at: datetime | None


@dataclass(frozen=True, slots=True)
class QueueState:
    """What one queue key looked like at snapshot time (:attr:`Snapshot.queues`).

    ``depth`` is ``None`` when the key could not be read as a list (``error`` says why); a
    missing key is an empty queue (LLEN answers 0), which is the truth for Redis lists.
    ``usage`` is ``None`` when no producer or worker of this library has touched the queue.
    """

    name: str
    depth: int | None
    oldest_enqueued_at: datetime | None
    error: str | None = None
    usage: QueueUsage | None = None


@dataclass(frozen=True, slots=True)
class PersistenceState:
    """The AOF facts from ``INFO persistence`` that decide whether acknowledged jobs survive."""

    aof_enabled: bool
    aof_last_write_ok: bool
    aof_rewrite_in_progress: bool
    aof_last_rewrite_ok: bool


@dataclass(frozen=True, slots=True)
class LoadingState:
    """How far a Redis that is loading its dataset (AOF/RDB) into memory has come.

    Why a separate read: while Redis loads, it answers PING and EVALSHA with ``-LOADING`` and
    serves only commands such as ``INFO``, so :func:`read_snapshot` fails with
    ``BusyLoadingError`` and a successful snapshot always says "not loading". Callers that
    want to tell "loading" from "down" catch that error and call :func:`read_loading`.
    ``None`` fields: Redis did not report them.
    """

    loaded_ratio: float | None
    eta_seconds: float | None


@dataclass(frozen=True, slots=True)
class MemoryState:
    """How close Redis is to ``maxmemory``, from ``INFO memory``.

    ``max_bytes`` is ``None`` when Redis has no limit (``maxmemory`` 0): "no limit" is not a
    limit of 0 bytes, and a 0 would make every used/max ratio infinite. ``used_bytes`` is
    ``None`` only when the field is missing (not a Redis we know), never a guessed 0.
    """

    used_bytes: int | None
    max_bytes: int | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A consistent picture: all queue values come from one atomic script call.

    Kept as columns, one entry per queue of the read in its order (repeats included), not as an
    object per queue: at 1000 queues building a ``QueueState`` each took a millisecond of every
    scrape, and the exporter writes each column as one metric family without looking at the
    queues one by one. :attr:`queues` is the per-queue view, for the operator and queuectl.

    ``depths[i]`` is ``None`` where the key is no list (``errors[i]`` is the error's code);
    ``enqueued[i]`` the next job's ``timestamp`` in Unix seconds, ``None`` when the queue is
    empty or the timestamp unreadable; ``usages`` holds the queues the library has used.
    """

    names: tuple[str, ...]
    depths: Sequence[int | None]
    enqueued: Sequence[float | None]
    persistence: PersistenceState
    memory: MemoryState
    ping_seconds: float
    errors: Mapping[int, str] = field(default_factory=dict)
    usages: Mapping[int, QueueUsage] = field(default_factory=dict)

    @property
    def queues(self) -> tuple[QueueState, ...]:
        """One :class:`QueueState` per queue, built on each access."""
        return tuple(
            QueueState(
                name,
                depth,
                None if at is None else datetime.fromtimestamp(at, UTC),
                self.errors.get(i),
                self.usages.get(i),
            )
            for i, (name, depth, at) in enumerate(
                zip(self.names, self.depths, self.enqueued, strict=True)
            )
        )


# The C scanners json.loads itself runs on: one for any JSON value, one for a string's body.
# (typeshed wants a "make_scanner" context; a JSONDecoder is what json itself passes.)
_scan_json: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    cast(Any, json.JSONDecoder())
)
# (json.decoder.scanstring is C's scanstring where the accelerator exists; typeshed leaves it
# out of json.decoder and declares it only in _json.)
_scan_string: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_WHITESPACE = " \t\n\r"  # what JSON (and json.decoder.WHITESPACE) calls whitespace
# Text shorter than this many characters is under PREFIX_BYTES bytes however it encodes (UTF-8
# takes at most 4 bytes per character), so it is a whole payload.
_SURELY_WHOLE = PREFIX_BYTES // 4


def _skip(text: str, at: int) -> int:
    """The index of the first non-whitespace character at or after ``at``."""
    while at < len(text) and text[at] in _WHITESPACE:
        at += 1
    return at


def _whole_timestamp(text: str) -> object:
    """The ``timestamp`` member of a whole payload, exactly as ``json.loads`` reads it.

    One C call for the whole payload: about a third of the time of the member-by-member scan
    (2.2 against 6.4 us for a 200-byte job), which at 1000 queues was most of a scrape's CPU.
    It is the scanner ``json.loads`` ends in, called directly, with the checks ``json.loads``
    makes around it (JSON whitespace either side, nothing after the value): ``json.loads``
    reaches it through two Python frames and two regex matches, which took 3.0 us a 220-byte
    job where this takes 2.4 (1000 new heads: 7.3 -> 5.5 ms a scrape).
    """
    body = text.lstrip(_WHITESPACE)  # the same object when nothing is stripped: no copy
    if not body.startswith("{"):  # only an object has members
        return None
    try:
        data, end = _scan_json(text, len(text) - len(body))
    except (StopIteration, ValueError, RecursionError):
        return None
    if end != len(text) and text[end:].strip(_WHITESPACE):  # json.loads' "Extra data"
        return None
    return data.get("timestamp")


def _prefix_timestamp(text: str) -> object:
    """The value of the top-level object's last ``timestamp`` member that a prefix holds whole.

    Member by member, so a prefix cut anywhere still gives the members before the cut: each key
    and value goes through json's own C scanners (escaped keys, nested ``timestamp`` fields and
    strings that quote ``"timestamp":`` are read as ``json.loads`` reads them). Running out of
    text ends the scan with what it has found; a repeated key beyond the prefix is not seen.
    """
    found: object = None
    try:
        at = _skip(text, 0)
        if text[at] != "{":
            return None
        at = _skip(text, at + 1)
        if text[at] != "}":
            while True:
                if text[at] != '"':
                    return None
                key, at = _scan_string(text, at + 1)
                at = _skip(text, at)
                if text[at] != ":":
                    return None
                value, at = _scan_json(text, _skip(text, at + 1))
                if key == "timestamp":
                    found = value
                at = _skip(text, at)
                if text[at] == "}":
                    break
                if text[at] != ",":
                    return None
                at = _skip(text, at + 1)
    except (StopIteration, ValueError, IndexError, RecursionError):
        return found
    return found


def job_enqueued_at(raw: str | bytes | None) -> datetime | None:
    """A job's ``timestamp``, read from its first :data:`PREFIX_BYTES` bytes, or ``None``.

    ``raw`` is a job or, as the read script returns it, the job's first :data:`PREFIX_BYTES`
    bytes; a longer job is cut to that prefix here too, so the answer never depends on how much
    of the job the caller had. The library writes ``timestamp`` first, so its jobs always have
    an age; a job another client wrote has one when its ``timestamp`` member ends inside the
    prefix. Otherwise the age is unknown (``None``): absent, never guessed. A payload shorter
    than the prefix is whole and must be one valid JSON object, as ``json.loads`` would have it.

    Never raises: a corrupt job at the head of a queue must not break a scrape; the worker
    that pops it moves it to the dead-letter list, and until then the age is simply unknown.
    Naive timestamps are taken as UTC, because the job contract says timestamps are UTC. Text
    and bytes give the same answer: the exporter's client decodes replies with
    ``surrogateescape``, the operator's does not decode, and bytes are read the same way.

    A JSON scan, not a regex for ``"timestamp":"..."``: a regex would be wrong for valid jobs
    that escape characters, reorder or repeat keys, or nest a ``timestamp`` in an extra field.

    Why here and not in the read script (``pcall(cjson.decode, head)``, returning only the
    timestamp): measured at 1000 queues, it saves the exporter CPU but costs the Redis being
    watched more than it saves, and the script blocks Redis while it runs (cjson decodes the
    whole payload, more slowly than Python's C scanner).
    """
    if raw is None:
        return None
    if isinstance(raw, str) and len(raw) < _SURELY_WHOLE:
        stamp = _whole_timestamp(raw)  # the common case: no byte length to work out
    else:
        try:
            data = (
                raw[:PREFIX_BYTES].encode("utf-8", "surrogateescape")
                if isinstance(raw, str)
                else raw
            )
        except UnicodeEncodeError:  # a lone surrogate no byte decoded to: not from Redis
            return None
        text = data[:PREFIX_BYTES].decode("utf-8", "surrogateescape")
        stamp = _whole_timestamp(text) if len(data) < PREFIX_BYTES else _prefix_timestamp(text)
    if not isinstance(stamp, str):
        return None
    try:
        parsed = datetime.fromisoformat(stamp)
    except ValueError:
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


def ages_seconds(enqueued: Sequence[float | None], now: datetime) -> list[float | None]:
    """:func:`job_age_seconds` of a column of Unix times (:attr:`Snapshot.enqueued`), ``None``
    where the time is: one subtraction of floats per queue instead of a ``timedelta``."""
    at = now.timestamp()
    return [None if t is None else (age if (age := at - t) > 0 else 0.0) for t in enqueued]


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
    )


def parse_loading(info: Mapping[str, object]) -> LoadingState | None:
    """``INFO persistence`` fields (text, or as redis-py's ``info()`` parses them) as a
    LoadingState, or ``None`` when Redis is not loading."""
    if str(info.get("loading")) != "1":
        return None

    def number(key: str) -> float | None:
        try:
            return float(str(info[key]))
        except (KeyError, ValueError):
            return None

    percent = number("loading_loaded_perc")
    return LoadingState(
        loaded_ratio=None if percent is None else percent / 100,
        eta_seconds=number("loading_eta_seconds"),
    )


async def read_loading(client: Redis) -> LoadingState | None:
    """Whether Redis is loading, from ``INFO persistence`` (served while loading)."""
    return parse_loading(await client.info("persistence"))


def parse_memory(info: dict[str, str]) -> MemoryState:
    """``used_memory`` and ``maxmemory`` (bytes) from ``INFO memory`` fields; 0 = no limit."""

    def number(key: str) -> int | None:
        value = info.get(key, "")
        return int(value) if value.isdigit() else None

    limit = number("maxmemory")
    return MemoryState(used_bytes=number("used_memory"), max_bytes=limit or None)


def _text(reply: object) -> str:
    """A reply as text, whether the client decodes responses (exporter) or not (operator)."""
    if isinstance(reply, bytes):
        return reply.decode("utf-8", "replace")
    return str(reply)


def _count(value: object) -> int | None:
    """A counter from HMGET (text, or bytes from a client that does not decode).

    A field never incremented is 0: the library is in use on this queue and that event has not
    happened, and a counter that starts at 0 lets ``increase()`` see its first event. A value
    that is no count (someone wrote the hash by hand) is ``None``, not a guess.
    """
    if value is None:
        return 0
    if isinstance(value, str | bytes) and value.isdigit():
        return int(value)
    return None


def _usage(reply: object) -> QueueUsage | None:
    """Fold a usage slot of the read script (see READ_SCRIPT) into a QueueUsage."""
    if not isinstance(reply, list):
        return None
    counts, registered, live, held, heads = reply
    enqueued, acked, dead_lettered = (
        map(_count, counts) if isinstance(counts, list) else (None, None, None)
    )
    stamps = [
        stamp
        for head in heads
        if (stamp := job_enqueued_at(head if isinstance(head, str | bytes) else None)) is not None
    ]
    return QueueUsage(
        enqueued=enqueued,
        acked=acked,
        dead_lettered=dead_lettered,
        registered_workers=int(registered),
        live_workers=live if isinstance(live, int) else None,
        in_flight=held if isinstance(held, int) else None,
        oldest_in_flight_at=min(stamps) if stamps else None,
    )


_UNSEEN: Any = object()  # HeadStamps' "not parsed in the last read" (None is a parsed answer)


def _epoch(raw: str | bytes) -> float | None:
    """:func:`job_enqueued_at` in Unix seconds, the form :attr:`Snapshot.enqueued` keeps."""
    at = job_enqueued_at(raw)
    return None if at is None else at.timestamp()


class HeadStamps:
    """:func:`job_enqueued_at` (in Unix seconds) remembered for the heads of the previous read
    only.

    Why: at 1000 queues reading the timestamps was most of a scrape's CPU (json.loads of every
    head, about 2.5 us each), while between two scrapes most heads do not change (an idle or
    slow queue keeps its next job). The answer is a pure function of the bytes Redis sent in
    *this* read, so nothing stale can come out: a head that changed is a different key. Only
    the last read's heads are kept (at most one prefix of :data:`PREFIX_BYTES` per queue); a
    caller that reads the same queues repeatedly (the exporter's collector) keeps one.
    """

    def __init__(self) -> None:
        self._seen: dict[str | bytes, float | None] = {}

    def __call__(self, heads: Sequence[str | bytes | None]) -> list[float | None]:
        """The timestamps of one read's heads; these heads are what the next read may reuse.

        A whole read at once, not a call per head: at 1000 queues the calls showed.
        """
        previous, seen = self._seen, {}
        stamps: list[float | None] = []
        for head in heads:
            stamp = None
            if head is not None:
                stamp = previous.get(head, _UNSEEN)
                if stamp is _UNSEEN:
                    stamp = _epoch(head)
                seen[head] = stamp
            stamps.append(stamp)
        self._seen = seen
        return stamps


def _parse_all(heads: Sequence[str | bytes | None]) -> list[float | None]:
    """Every head's timestamp, for a caller that keeps no :class:`HeadStamps`."""
    return [None if head is None else _epoch(head) for head in heads]


def _error_code(error: object) -> str:
    """The code of the error a key that is no list answers ``LLEN`` with (``WRONGTYPE``)."""
    return _text(error).split(" ", 1)[0] or "ERR"


def resp_command(*parts: bytes) -> bytes:
    """One command as RESP sends it: an array of bulk strings (also what ``make bench``'s raw
    floor client sends)."""
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """The read of some queues as the bytes sent to Redis: ``PING`` and the script's ``EVALSHA``.

    Why prepared bytes: redis-py packs a command argument by argument (encoding, length and
    framing of each), about a microsecond an argument, so at 1000 queues it spent a millisecond
    a scrape producing the same bytes as the scrape before. A caller that reads the same queues
    repeatedly (the exporter's collector) prepares one with :func:`prepare_read` and keeps it.
    """

    queues: tuple[str, ...]
    packed: bytes


def prepare_read(queues: Sequence[str]) -> ReadRequest:
    """The :class:`ReadRequest` of ``queues`` (:data:`keys.QUEUES` first, as the script wants)."""
    names = tuple(queues)
    evalsha = resp_command(
        b"EVALSHA",
        READ_SCRIPT_SHA.encode(),
        b"%d" % (len(names) + 1),
        keys.QUEUES.encode(),
        *(name.encode() for name in names),
    )
    return ReadRequest(names, resp_command(b"PING") + evalsha)


async def _exchange(
    client: Redis, packed: bytes, meanwhile: Callable[[], object] | None = None
) -> tuple[float, Any]:
    """Send ``packed`` (PING, then the script call) in one write; PING's time and the reply.

    One round trip: PING's reply leaves Redis before the script runs, so its time is still
    Redis' answer time, undiluted by the read. ``meanwhile`` is called once PING has answered,
    while Redis runs the script: the caller's own work of the scrape that needs no reply
    (called again if the exchange is retried). The connection comes from the client's own pool
    (its password, timeouts and decoding) and the exchange is retried as the client retries a
    command (its ``Retry``, e.g. once on a connection that went stale when Redis restarted).
    A connection whose replies may be out of step with its requests is closed, not reused:
    redis-py closes it on any error while reading, and an error reply to PING leaves the
    script's reply unread.
    """
    pool = client.connection_pool
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]  # untyped stub

    async def attempt() -> tuple[float, Any]:
        started = time.perf_counter()
        await connection.send_packed_command(packed)
        try:
            await connection.read_response()
        except ResponseError:
            await connection.disconnect()
            raise
        ping_seconds = time.perf_counter() - started
        if meanwhile is not None:
            meanwhile()
        return ping_seconds, await connection.read_response()

    async def failed(_: Exception) -> None:
        await connection.disconnect()

    try:
        answer: tuple[float, Any] = await connection.retry.call_with_retry(attempt, failed)
        return answer
    finally:
        await pool.release(connection)


async def run_read_script(
    client: Redis, request: ReadRequest, meanwhile: Callable[[], object] | None = None
) -> tuple[float, list[Any]]:
    """PING's round-trip time and the read script's reply, loading the script first if this
    Redis does not know it (fresh or restarted Redis, ``SCRIPT FLUSH``)."""
    try:
        ping_seconds, replies = await _exchange(client, request.packed, meanwhile)
    except NoScriptError:
        await client.script_load(READ_SCRIPT)
        ping_seconds, replies = await _exchange(client, request.packed, meanwhile)
    return ping_seconds, list(replies)


def _usages(pairs: Sequence[object]) -> dict[int, QueueUsage]:
    """The script's trailing (position, usage) pairs, by index into the queues."""
    positions, replies = pairs[::2], pairs[1::2]
    usages = {int(cast(int, at)) - 1: _usage(u) for at, u in zip(positions, replies, strict=True)}
    return {at: usage for at, usage in usages.items() if usage is not None}


async def read_snapshot(
    client: Redis,
    queues: Sequence[str] | ReadRequest,
    stamps: HeadStamps | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> Snapshot:
    """Read depths, next-job timestamps, AOF state and memory use for ``queues``.

    ``queues`` is the names or, from a caller that reads the same queues repeatedly, their
    :func:`prepare_read`; ``stamps`` a :class:`HeadStamps` such a caller keeps. Without them
    the request is prepared and every timestamp parsed for this call. ``meanwhile`` is work
    of the caller's that needs no reply, done while Redis runs the script (see ``_exchange``):
    at 1000 queues the script takes Redis 1.5-3 ms during which the caller would only wait.

    Connection and timeout errors propagate: the caller decides what "Redis down" means (the
    exporter answers ``redis_queue_up 0`` and no depth series; the operator sets a condition).
    """
    request = queues if isinstance(queues, ReadRequest) else prepare_read(queues)
    names = request.queues
    ping_seconds, replies = await run_read_script(client, request, meanwhile)
    end = 1 + 2 * len(names)
    if len(replies) < end or (len(replies) - end) % 2:
        raise ResponseError(f"the read script answered {len(replies)} items for {len(names)} keys")
    # A head is bytes, text or None (RESP's nil for Lua's false); a depth an int unless the key
    # is no list, which the script answers with the error's text (and no head).
    depths: list[int | None] = replies[1:end:2]
    errors = {i: _error_code(d) for i, d in enumerate(depths) if type(d) is not int}
    if errors:
        depths = [None if i in errors else d for i, d in enumerate(depths)]
    info = parse_info(_text(replies[0]))
    return Snapshot(
        names=names,
        depths=depths,
        enqueued=(_parse_all if stamps is None else stamps)(replies[2:end:2]),
        persistence=parse_persistence(info),
        memory=parse_memory(info),
        ping_seconds=ping_seconds,
        errors=errors,
        usages=_usages(replies[end:]),
    )
