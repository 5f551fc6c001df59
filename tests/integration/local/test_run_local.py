"""``scripts/run-local.sh`` (``make run``) for real: three processes up, a job visible end to end,
and nothing left behind after Ctrl-C.

The script runs on free loopback ports with its data dir under ``tmp_path`` (``RUN_*``
overrides), in its own session so a failing test can still clean up the whole process group.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml

from bench import procstat
from tests.support.processes import (
    LOOPBACK,
    free_port,
    http_get,
    port_open,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "run-local.sh"
QUEUE = "enhancement:queue"
JOBS = 3


def _alive(pid: int) -> bool:
    """True unless the process is gone (a zombie counts as gone: it holds no port or file)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@dataclass
class LocalStack:
    process: subprocess.Popen[bytes]
    output: Path
    data_dir: Path
    redis_port: int
    exporter_port: int
    prometheus_port: int

    @property
    def ports(self) -> tuple[int, int, int]:
        return self.redis_port, self.exporter_port, self.prometheus_port

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def redis_cli(self, *args: str) -> list[str]:
        cmd = ["redis-cli", "-h", LOOPBACK, "-p", str(self.redis_port), *args]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=True)
        return out.stdout.splitlines()

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AI_AGENTS_")}
        env["AI_AGENTS_REDIS_URL"] = f"redis://{LOOPBACK}:{self.redis_port}/0"
        return env


