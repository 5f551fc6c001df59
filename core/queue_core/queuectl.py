"""``queuectl``: the queue library from a shell, with JSON on stdout for scripts and ``jq``.

    queuectl push '{"tenant_id": "t1", "ticket_id": "TKT-1", "description": "slow server"}'
    queuectl push < jobs.jsonl          # one JSON object per line
    queuectl pop --block-seconds 2
    queuectl peek --count 5             # next to be processed first
    queuectl depth                      # every configured queue
    queuectl stats                      # depths, oldest-job ages, AOF state, ping

It reads the same ``AI_AGENTS_*`` settings (and flags) as the exporter, so pointing both at a
Redis is one environment. ``--queue`` defaults to the first configured queue for ``push``,
``pop`` and ``peek``; ``depth`` and ``stats`` read every configured queue unless it is given.
Exit codes: 0 ok, 1 Redis unavailable, 2 invalid configuration or input. Logs go to stderr as
JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError, ResponseError

from queue_core.connection import TIMEOUT_SECONDS, create_client
from queue_core.jobs import Job, Undecodable, decode_job
from queue_core.logs import configure_logging
from queue_core.queue import JobQueue, QueueKeyTypeError, QueueUnavailableError
from queue_core.settings import ConfigError, RedisSettings, add_setting_flags, load_settings
from queue_core.snapshot import Snapshot, job_age_seconds, read_snapshot


class InputError(Exception):
    """A job given on the command line or stdin is not a valid job."""


def job_json(item: Job | Undecodable) -> dict[str, Any]:
    if isinstance(item, Undecodable):
        return {"undecodable": item.raw, "reason": item.reason}
    return item.model_dump(mode="json")


def parse_jobs(texts: Iterable[str]) -> list[Job]:
    """Jobs from JSON objects; ``job_id`` and ``timestamp`` are filled in when absent."""
    jobs = []
    for number, text in enumerate(texts, start=1):
        decoded = decode_job(text)
        if isinstance(decoded, Undecodable):
            raise InputError(f"job {number}: {decoded.reason}")
        jobs.append(decoded)
    return jobs


async def run(settings: RedisSettings, args: argparse.Namespace) -> Any:
    client = create_client(settings)
    try:
        queue = JobQueue(client, args.queue or settings.queues[0])
        if args.command == "push":
            lines = args.jobs or [line for line in sys.stdin if line.strip()]
            jobs = parse_jobs(lines)
            depth = await queue.push_many(jobs)
            return {"queue": queue.name, "pushed": [j.job_id for j in jobs], "depth": depth}
        if args.command == "pop":
            job = await queue.pop(args.block_seconds)
            return {"queue": queue.name, "job": None if job is None else job_json(job)}
        if args.command == "peek":
            jobs_ = await queue.peek(args.count)
            return {"queue": queue.name, "jobs": [job_json(j) for j in jobs_]}
        names = [args.queue] if args.queue else list(settings.queues)
        snapshot = await read_snapshot(client, names)
        if args.command == "depth":
            return {q.name: q.depth for q in snapshot.queues}
        return stats_json(snapshot)
    finally:
        await client.aclose()


def stats_json(snapshot: Snapshot) -> dict[str, Any]:
    now = datetime.now(UTC)
    persistence = snapshot.persistence
    return {
        "queues": [
            {
                "queue": q.name,
                "depth": q.depth,
                "oldest_job_age_seconds": None
                if q.oldest_enqueued_at is None
                else round(job_age_seconds(q.oldest_enqueued_at, now), 3),
                "error": q.error,
            }
            for q in snapshot.queues
        ],
        "aof": {
            "enabled": persistence.aof_enabled,
            "last_write_ok": persistence.aof_last_write_ok,
            "rewrite_in_progress": persistence.aof_rewrite_in_progress,
        },
        "ping_seconds": round(snapshot.ping_seconds, 6),
    }


def block_seconds(text: str) -> float:
    """``--block-seconds``: above 0 (0 would block forever) and below the socket timeout."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < TIMEOUT_SECONDS:
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds above 0 and below {TIMEOUT_SECONDS:g} "
            f"(the socket timeout), got {text!r}"
        )
    return seconds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="queuectl", description="Push, pop, peek and inspect Redis job queues (JSON out)."
    )
    add_setting_flags(parser, RedisSettings)
    commands = parser.add_subparsers(dest="command", required=True)
    push = commands.add_parser("push", help="enqueue jobs (JSON args, or JSON lines on stdin)")
    push.add_argument("jobs", nargs="*", metavar="JOB_JSON")
    pop = commands.add_parser("pop", help="take the next job (at-most-once)")
    pop.add_argument(
        "--block-seconds", type=block_seconds, default=1.0, help="wait up to (0 < s < 5)"
    )
    peek = commands.add_parser("peek", help="show the next jobs without removing them")
    peek.add_argument("--count", type=int, default=10)
    commands.add_parser("depth", help="LLEN of each queue (null: key is not a list)")
    commands.add_parser("stats", help="depths, oldest-job ages, AOF state, ping")
    for sub in (push, pop, peek):
        sub.add_argument("--queue", help="queue name (default: the first configured queue)")
    for sub in (commands.choices["depth"], commands.choices["stats"]):
        sub.add_argument("--queue", help="only this queue (default: every configured queue)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(RedisSettings, args)
    except ConfigError as error:
        print(f"queuectl: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.secrets())
    try:
        result = asyncio.run(run(settings, args))
    except (InputError, ValueError, QueueKeyTypeError) as error:
        print(f"queuectl: {error}", file=sys.stderr)
        return 2
    except ResponseError as error:
        print(f"queuectl: Redis refused the command: {error}", file=sys.stderr)
        return 1
    except (QueueUnavailableError, RedisError, OSError) as error:
        print(f"queuectl: Redis unavailable: {error}", file=sys.stderr)
        return 1
    json.dump(result, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0
