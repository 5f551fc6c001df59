"""Real server processes for tests: free loopback ports, temporary dirs, and clean teardown.

Tests never mock Redis or Prometheus; they start the Debian binaries on 127.0.0.1 and kill,
pause or restart them to see what the code under test does when the real thing misbehaves.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """Ask the kernel for a free loopback port (racy in theory, fine for a test run)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], bool], timeout: float = 20.0, what: str = "condition"
) -> None:
    """Poll ``predicate`` until it holds; a bounded wait instead of a fixed sleep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((LOOPBACK, port)) == 0


@dataclass
class RedisServer:
    """A redis-server on loopback with AOF in ``data_dir``; restartable on the same files."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    appendfsync: str = "always"
    password: str | None = None
    extra_args: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def command(self) -> list[str]:
        args = [
            "redis-server",
            "--bind",
            LOOPBACK,
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            self.appendfsync,
            "--maxmemory-policy",
            "noeviction",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]
        if self.password:
            args += ["--requirepass", self.password]
        return args + list(self.extra_args)

    def start(self) -> RedisServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL)
        wait_until(self.answers_ping, what=f"redis-server on port {self.port}")
        return self

    def cli(self, *args: str) -> str:
        """Run ``redis-cli`` against this server, as a person monitoring the queue would."""
        cmd = ["redis-cli", "-h", LOOPBACK, "-p", str(self.port)]
        env = dict(os.environ)
        if self.password:
            env["REDISCLI_AUTH"] = self.password
        out = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=10, env=env)
        return out.stdout.strip()

    def answers_ping(self) -> bool:
        try:
            return self.cli("PING") == "PONG"
        except subprocess.TimeoutExpired:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no final fsync; what a node crash looks like."""
        self._signal_and_wait(signal.SIGKILL)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), which flushes the AOF."""
        self._signal_and_wait(signal.SIGTERM)

    def pause(self) -> None:
        """SIGSTOP: the port stays open and connections hang; a frozen Redis."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def restart(self) -> RedisServer:
        self.kill()
        return self.start()

    def _signal_and_wait(self, sig: signal.Signals) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.send_signal(sig)
        self.process.wait(timeout=30)
        wait_until(lambda: not port_open(self.port), what=f"port {self.port} to close")
