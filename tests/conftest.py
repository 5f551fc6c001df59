"""Fixtures shared by every test layer: real redis-server processes on loopback."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import RedisServer


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
