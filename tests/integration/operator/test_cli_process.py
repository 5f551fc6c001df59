"""The ``queue-operator`` command as the Deployment runs it: a process, env settings, liveness."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import urllib.request

from tests.integration.operator.conftest import Cluster, eventually
from tests.support.processes import LOOPBACK, free_port


def healthz(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/healthz", timeout=1) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


async def test_command_serves_a_namespace_and_liveness(cluster: Cluster) -> None:
    port = free_port()
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "QUEUE_OPERATOR_RECONCILE_INTERVAL": "1",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "queue_operator",
        "-n",
        "queues",
        f"--liveness=http://{LOOPBACK}:{port}/healthz",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        await cluster.create_queue("jobs", {})
        await eventually(
            lambda: cluster.get("apps/v1", "statefulsets", "jobs-redis"), what="StatefulSet"
        )
        assert await asyncio.to_thread(healthz, port)
    finally:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()
