"""Real server processes for tests: free loopback ports, temporary dirs, and clean teardown.

Tests never mock Redis or Prometheus; they start the Debian binaries on 127.0.0.1 and kill,
pause or restart them to see what the code under test does when the real thing misbehaves.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"


#: Where test servers listen: below Kubernetes' NodePort range and, on Debian's default
#: ``ip_local_port_range`` (32768-60999), outside the ports the kernel hands to a bind of port 0.
TEST_PORTS = range(20000, 30000)
#: The most pytest-xdist workers that get a block of TEST_PORTS of their own.
PORT_BLOCKS = 16


def _ephemeral_ports() -> range:
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return range(int(low), int(high) + 1)


def port_block(worker: str, ports: range = TEST_PORTS, blocks: int = PORT_BLOCKS) -> range:
    """The ports one xdist worker ("gw3"; "master" without xdist) hands out: disjoint from
    every other worker's, so two workers never pick the same port between a check and a bind."""
    index = int(worker[2:]) % blocks if worker.startswith("gw") else 0
    size = len(ports) // blocks
    return range(ports.start + index * size, ports.start + (index + 1) * size)


@functools.cache
def _worker_block() -> range:
    """This worker's block, refused if the kernel could hand its ports to a bind of port 0."""
    block = port_block(os.environ.get("PYTEST_XDIST_WORKER", "master"))
    ephemeral = _ephemeral_ports()
    if block.start < ephemeral.stop and ephemeral.start < block.stop:
        raise RuntimeError(
            f"test ports {block.start}-{block.stop - 1} overlap net.ipv4.ip_local_port_range "
            f"({ephemeral.start}-{ephemeral.stop - 1}): the kernel could give them to any bind "
            "of port 0; move TEST_PORTS in tests/support/processes.py out of that range"
        )
    return block


_turns = itertools.count()


def free_port() -> int:
    """A loopback port nothing listens on, from this worker's own block.

    Not a bind of port 0: the kernel gives the same ephemeral ports to every other bind of
    port 0 (an aiohttp test server in another worker), and such a server can take the port
    between this check and the bind of the process that was meant to get it. Then a test reads
    another test's server. Ports come in turn, so a port just released is not handed out again
    at once."""
    block = _worker_block()
    for _ in block:
        port = block[next(_turns) % len(block)]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port in this worker's block of TEST_PORTS")


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

    def start(self, loaded: bool = True) -> RedisServer:
        """Start and wait until Redis answers PING, or (``loaded=False``) answers at all, which
        a Redis still loading its AOF does with ``-LOADING``."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL)
        ready = self.answers_ping if loaded else self.answers
        wait_until(ready, what=f"redis-server on port {self.port}")
        return self

    def answers(self) -> bool:
        try:
            return self.cli("PING").split(" ", 1)[0] in {"PONG", "LOADING"}
        except subprocess.TimeoutExpired:
            return False

    def loading(self) -> bool:
        """Whether Redis is still loading its dataset (INFO is served meanwhile)."""
        return "loading:1" in self.cli("INFO", "persistence")

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


def _bin(name: str) -> str:
    """A console script of this project, from the venv the tests run in."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def wait_listening(process: subprocess.Popen[Any], port: int, name: str, log_path: Path) -> None:
    """Wait until ``name`` listens on ``port``; raise with its log if the process exits first."""

    def live() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}: {log_path.read_text()}")
        return port_open(port)

    wait_until(live, what=f"{name} on port {port} ({log_path})")


def http_get(url: str, timeout: float = 10.0) -> tuple[int, str]:
    """GET ``url`` and return (status, body); HTTP errors are answers, not exceptions."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback only)
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()


@dataclass
class ExporterProcess:
    """The real ``queue-exporter`` console script, configured through its environment."""

    redis_url: str
    queues: str = "enhancement:queue,enhancement:dlq"
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[str] | None = None
    log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AI_AGENTS_")}
        env.update(
            AI_AGENTS_REDIS_URL=self.redis_url,
            AI_AGENTS_QUEUES=self.queues,
            AI_AGENTS_EXPORTER_HOST=LOOPBACK,
            AI_AGENTS_EXPORTER_PORT=str(self.port),
        )
        env.update(self.env)
        return env

    def start(self, log_dir: Path) -> ExporterProcess:
        self.log_path = log_dir / f"exporter-{self.port}.log"
        log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [_bin("queue-exporter")],
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_listening(self.process, self.port, "queue-exporter", self.log_path)
        return self

    def get(self, path: str) -> tuple[int, str]:
        return http_get(self.base_url + path)

    def stop(self) -> int | None:
        """SIGTERM and wait: the exit code tells whether shutdown was graceful."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.terminate()
        return self.process.wait(timeout=15)


