"""What a scrape costs the Redis it watches when the next jobs are large.

The read ships only a prefix of each head job (``queue_core.snapshot.PREFIX_BYTES``), so the
bytes Redis sends per scrape do not grow with job size; what does grow is the time Redis spends
inside the read script, because ``LINDEX`` copies the whole element into Lua before the prefix
is cut (no Redis command reads part of a list element). During that time Redis serves no other
client: this is the "blocked" time, read from Redis' own accounting (``INFO commandstats``,
``usec`` of ``evalsha`` and ``ping`` over a run of scrapes), not from a stopwatch.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import redis as redis_py

from bench import client
from queue_core.jobs import Job, encode_job
from tests.support.processes import ExporterProcess, RedisServer

QUEUES = 10
SIZES = (1_000, 1_000_000, 10_000_000)


def redis_stat(redis: RedisServer, section: str, line: str, field: str) -> int:
    """A field of an ``INFO`` line (``cmdstat_evalsha:calls=3,usec=120,...``), 0 when absent."""
    for entry in redis.cli("INFO", section).splitlines():
        if entry.startswith(line):
            for pair in entry.split(":", 1)[1].split(","):
                name, _, value = pair.partition("=")
                if name == field:
                    return int(value)
    return 0


def _one(head_bytes: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    redis = RedisServer(data_dir=work / f"redis-heads-{head_bytes}", appendfsync="everysec")
    redis.start()
    exporter: ExporterProcess | None = None
    try:
        names = [f"bench:heads-{i:02d}:queue" for i in range(QUEUES)]
        job = encode_job(Job(tenant_id="t", ticket_id="T-1", description="x" * head_bytes))
        writer = redis_py.Redis.from_url(redis.url)
        for name in names:
            writer.lpush(name, job)  # too large for a command-line argument of redis-cli
        writer.close()
        exporter = ExporterProcess(redis_url=redis.url, queues=",".join(names))
        exporter.env["AI_AGENTS_LOG_LEVEL"] = "WARNING"
        exporter.start(work)
        scraper = client.KeepAliveClient(exporter.port)
        for _ in range(3):
            scraper.get()
        redis.cli("CONFIG", "RESETSTAT")
        sent0 = int(redis.cli("INFO", "stats").split("total_net_output_bytes:")[1].split()[0])
        seq = client.sequential(exporter.port, args.head_scrapes, args.phase_seconds, warmup=0)
        sent1 = int(redis.cli("INFO", "stats").split("total_net_output_bytes:")[1].split()[0])
        blocked_usec = sum(
            redis_stat(redis, "commandstats", f"cmdstat_{command}:", "usec")
            for command in ("evalsha", "ping")
        )
        scrapes = max(seq.count, 1)
        return {
            "head_bytes": head_bytes,
            "scrapes": seq.count,
            "p50_ms": seq.percentile(50),
            "redis_blocked_ms_per_scrape": blocked_usec / 1000 / scrapes,
            # minus the INFO stats reply that took the first reading (a few KB)
            "redis_bytes_sent_per_scrape": (sent1 - sent0) / scrapes,
        }
    finally:
        if exporter is not None:
            exporter.stop()
        redis.kill()


def large_heads(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    return [_one(size, args, work) for size in SIZES]
