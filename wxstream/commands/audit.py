"""``wxstream audit``: the timeline of a conversation, a chain or an outbound message."""

from __future__ import annotations

import argparse
import sys

from schemas.topics import catalog_from_settings
from wxstream.audit.logreader import LogReader, LogReadError, StderrProgress
from wxstream.audit.render import write_jsonl, write_table
from wxstream.audit.timeline import (
    DEFAULT_MAX_ENTRIES,
    AuditError,
    AuditQuery,
    Selector,
    build_timeline,
)
from wxstream.audit.timerange import TimeRange, TimeRangeError
from wxstream.cli import CommandError
from wxstream.settings import Settings, load_settings

# Reads of fewer records than this finish quickly, so they print no progress.
PROGRESS_THRESHOLD = 50_000

TIME_FORMS = (
    "Times (--since, --until) are ISO 8601, in UTC when they have no offset "
    "(2024-05-01T12:00:00Z), or a duration before now: a number with s, m, h, d or w "
    "(30m, 2h, 7d)."
)
AUDIT_DESCRIPTION = (
    "Read the Kafka log and print, in time order, every record of one or more conversations "
    "(--room, --person), of one chain (--correlation-id) or of one outbound message "
    "(--message-id): webhooks, received messages, outbound requests, delivery attempts and "
    "dead letters, with their event and causation ids. Message bodies are hidden unless "
    f"--include-bodies is given, and secrets are never shown. {TIME_FORMS}"
)


def add_selection_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the selection and time range options shared by audit and replay."""
    parser.add_argument("--room", action="append", default=[], help="a Webex room id")
    parser.add_argument(
        "--person",
        action="append",
        default=[],
        help="a person's email: the 1:1 conversation keyed person:<email>",
    )
    parser.add_argument("--correlation-id", help="the id of the event that started a chain")
    parser.add_argument("--message-id", help="an outbound message id")
    parser.add_argument(
        "--since", help="start time: ISO 8601 (UTC if no offset) or a duration ago (30m, 2h, 7d)"
    )
    parser.add_argument("--until", help="end time, inclusive, in the same forms as --since")
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds to wait for the broker on each request (default: 30)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="show the timeline of a conversation, chain or outbound message from the log",
        description=AUDIT_DESCRIPTION,
    )
    add_selection_arguments(parser)
    parser.add_argument(
        "--format",
        choices=("table", "jsonl"),
        default="table",
        help="an aligned table (default) or JSON Lines for export",
    )
    parser.add_argument(
        "--include-bodies",
        action="store_true",
        help="show message text, markdown, cards and alert content (hidden by default)",
    )
    parser.add_argument(
        "--max-entries",
        type=int,
        default=DEFAULT_MAX_ENTRIES,
        help=f"fail when more records match (default: {DEFAULT_MAX_ENTRIES:,})",
    )
    parser.set_defaults(handler=run_audit)


def selection_of(
    args: argparse.Namespace, *, allow_everything: bool = False
) -> tuple[Selector, TimeRange]:
    """Build the selector and time range from the shared options."""
    try:
        selector = Selector.build(
            rooms=args.room,
            persons=args.person,
            correlation_id=args.correlation_id,
            message_id=args.message_id,
            allow_everything=allow_everything,
        )
        time_range = TimeRange.parse(args.since, args.until)
    except (AuditError, TimeRangeError) as exc:
        raise CommandError(str(exc)) from None
    return selector, time_range


def reader_for(settings: Settings, timeout: float, label: str) -> LogReader:
    return LogReader(
        settings.bootstrap_servers,
        catalog_from_settings(settings),
        timeout=timeout,
        progress=StderrProgress(label, min_planned=PROGRESS_THRESHOLD),
    )


def run_audit(args: argparse.Namespace) -> int:
    selector, time_range = selection_of(args)
    settings = load_settings()
    reader = reader_for(settings, args.timeout, "audit")
    query = AuditQuery(selector, time_range, args.include_bodies, args.max_entries)
    try:
        entries = build_timeline(reader, query)
    except (AuditError, LogReadError) as exc:
        raise CommandError(str(exc)) from None

    if args.format == "jsonl":
        write_jsonl(entries, sys.stdout)
    else:
        write_table(entries, sys.stdout, include_bodies=args.include_bodies)
    stats = reader.stats
    print(
        f"audit: {len(entries)} entries from {stats.read:,} records read "
        f"({stats.partitions} partitions, {stats.elapsed_seconds:.1f} s)",
        file=sys.stderr,
    )
    return 0
