"""The exporter's own settings: where it listens and how long a scrape may wait for Redis.

The framework (env names, flags, error wording) and the Redis fields are the queue library's
(:mod:`queue_core.settings`); this module only adds what serving ``/metrics`` needs.
"""

from __future__ import annotations

from typing import ClassVar

from queue_core.settings import RedisSettings, Setting, parse_integer, parse_number, parse_text


def _port(value: object) -> int:
    port = parse_integer(value)
    if port < 1:
        raise ValueError("Input should be greater than or equal to 1")
    if port > 65535:
        raise ValueError("Input should be less than or equal to 65535")
    return port


def _deadline(value: object) -> float:
    seconds = parse_number(value)
    if not seconds > 0:
        raise ValueError("Input should be greater than 0")
    if not seconds < 10:
        raise ValueError("Input should be less than 10")
    return seconds


def _header_timeout(value: object) -> float:
    seconds = parse_number(value)
    if not seconds > 0:
        raise ValueError("Input should be greater than 0")
    return seconds


class ExporterSettings(RedisSettings):
    """The exporter adds where to listen and how long a scrape may wait for Redis."""

    fields: ClassVar[dict[str, Setting]] = {
        **RedisSettings.fields,
        "exporter_host": Setting("0.0.0.0", "address to listen on", parse_text),
        "exporter_port": Setting(9808, "TCP port 1-65535, e.g. 9808", _port),
        "scrape_deadline_seconds": Setting(
            3.0,
            "seconds a scrape waits for Redis, above 0 and below Prometheus' 10 s scrape timeout",
            _deadline,
        ),
        "exporter_header_timeout_seconds": Setting(
            15.0,
            "seconds a connection may take to send a request's headers, or stay idle between "
            "requests, before the exporter closes it; above 0",
            _header_timeout,
        ),
    }

    exporter_host: str
    exporter_port: int
    scrape_deadline_seconds: float
    exporter_header_timeout_seconds: float
