"""``wxstream ingest``: serve the ingest HTTP service with uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from ingest.app import create_app
from ingest.server import server_config
from wxstream.heap import freeze_start_up_heap
from wxstream.settings import load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ingest",
        help="serve the HTTP service that appends webhooks and events to Kafka",
        description=(
            "Serve Webex webhooks, the alert API and the back-end event API. Every request "
            "is answered only after the broker acknowledged its record. Needs "
            "WXSTREAM_API_TOKEN and WXSTREAM_WEBHOOK_SECRET (or "
            "WXSTREAM_ALLOW_UNSIGNED_WEBHOOKS=true for local development). Stops gracefully "
            "on SIGTERM or Ctrl-C."
        ),
    )
    parser.add_argument("--host", help="address to listen on (default: WXSTREAM_HTTP_HOST)")
    parser.add_argument("--port", type=int, help="TCP port (default: WXSTREAM_HTTP_PORT)")
    parser.set_defaults(handler=run_ingest)


def run_ingest(args: argparse.Namespace) -> int:
    settings = load_settings()
    app = create_app(settings)
    freeze_start_up_heap()
    host = args.host or settings.http_host
    port = args.port if args.port is not None else settings.http_port
    uvicorn.Server(server_config(app, settings, host, port)).run()
    return 0
