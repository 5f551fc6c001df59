"""A keep-alive HTTP client that costs little next to the scrape it measures.

Both exporters are measured with this same client: ``http.client`` over one persistent
connection per scraper, the whole body read, no decompression (neither side is asked for gzip).
"""

from __future__ import annotations

import http.client
import math
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

LOOPBACK = "127.0.0.1"


class ScrapeError(RuntimeError):
    pass


class KeepAliveClient:
    def __init__(self, port: int, path: str = "/metrics", timeout: float = 30.0) -> None:
        self.port = port
        self.path = path
        self.timeout = timeout
        self._conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)

    def get(self) -> bytes:
        """One scrape; reconnects once if the server closed the idle connection."""
        for attempt in (1, 2):
            try:
                self._conn.request("GET", self.path)
                response = self._conn.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, ConnectionError, http.client.BadStatusLine):
                self._conn.close()
                if attempt == 2:
                    raise
                continue
            if response.status != 200:
                raise ScrapeError(f"GET :{self.port}{self.path} -> {response.status}")
            if response.getheader("Connection", "").lower() == "close":
                self._conn.close()
            return body
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._conn.close()


@dataclass(frozen=True)
class Latencies:
    samples_ms: list[float]
    wall_seconds: float
    body_bytes: int

    @property
    def count(self) -> int:
        return len(self.samples_ms)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.samples_ms)
        if not ordered:
            return float("nan")
        # Nearest-rank percentile: with 200 samples p99 is the 198th value, not an interpolation.
        rank = max(1, min(len(ordered), math.ceil(p / 100 * len(ordered))))
        return ordered[rank - 1]

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.samples_ms) if self.samples_ms else float("nan")


def sequential(
    port: int,
    count: int,
    max_seconds: float,
    warmup: int = 20,
    between: Callable[[], object] | None = None,
) -> Latencies:
    """``warmup`` unmeasured scrapes, then up to ``count`` timed ones, one at a time;
    ``between`` runs before each scrape, outside the timing."""
    client = KeepAliveClient(port)
    try:
        for _ in range(warmup):
            client.get()
        samples: list[float] = []
        size = 0
        start = time.perf_counter()
        deadline = start + max_seconds
        while len(samples) < count and time.perf_counter() < deadline:
            if between is not None:
                between()
            t0 = time.perf_counter_ns()
            size = len(client.get())
            samples.append((time.perf_counter_ns() - t0) / 1e6)
        return Latencies(samples, time.perf_counter() - start, size)
    finally:
        client.close()


@dataclass(frozen=True)
class Throughput:
    requests: int
    concurrency: int
    wall_seconds: float
    samples_ms: list[float]

    @property
    def per_second(self) -> float:
        return self.requests / self.wall_seconds if self.wall_seconds else float("nan")


def concurrent(port: int, count: int, concurrency: int, max_seconds: float) -> Throughput:
    """``concurrency`` scrapers on their own connections share ``count`` requests."""
    lock = threading.Lock()
    remaining = count
    samples: list[float] = []
    errors: list[BaseException] = []
    clients = [KeepAliveClient(port) for _ in range(concurrency)]
    for client in clients:  # connect (and warm) before the clock starts
        client.get()
    barrier = threading.Barrier(concurrency + 1)
    deadline = 0.0

    def take() -> bool:
        nonlocal remaining
        with lock:
            if remaining <= 0 or time.perf_counter() > deadline:
                return False
            remaining -= 1
            return True

    def worker(client: KeepAliveClient) -> None:
        barrier.wait()
        try:
            while take():
                t0 = time.perf_counter_ns()
                client.get()
                elapsed = (time.perf_counter_ns() - t0) / 1e6
                with lock:
                    samples.append(elapsed)
        except BaseException as error:  # surfaced below, after the threads are joined
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in clients]
    for thread in threads:
        thread.start()
    start = time.perf_counter()
    deadline = start + max_seconds
    barrier.wait()
    for thread in threads:
        thread.join(timeout=max_seconds + 60)
    wall = time.perf_counter() - start
    for client in clients:
        client.close()
    if errors:
        raise ScrapeError(f"{len(errors)} scraper(s) failed: {errors[0]!r}") from errors[0]
    return Throughput(len(samples), concurrency, wall, samples)
