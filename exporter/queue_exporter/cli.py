"""``queue-exporter``: configuration, JSON logging, and a server that stops cleanly on SIGTERM.

Exit codes: 0 after a graceful stop, 2 for invalid configuration (one line per bad setting,
naming the env var, the flag and the fix; printed as plain text because logging is not yet
configured and a person is reading), 1 when the listening socket cannot be opened.
Redis being down is *not* an error at start: the exporter's job includes saying so.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from queue_core.logs import configure_logging
from queue_core.settings import (
    ConfigError,
    add_setting_flags,
    add_version_flag,
    load_settings,
    mask_url,
)
from queue_exporter.app import create_app
from queue_exporter.settings import ExporterSettings

log = logging.getLogger("queue_exporter")
# aiohttp's connection handler logs through this one (its ``logger`` parameter).
http_log = logging.getLogger("queue_exporter.http")


class MalformedRequestFilter(logging.Filter):
    """Turn aiohttp's report of a request it could not parse into one short warning.

    aiohttp answers a request line or header over its limits (or not HTTP at all) with 400
    itself, then logs ``Error handling request`` at ERROR with the traceback and a message
    quoting the offending line, 100 KB of it for an over-long URL. That is the client's fault,
    not the exporter's: one WARNING line with the status and a clipped reason says enough.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg, record.args, record.exc_info = "refused a malformed HTTP request", (), None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.status = error.code
            record.error = f"{type(error).__name__}: {error.message}"[:200]
            # The logger let the record through as an ERROR; as a WARNING it must still pass
            # AI_AGENTS_LOG_LEVEL=ERROR.
            return http_log.isEnabledFor(logging.WARNING)
        return True


http_log.addFilter(MalformedRequestFilter())


async def serve(settings: ExporterSettings) -> int:
    """Serve until SIGTERM or SIGINT, then finish in-flight requests and close the pool."""
    app = create_app(settings)
    debug = settings.log_level == "DEBUG"
    # keepalive_timeout is aiohttp's only deadline on reading a request: its timer starts when
    # a connection is accepted (and again after each response) and closes the connection if no
    # complete request head arrived by then, so a socket that sends nothing, or half a request
    # line, is dropped instead of held forever (3630 s by default).
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=log if debug else None,
        logger=http_log,
        keepalive_timeout=settings.exporter_header_timeout_seconds,
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.exporter_host, settings.exporter_port)
    try:
        await site.start()
    except OSError as error:
        log.error(
            "cannot listen; is the port taken? set AI_AGENTS_EXPORTER_PORT / --exporter-port",
            extra={
                "host": settings.exporter_host,
                "port": settings.exporter_port,
                "error": str(error),
            },
        )
        await runner.cleanup()
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "queue-exporter listening",
        extra={
            "host": settings.exporter_host,
            "port": settings.exporter_port,
            "redis_url": mask_url(settings.redis_url),
            "queues": list(settings.queues),
            "scrape_deadline_seconds": settings.scrape_deadline_seconds,
        },
    )
    await stop.wait()
    log.info("shutting down")
    await runner.cleanup()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="queue-exporter",
        description="Prometheus exporter for Redis job queues. Every flag can also be set "
        "through the environment variable shown as its value name.",
    )
    add_version_flag(parser)
    add_setting_flags(parser, ExporterSettings)
    try:
        settings = load_settings(ExporterSettings, parser.parse_args(argv))
    except ConfigError as error:
        print(f"queue-exporter: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.secrets())
    return asyncio.run(serve(settings))
