"""Serving the ingest application with uvicorn, as a command or in a background thread."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from wxstream.settings import Settings

# Seconds added to the longest request before in-flight requests are cancelled at shutdown.
SHUTDOWN_MARGIN_SECONDS = 5


def shutdown_grace_seconds(settings: Settings) -> int:
    """Return how long shutdown waits for requests: a body read, an append and a margin."""
    longest = settings.body_read_timeout_seconds + settings.append_timeout_seconds
    return math.ceil(longest) + SHUTDOWN_MARGIN_SECONDS


def server_config(app: FastAPI, settings: Settings, host: str, port: int) -> uvicorn.Config:
    """Return the uvicorn configuration; shutdown waits for every in-flight request."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        # The service reads neither the client address nor the URL scheme, so uvicorn's
        # X-Forwarded-For and X-Forwarded-Proto middleware would only add work per request.
        proxy_headers=False,
        timeout_graceful_shutdown=shutdown_grace_seconds(settings),
    )


@contextmanager
def serve_in_thread(
    app: FastAPI, settings: Settings, host: str = "127.0.0.1", start_timeout: float = 30.0
) -> Iterator[str]:
    """Run the app on a free port in a thread; yield its base URL, then shut it down."""
    server = uvicorn.Server(server_config(app, settings, host, 0))
    thread = threading.Thread(target=server.run, name="ingest-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the ingest server did not start within {start_timeout} s")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=shutdown_grace_seconds(settings) + 5)
