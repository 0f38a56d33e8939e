"""The ``wxstream`` command line.

Each command group lives in the module that implements it and adds itself through a
``register(subparsers)`` function; this module only wires them together and turns the
project's expected errors into one message on standard error and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from wxstream import logsafety
from wxstream.settings import SettingsError

# Modules with a ``register(subparsers)`` function, in the order of ``wxstream --help``.
COMMAND_MODULES = (
    "wxstream.commands.up",
    "wxstream.commands.ingest",
    "wxstream.commands.worker",
    "wxstream.commands.sim",
    "wxstream.commands.kafka",
    "wxstream.commands.topics",
    "wxstream.commands.webhooks",
    "wxstream.commands.audit",
    "wxstream.commands.replay",
    "wxstream.commands.schemas",
)

EXIT_USAGE = 2
EXIT_FAILURE = 1


class CommandError(Exception):
    """An expected failure of a command; its message is shown without a traceback."""


def expected_errors() -> tuple[type[BaseException], ...]:
    from wxstream.broker import BrokerError
    from wxstream.topics import TopicError

    return (CommandError, SettingsError, BrokerError, TopicError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wxstream",
        description="Event-sourced Webex bot platform on Apache Kafka.",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="log level of this command (default: INFO)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def configure_logging(level: str) -> None:
    logsafety.install()
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request at INFO; wxstream logs the calls that matter itself.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLevelName(level)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    try:
        result = args.handler(args)
    except expected_errors() as exc:
        print(f"wxstream {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
