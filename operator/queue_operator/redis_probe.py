"""Reading one RedisQueue's Redis into a :class:`StatusReport`: queue depths and AOF state.

What the periodic status refresh (:mod:`queue_operator.periodic`) writes; nothing here talks to
Kubernetes.

The read is :func:`queue_core.snapshot.read_snapshot`, the same one the exporter uses, so
``kubectl get rqueue`` and the ``redis_queue_depth`` metric agree. Redis being unreachable is a
condition, never an exception out of the status refresh; and like the exporter, an unreachable
Redis reports no depth at all rather than a made-up 0.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, BusyLoadingError, RedisError

from queue_core.connection import PROTOCOL
from queue_core.snapshot import LoadingState, Snapshot, read_loading, read_snapshot
from queue_operator.conditions import Condition


@dataclass(frozen=True, slots=True)
class StatusReport:
    """Status fields to merge (``None`` removes a field) and the conditions they imply.

    ``redis`` is Redis' part of Ready (it answers, it is not loading); whether the current
    generation is served also needs the rollout (:func:`queue_operator.readiness.readiness`).
    """

    redis: Condition
    persistence: Condition
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def conditions(self) -> tuple[Condition, Condition]:
        return (self.redis, self.persistence)


def report_from_snapshot(snapshot: Snapshot) -> StatusReport:
    queues: list[dict[str, Any]] = []
    for state in snapshot.queues:
        entry: dict[str, Any] = {"name": state.name}
        if state.depth is not None:
            entry["depth"] = state.depth
        if state.error is not None:
            entry["error"] = state.error
        queues.append(entry)
    aof = snapshot.persistence
    first = snapshot.depths[0] if snapshot.depths else None
    ready = Condition("Ready", "True", "RedisAnswering", "Redis answers PING")
    if not aof.aof_enabled:
        persistence = Condition("PersistenceHealthy", "False", "AOFDisabled", "appendonly is off")
    elif not aof.aof_last_write_ok:
        persistence = Condition(
            "PersistenceHealthy", "False", "AOFWriteFailed", "the last AOF write failed"
        )
    elif not aof.aof_last_rewrite_ok:
        persistence = Condition(
            "PersistenceHealthy", "False", "AOFRewriteFailed", "the last AOF rewrite failed"
        )
    else:
        persistence = Condition("PersistenceHealthy", "True", "AOFHealthy", "AOF writes succeed")
    return StatusReport(
        ready,
        persistence,
        fields={
            "depth": first,
            "queues": queues,
            "aof": {
                "enabled": aof.aof_enabled,
                "lastWriteOk": aof.aof_last_write_ok,
                "rewriteInProgress": aof.aof_rewrite_in_progress,
            },
        },
    )


def report_unreachable(reason: str, message: str) -> StatusReport:
    """No numbers when Redis cannot be read: stale or zero depths would mislead autoscaling."""
    return StatusReport(
        Condition("Ready", "False", reason, message),
        Condition("PersistenceHealthy", "Unknown", reason, "Redis could not be read"),
        fields={"depth": None, "queues": None, "aof": None},
    )


def report_loading(loading: LoadingState | None) -> StatusReport:
    """Redis answered ``-LOADING``: it is up but serves no queue until its AOF is in memory."""
    progress = ""
    if loading is not None and loading.loaded_ratio is not None:
        progress = f": {loading.loaded_ratio:.0%} loaded"
        if loading.eta_seconds is not None:
            progress += f", about {loading.eta_seconds:g} s to go"
    return report_unreachable("Loading", f"Redis is loading its AOF into memory{progress}")


async def probe_redis(
    host: str, port: int, password: str | None, queues: Sequence[str], io_timeout: float
) -> StatusReport:
    """One bounded read; every failure becomes a report. No retries: the next refresh is one."""
    client = Redis(
        host=host,
        port=port,
        password=password,
        socket_timeout=io_timeout,
        socket_connect_timeout=io_timeout,
        retry=Retry(NoBackoff(), 0),
        single_connection_client=True,
        # The library's protocol: on RESP3 each read's new connection would try (and, on Redis
        # 7.0, log the refusal of) CLIENT MAINT_NOTIFICATIONS.
        protocol=PROTOCOL,
    )
    try:
        async with asyncio.timeout(io_timeout * 2):
            snapshot = await read_snapshot(client, queues)
    except AuthenticationError as exc:
        return report_unreachable("AuthenticationFailed", f"{host}:{port}: {exc}")
    except BusyLoadingError:
        try:
            return report_loading(await read_loading(client))
        except (RedisError, OSError, TimeoutError):
            return report_loading(None)
    except (RedisError, OSError, TimeoutError) as exc:
        # redis-py's messages name host and port, never the password.
        return report_unreachable(
            "RedisUnreachable", f"{host}:{port}: {type(exc).__name__}: {exc}".rstrip(": ")
        )
    finally:
        await client.aclose()
    return report_from_snapshot(snapshot)
