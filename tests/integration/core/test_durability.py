"""Story AC 7: acknowledged jobs survive Redis restarts (AOF), measured on real crashes.

``appendfsync always`` fsyncs before replying, so every acknowledged push must survive a
SIGKILL. ``everysec`` may lose up to about a second of writes, but only when the *machine*
loses its page cache (power cut, kernel panic); a killed *process* has already written its
AOF buffer to the kernel. The last test measures what a SIGKILL really costs and prints it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from queue_core.connection import create_client
from queue_core.jobs import Job
from queue_core.queue import JobQueue, QueueUnavailableError
from queue_core.settings import RedisSettings
from tests.support.processes import RedisServer

QUEUE = "enhancement:queue"
N = 300


def make_job(n: int) -> Job:
    return Job(tenant_id="t", ticket_id=f"TKT-{n}", description=f"job {n}")


async def push_acknowledged(server: RedisServer, count: int) -> None:
    client = create_client(RedisSettings(redis_url=server.url))
    try:
        queue = JobQueue(client, QUEUE)
        for n in range(count):
            await queue.push(make_job(n))  # one command per job: each is acknowledged
    finally:
        await client.aclose()


async def queued_ticket_ids(server: RedisServer) -> list[str]:
    client = create_client(RedisSettings(redis_url=server.url))
    try:
        jobs = await JobQueue(client, QUEUE).peek(10**6)
    finally:
        await client.aclose()
    return [job.ticket_id for job in jobs if isinstance(job, Job)]


async def test_acknowledged_jobs_survive_sigkill_with_fsync_always(
    redis_server: RedisServer,
) -> None:
    assert redis_server.appendfsync == "always"
    await push_acknowledged(redis_server, N)
    redis_server.kill()
    redis_server.start()  # same data dir, same AOF
    assert await queued_ticket_ids(redis_server) == [f"TKT-{n}" for n in range(N)]


async def test_jobs_survive_a_clean_shutdown(redis_server: RedisServer) -> None:
    await push_acknowledged(redis_server, N)
    redis_server.stop()
    redis_server.start()
    assert await queued_ticket_ids(redis_server) == [f"TKT-{n}" for n in range(N)]
    assert "aof_enabled:1" in redis_server.cli("INFO", "persistence")


async def test_everysec_loss_window_under_sigkill(tmp_path: Path) -> None:
    """Push continuously, SIGKILL mid-stream, restart, compare survivors with acknowledgements.

    Not asserted as a time (it depends on the disk and the kernel); asserted: what survived is
    an in-order prefix of what was pushed, with no duplicates.
    """
    server = RedisServer(data_dir=tmp_path / "everysec", appendfsync="everysec").start()
    try:
        client = create_client(RedisSettings(redis_url=server.url))
        queue = JobQueue(client, QUEUE)
        acked_at: list[float] = []
        assert server.process is not None
        pid = server.process.pid
        loop = asyncio.get_running_loop()
        loop.call_later(1.5, os.kill, pid, signal.SIGKILL)
        started = time.monotonic()
        try:
            while time.monotonic() - started < 10:
                await queue.push(make_job(len(acked_at)))
                acked_at.append(time.monotonic())
        except QueueUnavailableError:
            pass
        finally:
            await client.aclose()
        killed_at = time.monotonic()
        server.kill()  # reap the process and wait for the port to close
        server.start()
        survived = await queued_ticket_ids(server)
    finally:
        server.kill()

    acknowledged = len(acked_at)
    assert acknowledged > 100, "the pusher should have been running when Redis died"
    assert survived == [f"TKT-{n}" for n in range(len(survived))]  # in order, no duplicates
    # The push in flight at the kill may have reached the AOF without its reply reaching us.
    assert len(survived) <= acknowledged + 1
    lost = max(0, acknowledged - len(survived))
    window_ms = (acked_at[-1] - acked_at[len(survived)]) * 1000 if lost else 0.0
    print(
        f"\n[everysec] acknowledged {acknowledged} jobs in {killed_at - started:.2f}s, "
        f"SIGKILL, restart: {len(survived)} survived, {lost} acknowledged jobs lost "
        f"(loss window {window_ms:.0f} ms)"
    )
