"""The physical floor of a scrape of N queues on this machine, measured in the same run.

No exporter of these queues can answer faster than the two things every scrape must do:

- ask Redis for every depth: ``LLEN`` of every queue, pipelined in one write on a raw socket
  (the RESP bytes built once, the replies only counted, not parsed into objects), which is
  Redis' dispatch of N commands plus one round trip;
- answer HTTP with a body of the same size: an aiohttp server (the exporter's HTTP stack)
  returning constant bytes, measured with the same client as the exporters.

The floor is the sum of the two p50s, measured in turns with our scrape (:func:`interleaved`).
It flatters the floor: it reads no job timestamps and no AOF state, and builds no text; an
exporter that does all of that within 3x of it spends little beyond what the hardware costs.

Beside it, in the same turns, **our read bare**: the exporter's own request (``PING`` and the
read script's ``EVALSHA``, :func:`queue_core.snapshot.prepare_read`) on a raw socket, both
replies parsed by hiredis (C) and nothing else. Its p50 plus the constant HTTP answer's is the
least any exporter that makes this read can take (one round trip, each head cut to a bounded
prefix inside Redis, which costs a ``redis.call`` per queue in Lua): how far our scrape is
from it is the exporter's own work, and how far it is from the floor is the read's.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import hiredis

from bench import client
from queue_core.snapshot import READ_SCRIPT, prepare_read, resp_command
from tests.support.processes import LOOPBACK, free_port, port_open, wait_until


class _RawSocket:
    """One TCP_NODELAY connection to Redis with no client library's layers on it."""

    def __init__(self, port: int) -> None:
        self._sock = socket.create_connection((LOOPBACK, port))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        self._sock.close()


class RawLlen(_RawSocket):
    """Pipelined ``LLEN`` of every queue on one raw socket; the RESP bytes are built once."""

    def __init__(self, port: int, names: Sequence[str]) -> None:
        super().__init__(port)
        self._request = b"".join(resp_command(b"LLEN", name.encode()) for name in names)
        self._replies = len(names)

    def round(self) -> None:
        self._sock.sendall(self._request)
        replies = 0
        while replies < self._replies:
            chunk = self._sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            replies += chunk.count(b"\r\n")  # every LLEN reply is one ":<n>\r\n" line


class BareRead(_RawSocket):
    """Our read (``PING`` + ``EVALSHA`` of the read script) on a raw socket, parsed in C."""

    def __init__(self, port: int, names: Sequence[str]) -> None:
        super().__init__(port)
        self._request = prepare_read(names).packed
        self._exchange(resp_command(b"SCRIPT", b"LOAD", READ_SCRIPT.encode()), 1)

    def _exchange(self, request: bytes, replies: int) -> None:
        self._sock.sendall(request)
        reader, parsed = hiredis.Reader(), 0
        while parsed < replies:
            chunk = self._sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            reader.feed(chunk)
            while (reply := reader.gets()) is not False:
                if isinstance(reply, hiredis.ReplyError):
                    raise RuntimeError(f"the read failed: {reply}")
                parsed += 1

    def round(self) -> None:
        self._exchange(self._request, 2)


@contextmanager
def constant_server(body: bytes) -> Iterator[int]:
    """An aiohttp server answering ``body`` (bench/constant_server.py); yields its port."""
    port = free_port()
    with tempfile.NamedTemporaryFile(suffix=".txt") as body_file:
        Path(body_file.name).write_bytes(body)
        server = subprocess.Popen(
            [sys.executable, "-m", "bench.constant_server", str(port), body_file.name],
            cwd=Path(__file__).resolve().parents[1],
        )
        try:
            wait_until(lambda: port_open(port), what="the constant HTTP server")
            yield port
        finally:
            server.terminate()
            server.wait(timeout=10)


def _timed(samples: list[float], step: Callable[[], object]) -> None:
    t0 = time.perf_counter_ns()
    step()
    samples.append((time.perf_counter_ns() - t0) / 1e6)


def interleaved(
    redis_port: int,
    names: Sequence[str],
    ours_port: int,
    rotate: Callable[[], object],
    script_usec: Callable[[], int],
    count: int,
    warmup: int,
) -> dict[str, float]:
    """p50s of the floor's two parts and of our scrape, taken in turns within one loop.

    In turns because this machine's speed drifts by several times within a run (shared VM);
    measured one after the other, a ratio would mostly compare two moments. Each round: a raw
    LLEN round, a constant-HTTP GET, our read bare (:class:`BareRead`), our scrape after every
    queue's next job was changed (``rotate``, untimed), then our scrape of the same heads
    again. Around that last scrape, ``script_usec`` (Redis' own running total of microseconds
    in ``EVALSHA``, read untimed) gives the part of it Redis spent inside the read script: the
    share of our scrape that no work in the exporter can remove.
    """
    ours = client.KeepAliveClient(ours_port)
    body = ours.get()
    llen = RawLlen(redis_port, names)
    bare = BareRead(redis_port, names)
    samples: dict[str, list[float]] = {
        "llen": [],
        "http": [],
        "bare": [],
        "changed": [],
        "same": [],
        "script": [],
    }
    try:
        with constant_server(body) as port:
            http = client.KeepAliveClient(port)
            for round_ in range(warmup + count):
                if round_ == warmup:
                    samples = {name: [] for name in samples}
                _timed(samples["llen"], llen.round)
                _timed(samples["http"], http.get)
                _timed(samples["bare"], bare.round)
                rotate()
                _timed(samples["changed"], ours.get)
                before = script_usec()
                _timed(samples["same"], ours.get)
                samples["script"].append((script_usec() - before) / 1e3)
            http.close()
    finally:
        llen.close()
        bare.close()
        ours.close()
    p50 = {name: client.Latencies(values, 0, 0).percentile(50) for name, values in samples.items()}
    return {
        "llen_p50_ms": p50["llen"],
        "http_p50_ms": p50["http"],
        "p50_ms": p50["llen"] + p50["http"],
        "bare_read_p50_ms": p50["bare"],
        "ours_same_heads_p50_ms": p50["same"],
        "ours_changed_heads_p50_ms": p50["changed"],
        "redis_script_same_heads_p50_ms": p50["script"],
        "rounds": len(samples["llen"]),
        "body_bytes": len(body),
    }
