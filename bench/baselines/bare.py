"""A bare ASGI endpoint that reads the request body and returns 200.

It runs under the same server as the ingest service (uvicorn, one process, the same
event loop and HTTP parser chosen by ``auto``, no access log), so the difference
between the two is the ingest application: routing, signature check, envelope,
Kafka append and metrics.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import uvicorn
from starlette.types import Receive, Send

RESPONSE_BODY = b'{"status":"ok"}'
RESPONSE_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"15")]


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Drain the body, answer 200; lifespan events are acknowledged."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": RESPONSE_HEADERS})
    await send({"type": "http.response.body", "body": RESPONSE_BODY})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baselines.bare")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
    )
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
