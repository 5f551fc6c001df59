"""The exporter's HTTP surface: /metrics, /health/live, /health/ready and a small index page.

Liveness and readiness answer different questions on purpose. ``/health/live`` says the
process serves HTTP and is what the exporter's Kubernetes probes use: if they used
``/health/ready``, a Redis outage would pull the exporter out of its Service and Prometheus
would lose ``redis_queue_up 0`` exactly when it matters. ``/health/ready`` reports whether
Redis answers (the documented health check) for people and for callers that need Redis.

"Redis answers" has one meaning here: the collector's bounded read succeeded. Readiness joins
the same single-flight read a scrape does, so it cannot say "connected" while the scrape says
``redis_queue_up 0`` (as a PING of its own did when PING answered but the read did not, e.g.
during ``CLIENT PAUSE WRITE``, which holds scripts), and a probe costs Redis no extra read when
it arrives during a scrape.
"""

from __future__ import annotations

import html
import platform
from collections.abc import AsyncIterator
from importlib.metadata import version

from aiohttp import hdrs, web

from queue_core.connection import create_client
from queue_exporter.collector import QueueCollector
from queue_exporter.metrics import build_info_family
from queue_exporter.settings import ExporterSettings

COLLECTOR = web.AppKey("collector", QueueCollector)
SETTINGS = web.AppKey("settings", ExporterSettings)


async def metrics(request: web.Request) -> web.Response:
    """The exposition, gzipped when the scraper accepts gzip (Prometheus always does).

    Only gzip, as prometheus_client does: aiohttp's own negotiation would pick deflate from a
    browser's ``gzip, deflate``, which some tools mishandle. Anything else gets the plain body.
    """
    body, content_type = await request.app[COLLECTOR].scrape()
    response = web.Response(body=body)
    # Set as a raw header: aiohttp's content_type setter would drop the version parameter.
    response.headers["Content-Type"] = content_type
    if "gzip" in request.headers.get(hdrs.ACCEPT_ENCODING, "").lower():
        response.enable_compression(web.ContentCoding.gzip)
    return response


async def live(_: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def ready(request: web.Request) -> web.Response:
    """200 connected when the shared bounded read succeeds, else 503 disconnected and why."""
    reading = await request.app[COLLECTOR].read()
    if not reading.redis_up:
        body = {"status": "not ready", "redis": "disconnected", "error": reading.error}
        return web.json_response(body, status=503)
    return web.json_response({"status": "ready", "redis": "connected"})


async def index(request: web.Request) -> web.Response:
    queues = ", ".join(html.escape(q) for q in request.app[SETTINGS].queues)
    page = (
        "<!doctype html><html><head><title>redis-queue-exporter</title></head><body>"
        "<h1>redis-queue-exporter</h1>"
        f"<p>Queues: {queues}</p><ul>"
        '<li><a href="/metrics">/metrics</a> Prometheus metrics</li>'
        '<li><a href="/health/live">/health/live</a> process liveness</li>'
        '<li><a href="/health/ready">/health/ready</a> Redis connectivity</li>'
        "</ul></body></html>"
    )
    return web.Response(text=page, content_type="text/html")


def create_app(settings: ExporterSettings) -> web.Application:
    """Build the app; the Redis pool is opened lazily and closed on app cleanup.

    No connection is attempted at start: the exporter must come up (and report
    ``redis_queue_up 0``) while Redis is still starting or down.
    """
    app = web.Application()
    app[SETTINGS] = settings
    # Read once: the installed distribution does not change while the process runs.
    build_info = build_info_family(version("redis-queue-stack"), platform.python_version())

    async def redis_lifecycle(app: web.Application) -> AsyncIterator[None]:
        # Bytes: the read parses and hashes what Redis sent, and decoding 1000 heads first
        # would be work for nothing (queue_core.snapshot reads bytes and text alike).
        client = create_client(settings, decode=False)
        app[COLLECTOR] = QueueCollector(
            client, settings.queues, settings.scrape_deadline_seconds, (build_info,)
        )
        yield
        await client.aclose()

    app.cleanup_ctx.append(redis_lifecycle)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/health/live", live)
    app.router.add_get("/health/ready", ready)
    app.router.add_get("/", index)
    return app
