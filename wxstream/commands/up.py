"""``wxstream up``: run the whole bot on one machine."""

from __future__ import annotations

import argparse
from pathlib import Path

from wxstream.settings import load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "up",
        help="run the broker, topics, ingest, worker (and the Webex simulator without a token)",
        description=(
            "Run the whole bot on this machine: the local Kafka broker (unless "
            "WXSTREAM_KAFKA_BOOTSTRAP_SERVERS is set), the topics, the Webex simulator (when "
            "WXSTREAM_WEBEX_TOKEN is unset), the ingest service and the worker. Ctrl-C or "
            "SIGTERM stops them: ingest first, the broker last."
        ),
    )
    parser.add_argument(
        "--foreground-logs",
        action="store_true",
        help="also print every component's log lines here, prefixed with its name",
    )
    parser.add_argument(
        "--log-dir",
        type=Path,
        default=None,
        help="folder for the components' log files (default: WXSTREAM_LOG_DIR)",
    )
    parser.set_defaults(handler=run_up)


def run_up(args: argparse.Namespace) -> int:
    from wxstream.up import Up

    overrides = {"log_dir": args.log_dir} if args.log_dir is not None else {}
    settings = load_settings(**overrides)
    return Up(settings, foreground_logs=args.foreground_logs).run()
