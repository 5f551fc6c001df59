"""Fixtures shared by every test layer: real redis-server processes on loopback."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import ExporterProcess, PrometheusServer, RedisServer


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server with AOF (``appendfsync always``) in a temporary data dir."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed: run `make setup` (apt package redis-server)")
    server = RedisServer(data_dir=tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def start_exporter(tmp_path: Path) -> Iterator[Callable[..., ExporterProcess]]:
    """Factory for real queue-exporter processes; all are stopped at teardown."""
    started: list[ExporterProcess] = []

    def start(
        redis_url: str, queues: str = "enhancement:queue,enhancement:dlq", **env: str
    ) -> ExporterProcess:
        exporter = ExporterProcess(redis_url=redis_url, queues=queues, env=env).start(tmp_path)
        started.append(exporter)
        return exporter

    yield start
    for exporter in started:
        exporter.stop()


@pytest.fixture
def start_prometheus(tmp_path: Path) -> Iterator[Callable[..., PrometheusServer]]:
    """Factory for a real Prometheus with a given config (and optional rule files)."""
    started: list[PrometheusServer] = []

    def start(config: dict[str, Any], rule_files: tuple[Path, ...] = ()) -> PrometheusServer:
        if shutil.which("prometheus") is None:
            pytest.fail("prometheus is not installed: run `make setup` (apt package prometheus)")
        server = PrometheusServer(
            work_dir=tmp_path / f"prometheus-{len(started)}", config=config, rule_files=rule_files
        ).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
