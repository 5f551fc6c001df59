"""Fixtures for the exporter's integration tests: a pooled client on the test Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from queue_core.connection import create_client
from queue_core.settings import RedisSettings, SecretStr
from tests.support.processes import RedisServer


def settings_for(server: RedisServer) -> RedisSettings:
    password = SecretStr(server.password) if server.password else None
    return RedisSettings(redis_url=server.url, redis_password=password, redis_password_file=None)


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """The library's own client (pool of 10, 5 s timeouts) on the fixture's Redis."""
    redis = create_client(settings_for(redis_server))
    try:
        yield redis
    finally:
        await redis.aclose()