@dataclass
class PrometheusServer:
    """Debian's prometheus on loopback with a config the test writes, fast scrape interval."""

    work_dir: Path
    config: dict[str, Any]
    rule_files: tuple[Path, ...] = ()
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> PrometheusServer:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        config = dict(self.config)
        if self.rule_files:
            config["rule_files"] = [str(p) for p in self.rule_files]
        config_path = self.work_dir / "prometheus.yml"
        config_path.write_text(json.dumps(config))  # JSON is valid YAML
        log = (self.work_dir / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config_path}",
                f"--storage.tsdb.path={self.work_dir / 'tsdb'}",
                f"--web.listen-address={LOOPBACK}:{self.port}",
                "--web.enable-lifecycle",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_until(
            lambda: port_open(self.port) and http_get(self.base_url + "/-/ready")[0] == 200,
            timeout=60,
            what=f"prometheus on port {self.port}",
        )
        return self

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query through the HTTP API; returns the result vector."""
        url = f"{self.base_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        status, body = http_get(url)
        payload = json.loads(body)
        if status != 200 or payload.get("status") != "success":
            raise RuntimeError(f"query {expr!r} failed: {status} {body}")
        return list(payload["data"]["result"])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def scrape_config(
    target_port: int,
    interval: str = "1s",
    labels: Mapping[str, str] | None = None,
    kube_state_metrics: str | None = None,
) -> dict[str, Any]:
    """A Prometheus config scraping one exporter on loopback.

    ``labels`` are the exporter's target labels (in a cluster the ServiceMonitor gives it
    ``namespace`` and ``service``, which the chart's queries select on); ``kube_state_metrics``
    is a ``host:port`` scraped with ``honor_labels``, as kube-prometheus-stack scrapes
    kube-state-metrics, so a stand-in's ``namespace`` labels are kept.
    """
    target: dict[str, Any] = {"targets": [f"{LOOPBACK}:{target_port}"]}
    if labels:
        target["labels"] = dict(labels)
    jobs: list[dict[str, Any]] = [{"job_name": "redis-queue-exporter", "static_configs": [target]}]
    if kube_state_metrics is not None:
        jobs.append(
            {
                "job_name": "kube-state-metrics",
                "honor_labels": True,
                "static_configs": [{"targets": [kube_state_metrics]}],
            }
        )
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": jobs,
    }


@dataclass
class RedisExporterProcess:
    """Debian's ``prometheus-redis-exporter`` (oliver006/redis_exporter), for comparisons.

    ``keys`` become ``-check-single-keys``, the per-key LLEN that our exporter's queue depths
    are compared with. Listens on loopback only.
    """

    redis_url: str
    keys: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    extra_args: tuple[str, ...] = ()
    binary: str = "prometheus-redis-exporter"
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def command(self) -> list[str]:
        args = [
            self.binary,
            f"-redis.addr={self.redis_url}",
            f"-web.listen-address={LOOPBACK}:{self.port}",
        ]
        if self.keys:
            args.append("-check-single-keys=" + ",".join(self.keys))
        return args + list(self.extra_args)

    def start(self, log_dir: Path) -> RedisExporterProcess:
        self.log_path = log_dir / f"redis-exporter-{self.port}.log"
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        wait_listening(self.process, self.port, self.binary, self.log_path)
        return self

    def get(self, path: str) -> tuple[int, str]:
        return http_get(self.base_url + path)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)


# Redis' own knobs for testing loading: sleep this many microseconds per key loaded, and serve
# clients every 1024 bytes read (the minimum), so a small dataset loads for seconds.
SLOW_LOAD_ARGS = ("--key-load-delay", "2000", "--loading-process-events-interval-bytes", "1024")


def slow_loading_redis(data_dir: Path, keys: int = 3000) -> RedisServer:
    """A Redis whose next start loads its AOF for about ``keys`` x 2 ms (6 s by default).

    The keys go into the AOF's RDB base (BGREWRITEAOF), which is what ``key-load-delay`` slows;
    the caller restarts it with ``kill()`` and ``start(loaded=False)``.
    """
    server = RedisServer(data_dir=data_dir, appendfsync="everysec", extra_args=SLOW_LOAD_ARGS)
    server.start()
    server.cli("EVAL", "for i = 1, ARGV[1] do redis.call('SET', 'k' .. i, i) end", "0", str(keys))
    server.cli("BGREWRITEAOF")
    wait_until(
        lambda: (
            "aof_rewrite_in_progress:0" in server.cli("INFO", "persistence")
            and "aof_rewrite_scheduled:0" in server.cli("INFO", "persistence")
        ),
        what="the AOF rewrite",
    )
    return server


class ExpositionServer:
    """A loopback HTTP server answering every GET with the text ``body()`` returns then: a
    stand-in for an exporter a test does not run (kube-state-metrics), for Prometheus to scrape.
    """

    def __init__(self, body: Callable[[], str]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                data = body().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def target(self) -> str:
        return f"{LOOPBACK}:{self.server.server_address[1]}"

    def start(self) -> ExpositionServer:
        self.thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> ExpositionServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