def _run_script(tmp_path: Path, **overrides: str) -> tuple[subprocess.Popen[bytes], Path]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AI_AGENTS_", "RUN_"))}
    env.update(overrides)
    output = tmp_path / "run-local.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [str(SCRIPT)],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, output


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Last-resort cleanup when a test failed before its own clean stop."""
    if process.poll() is None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
                process.wait(timeout=30)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue


@pytest.fixture
def local_stack(tmp_path: Path) -> Iterator[LocalStack]:
    for tool in ("redis-server", "redis-cli", "prometheus"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: run `make setup`")
    stack_ports = [free_port() for _ in range(3)]
    data_dir = tmp_path / "data"
    process, output = _run_script(
        tmp_path,
        RUN_REDIS_PORT=str(stack_ports[0]),
        RUN_EXPORTER_PORT=str(stack_ports[1]),
        RUN_PROMETHEUS_PORT=str(stack_ports[2]),
        RUN_DATA_DIR=str(data_dir),
    )
    stack = LocalStack(process, output, data_dir, *stack_ports)

    def started() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"run-local.sh exited with {process.returncode}:\n{stack.text()}")
        return "Local stack is running" in stack.text()

    try:
        wait_until(started, timeout=120, what="run-local.sh to report the stack running")
        yield stack
    finally:
        _kill_group(process)


def test_local_stack_serves_queue_depth_and_stops_cleanly(local_stack: LocalStack) -> None:
    stack = local_stack
    children = procstat.children(stack.process.pid)
    commands = {pid: _cmdline(pid) for pid in children}
    assert any("redis-server" in c for c in commands.values()), commands
    assert any("queue-exporter" in c for c in commands.values()), commands
    assert any(c.startswith("prometheus ") for c in commands.values()), commands

    # Redis runs with the durability settings the story asks for, data under the data dir.
    def config(name: str) -> str:
        key, value = stack.redis_cli("CONFIG", "GET", name)
        assert key == name
        return value

    assert config("appendonly") == "yes"
    assert config("appendfsync") == "everysec"
    assert config("maxmemory-policy") == "noeviction"
    assert config("bind") == LOOPBACK
    assert Path(config("dir")).resolve() == (stack.data_dir / "redis").resolve()

    # The printed instructions carry this run's URLs and the monitoring commands.
    text = stack.text()
    for needle in (
        f"http://{LOOPBACK}:{stack.exporter_port}/metrics",
        f"http://{LOOPBACK}:{stack.exporter_port}/health/ready",
        f"http://{LOOPBACK}:{stack.prometheus_port}/graph?g0.expr=redis_queue_depth",
        f"redis-cli -p {stack.redis_port} LLEN {QUEUE}",
        f"LRANGE {QUEUE} -10 -1",
        f"LINDEX {QUEUE} -1",
        "INFO persistence",
        "INFO memory",
        f"MEMORY USAGE {QUEUE}",
        "SLOWLOG GET 10",
        "queuectl push",
    ):
        assert needle in text, f"{needle!r} missing from:\n{text}"

    # The example push line the script printed works as printed (from the repo root) ...
    example = [line for line in text.splitlines() if "queuectl push" in line]
    assert len(example) == 1, text
    env_without_url = {k: v for k, v in stack.env().items() if k != "AI_AGENTS_REDIS_URL"}
    printed = subprocess.run(
        ["bash", "-c", example[0].strip()],
        cwd=ROOT,
        env=env_without_url,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert printed.returncode == 0, f"{example[0]!r}: {printed.stderr}"

    # ... and so does pushing more jobs, the way a person would.
    queuectl = str(Path(sys.executable).with_name("queuectl"))
    jobs = [
        json.dumps(
            {
                "tenant_id": "t1",
                "ticket_id": f"T-{i}",
                "description": f"job {i}",
                "priority": "normal",
            }
        )
        for i in range(1, JOBS)
    ]
    pushed = subprocess.run(
        [queuectl, "push", "--queue", QUEUE, *jobs],
        env=stack.env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert pushed.returncode == 0, pushed.stderr
    assert stack.redis_cli("LLEN", QUEUE) == [str(JOBS)]

    # The exporter reports the depth ...
    depth_line = re.compile(rf'^redis_queue_depth\{{queue="{QUEUE}"\}} (\S+)$', re.MULTILINE)

    def exporter_depth() -> float | None:
        status, body = http_get(f"http://{LOOPBACK}:{stack.exporter_port}/metrics")
        match = depth_line.search(body) if status == 200 else None
        return float(match.group(1)) if match else None

    assert exporter_depth() == JOBS
    status, body = http_get(f"http://{LOOPBACK}:{stack.exporter_port}/health/ready")
    assert status == 200
    assert json.loads(body)["redis"] == "connected"

    # ... and Prometheus, configured from deploy/prometheus/prometheus.yml, has scraped it.
    query = f'redis_queue_depth{{queue="{QUEUE}"}}'
    url = f"http://{LOOPBACK}:{stack.prometheus_port}/api/v1/query?" + urlencode({"query": query})

    def prometheus_depth() -> float | None:
        status, body = http_get(url)
        if status != 200:
            return None
        result = json.loads(body)["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    wait_until(
        lambda: prometheus_depth() == JOBS, timeout=60, what=f"Prometheus to see depth {JOBS}"
    )
    # It evaluates the chart's alert rules too (deploy/prometheus/redis-queue.rules.yaml).
    status, body = http_get(f"http://{LOOPBACK}:{stack.prometheus_port}/api/v1/rules")
    assert status == 200
    loaded = {r["name"] for g in json.loads(body)["data"]["groups"] for r in g["rules"]}
    shipped = {
        r["alert"]
        for g in yaml.safe_load((ROOT / "deploy/prometheus/redis-queue.rules.yaml").read_text())[
            "groups"
        ]
        for r in g["rules"]
        if "alert" in r
    }
    assert shipped, "the rule file holds no alerts"
    assert shipped <= loaded, (shipped, loaded)

    # Ctrl-C as a terminal sends it, to the whole foreground process group (the script runs in
    # a session of its own): the script stops every child in order and exits 0; none of them
    # quits on its own first, and nothing keeps a port.
    os.killpg(stack.process.pid, signal.SIGINT)
    assert stack.process.wait(timeout=90) == 0, stack.text()
    assert "unexpectedly" not in stack.text()
    leftovers = {pid: commands[pid] for pid in children if _alive(pid)}
    assert not leftovers, f"processes left after Ctrl-C: {leftovers}"
    for port in stack.ports:
        assert not port_open(port), f"port {port} still open after Ctrl-C"
    assert "stopped" in stack.text()

    # A clean stop flushed the AOF: the jobs are on disk under the data dir.
    aof_files = list((stack.data_dir / "redis").rglob("*.aof"))
    assert aof_files, "no AOF files under the redis data dir"
    assert any(b"T-1" in path.read_bytes() for path in aof_files)


def test_local_stack_refuses_a_taken_port(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind((LOOPBACK, 0))
        busy.listen()
        taken = busy.getsockname()[1]
        free = [free_port() for _ in range(2)]
        process, output = _run_script(
            tmp_path,
            RUN_REDIS_PORT=str(free[0]),
            RUN_EXPORTER_PORT=str(taken),
            RUN_PROMETHEUS_PORT=str(free[1]),
            RUN_DATA_DIR=str(tmp_path / "data"),
        )
        try:
            code = process.wait(timeout=30)
        finally:
            _kill_group(process)
    text = output.read_text()
    assert code == 1, text
    assert f"port {taken} (exporter) is already in use" in text
    assert "RUN_EXPORTER_PORT" in text
    # Nothing was started: the check runs before any child.
    assert not port_open(free[0])
    assert not port_open(free[1])
