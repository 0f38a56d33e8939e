"""A bare ASGI endpoint that reads the request body and returns 200.

It runs under the same server as the ingest service (uvicorn, one process, the same
event loop and HTTP parser chosen by ``auto``, no access log), so the difference
between the two is the ingest application: routing, signature check, envelope,
Kafka append and metrics. With ``--framework fastapi`` one FastAPI route returns the same
response, which shows the share of that difference the web framework takes.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from starlette.types import ASGIApp, Receive, Send

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


def fastapi_app() -> ASGIApp:
    """Return a FastAPI app whose one route reads the body and responds like :func:`app`."""
    framework = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @framework.api_route("/{path:path}", methods=["GET", "POST"])
    async def respond(request: Request) -> Response:
        await request.body()
        return Response(RESPONSE_BODY, media_type="application/json")

    return framework


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baselines.bare")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--framework", choices=("asgi", "fastapi"), default="asgi")
    args = parser.parse_args(argv)
    config = uvicorn.Config(
        app if args.framework == "asgi" else fastapi_app(),
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
