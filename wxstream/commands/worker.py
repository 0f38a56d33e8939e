"""``wxstream worker``: run the stream processors (the faust worker) in the foreground."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from wxstream.heap import freeze_start_up_heap
from wxstream.settings import load_settings, require

logger = logging.getLogger(__name__)

READY_LINE = "worker ready"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="run the enricher, routers and sender (stops on SIGTERM or Ctrl-C)",
        description=(
            "Run the stream processors: the enricher fetches messages, the routers turn "
            "commands and alerts into outbound messages, and the sender delivers them to "
            "Webex at least once. Several workers with the same WXSTREAM_TOPIC_PREFIX share "
            "the partitions. Needs WXSTREAM_WEBEX_TOKEN. Prints 'worker ready' once its "
            "partitions are assigned. SIGTERM lets in-flight events finish for up to "
            "WXSTREAM_WORKER_STOP_GRACE_SECONDS, commits what finished and stops; the rest "
            "are handled again at the next start."
        ),
    )
    parser.set_defaults(handler=run_worker)


def run_worker(args: argparse.Namespace) -> int:
    import mode.loop
    from faust.worker import Worker

    # uvloop runs the socket and timer work of the consumer, producer and Webex client
    # in C; the default asyncio loop spent a third of the worker's CPU there.
    mode.loop.use("uvloop")

    from processors.app import create_app

    settings = load_settings()
    require(settings, "webex_token")
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    if settings.worker_metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(settings.worker_metrics_port, addr=settings.http_host)
        logger.info(
            "worker metrics on http://%s:%d/metrics",
            settings.http_host,
            settings.worker_metrics_port,
        )
    announced = False

    @app.on_rebalance_complete.connect
    async def _announce_ready(
        sender: Any, /, *args: Any, signal: Any = None, **kwargs: Any
    ) -> None:
        nonlocal announced
        if not announced:
            announced = True
            # By the first completed rebalance faust has built its services, tables and
            # clients, which live as long as the process.
            freeze_start_up_heap()
            print(
                f"{READY_LINE} (group {app.conf.id}, broker {settings.bootstrap_servers})",
                flush=True,
            )

    worker = Worker(
        app,
        loglevel=args.log_level,
        logging_config=plain_logging(args.log_level),
        quiet=True,
        redirect_stdouts=False,
        stdout=sys.stdout,
        stderr=sys.stderr,
    )
    # Worker.execute_from_commandline() exits the process itself when the worker stops.
    worker.execute_from_commandline()
    return 0


def plain_logging(level: str) -> dict[str, Any]:
    """Return mode's logging configuration with a plain handler in place of colorlog's.

    The worker's log goes to a file or a collector, where colour codes are noise, and in
    the end-to-end benchmark colorlog's formatter was among the worker's busiest functions.
    """
    handler = {
        "level": level.upper(),
        "class": "logging.StreamHandler",
        "formatter": "default",
        "stream": "ext://sys.stderr",
    }
    return {"merge": True, "handlers": {"default": handler}}
