"""An aiohttp server that answers every ``GET /metrics`` with the same bytes: the HTTP part of
the floor (``bench/floor.py``). The same HTTP stack as the exporter, with nothing to compute.

Run as ``python -m bench.constant_server PORT BODY_FILE``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from aiohttp import web

from queue_exporter.metrics import CONTENT_TYPE


def app(body: bytes) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    application = web.Application()
    application.router.add_get("/metrics", metrics)
    return application


if __name__ == "__main__":
    port, body_file = int(sys.argv[1]), Path(sys.argv[2])
    web.run_app(app(body_file.read_bytes()), host="127.0.0.1", port=port, print=None)
