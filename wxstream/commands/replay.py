"""``wxstream replay deliveries|dead-letter|inbound``: re-deliver, redrive, or sandbox-run."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import httpx

from processors.commands import COMMAND_MODULES, load_command_modules
from processors.routing import Bot, Router
from processors.webex import WebexClient, WebexError
from wxstream.audit.logreader import LogReadError
from wxstream.audit.provenance import local_operator
from wxstream.audit.replay import (
    STATUS_FILTERS,
    ReplayError,
    ReplayRequest,
    ReplayResult,
    redrive_dead_letters,
    replay_deliveries,
)
from wxstream.audit.sandbox import Sandbox, SandboxReport, render_report, run_sandbox
from wxstream.audit.timeline import Selector
from wxstream.audit.timerange import TimeRange
from wxstream.audit.writer import ReplayWriteError, ReplayWriter
from wxstream.cli import CommandError
from wxstream.commands.audit import TIME_FORMS, add_selection_arguments, reader_for, selection_of
from wxstream.settings import Settings, load_settings

SIMULATOR_TIMEOUT_SECONDS = 5.0
REPLAY_DESCRIPTION = (
    "Act on the log again. `deliveries` re-enqueues outbound messages that were not "
    "delivered, `dead-letter` redrives dead letters, and `inbound --sandbox` re-runs "
    "today's routing over past inputs and diffs the replies without sending anything. "
    "Every replayed record carries who replayed it, when, and where it came from. "
    f"{TIME_FORMS}"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="re-deliver outbound messages, redrive dead letters, or sandbox-run inputs",
        description=REPLAY_DESCRIPTION,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    deliveries = actions.add_parser(
        "deliveries",
        help="re-enqueue outbound messages that were not delivered",
        description="Re-enqueue the selected outbound messages that Webex has not accepted "
        "to outbound.messages under their own ids, so the sender skips any that were "
        f"delivered after all. --force posts delivered ones again under new ids. {TIME_FORMS}",
    )
    _add_common(deliveries)
    deliveries.add_argument(
        "--status",
        choices=STATUS_FILTERS,
        default="all",
        help="which messages: all (default), pending, failed (includes dead-lettered), "
        "dead-lettered, or delivered (needs --force)",
    )
    deliveries.add_argument(
        "--force",
        action="store_true",
        help="also post messages Webex already accepted, under a new message id",
    )
    deliveries.set_defaults(handler=run_deliveries)

    dead_letter = actions.add_parser(
        "dead-letter",
        help="redrive dead letters: inbound to their source topic, outbound to outbound.messages",
        description="Send the selected dead letters back: inbound ones to the topic they came "
        "from, outbound ones to outbound.messages. A message delivered since it was "
        f"dead-lettered is skipped. {TIME_FORMS}",
    )
    _add_common(dead_letter)
    dead_letter.add_argument(
        "--kind",
        choices=("all", "inbound", "outbound"),
        default="all",
        help="which dead-letter topics to redrive from (default: all)",
    )
    dead_letter.set_defaults(handler=run_dead_letter)

    inbound = actions.add_parser(
        "inbound",
        help="re-run the current routing and commands over past inputs in a sandbox and "
        "diff the replies",
        description="Decide the reply to each selected past input with today's routing and "
        "commands, and diff it against the reply the bot wrote then. Nothing is sent to "
        f"Webex or written to Kafka. {TIME_FORMS}",
    )
    add_selection_arguments(inbound)
    _add_sandbox_arguments(inbound)
    inbound.set_defaults(handler=run_inbound)


def _add_sandbox_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="required: decide replies without sending or writing anything",
    )
    parser.add_argument(
        "--bot-id",
        help="the bot's person id (default: GET /people/me with WXSTREAM_WEBEX_TOKEN, "
        "else the simulator's /_sim/bot on WXSTREAM_SIM_PORT)",
    )
    parser.add_argument(
        "--bot-name", help="the bot's display name (default: from the same place as --bot-id)"
    )
    parser.add_argument(
        "--command-module",
        action="append",
        default=[],
        help="an extra module whose import registers commands (repeatable)",
    )
    parser.add_argument(
        "--include-bodies", action="store_true", help="also show the text of each input"
    )
    parser.add_argument(
        "--only-changed", action="store_true", help="list only inputs whose reply changed"
    )
    parser.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="a per-conversation diff (default) or one JSON document",
    )
    parser.add_argument(
        "--exit-code",
        action="store_true",
        help="exit with status 1 when any reply changed, as `git diff --exit-code` does",
    )


def _add_common(parser: argparse.ArgumentParser) -> None:
    add_selection_arguments(parser)
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be sent and send nothing"
    )
    parser.add_argument(
        "--operator", help="who runs the replay, stored in ce_replayedby (default: local user)"
    )
    parser.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="a table of the selected items (default) or one JSON document",
    )


def _request(args: argparse.Namespace, **options: Any) -> ReplayRequest:
    selector, time_range = selection_of(args, allow_everything=True)
    if selector.selects_everything and time_range.since is None:
        raise CommandError(
            "no selection: give --since, --room, --person, --correlation-id or --message-id, "
            "so a replay never resends the whole log by accident"
        )
    return ReplayRequest(
        selector=selector,
        time_range=time_range,
        operator=args.operator or local_operator(),
        dry_run=args.dry_run,
        **options,
    )


def _run(args: argparse.Namespace, request: ReplayRequest, operation: Any) -> int:
    settings = load_settings()
    reader = reader_for(settings, args.timeout, "replay")
    writer = None
    if not request.dry_run:
        writer = ReplayWriter(settings.bootstrap_servers, reader.catalog, timeout=args.timeout)
    try:
        result = operation(reader, writer, request)
    except (LogReadError, ReplayError, ReplayWriteError) as exc:
        raise CommandError(str(exc)) from None
    print_result(result, args.format)
    return 0


def run_deliveries(args: argparse.Namespace) -> int:
    if args.status == "delivered" and not args.force:
        raise CommandError("--status delivered selects messages Webex accepted; add --force")
    request = _request(args, status_filter=args.status, force=args.force)
    return _run(args, request, replay_deliveries)


def run_dead_letter(args: argparse.Namespace) -> int:
    request = _request(args, dead_letter_kind=args.kind)
    return _run(args, request, redrive_dead_letters)


def print_result(result: ReplayResult, output_format: str) -> None:
    """Print the selected items, then one summary line."""
    if output_format == "json":
        print(json.dumps(result.to_json(), indent=2))
        return
    rows = [("ACTION", "STATUS", "MESSAGE", "ORIGIN", "TARGET", "REASON")]
    for item in result.items:
        action = "would send" if result.dry_run and item.action == "send" else item.action
        message = item.message_id or "-"
        if item.new_message_id:
            message += f" -> {item.new_message_id}"
        origin = f"{item.origin.topic}[{item.origin.partition}]@{item.origin.offset}"
        rows.append((action, item.status or "-", message, origin, item.target, item.reason))
    widths = [max(len(row[index]) for row in rows) for index in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]))

    sends = len(result.to_send)
    verb = "would send" if result.dry_run else "sent"
    print(
        f"replay {result.replay_id} by {result.operator}: {verb} {sends}, "
        f"skipped {len(result.items) - sends}, {result.records_read:,} records read",
        file=sys.stderr,
    )


def run_inbound(args: argparse.Namespace) -> int:
    if not args.sandbox:
        raise CommandError(
            "replay inbound runs only in a sandbox; add --sandbox. To process inputs again "
            "for real, redrive them with `wxstream replay dead-letter`"
        )
    selector, time_range = selection_of(args, allow_everything=True)
    if selector.selects_everything and time_range.since is None:
        raise CommandError("no selection: give --since, --room, --person or --correlation-id")
    settings = load_settings()
    report = asyncio.run(_sandbox_report(args, settings, selector, time_range))

    if args.format == "json":
        outcomes = [o.to_json(include_bodies=args.include_bodies) for o in report.outcomes]
        print(json.dumps({"changed": len(report.changed), "inputs": outcomes}, indent=2))
    else:
        lines = render_report(
            report, include_bodies=args.include_bodies, only_changed=args.only_changed
        )
        for line in lines:
            print(line)
    return 1 if args.exit_code and report.changed else 0


async def _sandbox_report(
    args: argparse.Namespace, settings: Settings, selector: Selector, time_range: TimeRange
) -> SandboxReport:
    registry = load_command_modules([*COMMAND_MODULES, *args.command_module])
    bot = await _bot(args, settings)
    sandbox = Sandbox(Router(registry, settings), bot)
    reader = reader_for(settings, args.timeout, "sandbox")
    try:
        return await run_sandbox(reader, sandbox, selector, time_range)
    except LogReadError as exc:
        raise CommandError(str(exc)) from None


async def _bot(args: argparse.Namespace, settings: Settings) -> Bot:
    """Return the bot identity from the options, else from Webex, else from the simulator.

    With ``WXSTREAM_WEBEX_TOKEN`` set the identity is ``GET /people/me``. Without it,
    ``wxstream up`` runs against the simulator on ``WXSTREAM_SIM_PORT``, whose control API
    serves the bot at ``/_sim/bot``.
    """
    if args.bot_id:
        return Bot(args.bot_id, args.bot_name or "")
    if settings.webex_token is None:
        person = _simulator_bot(settings)
    else:
        person = await _webex_bot(settings, settings.webex_token.get_secret_value())
    bot = Bot(str(person["id"]), args.bot_name or str(person.get("displayName") or ""))
    print(f"sandbox: bot {bot.name!r} with id {bot.id}", file=sys.stderr)
    return bot


async def _webex_bot(settings: Settings, token: str) -> dict[str, Any]:
    client = WebexClient(settings.webex_api_url, token, timeout=settings.webex_timeout_seconds)
    try:
        return await client.get_me()
    except WebexError as exc:
        raise CommandError(
            f"GET /people/me failed: {exc}; give --bot-id and --bot-name, the id and "
            "displayName that GET /people/me returns for the bot token"
        ) from None
    finally:
        await client.aclose()


def _simulator_bot(settings: Settings) -> dict[str, Any]:
    url = simulator_bot_url(settings.sim_port)
    try:
        response = httpx.get(url, timeout=SIMULATOR_TIMEOUT_SECONDS, trust_env=False)
        response.raise_for_status()
        person = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise CommandError(unknown_bot_message(url, settings.webex_api_url, exc)) from None
    if not isinstance(person, dict) or not person.get("id"):
        message = unknown_bot_message(url, settings.webex_api_url, "it returned no bot id")
        raise CommandError(message)
    return person


def simulator_bot_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/_sim/bot"


def unknown_bot_message(url: str, webex_api_url: str, cause: object) -> str:
    """Return the error for an unknown bot identity, saying how to look it up."""
    return (
        f"the bot identity is unknown: WXSTREAM_WEBEX_TOKEN is not set and the simulator at "
        f"{url} did not answer ({cause}). Give --bot-id and --bot-name: against the "
        f"simulator, take id and displayName from `curl -s {url}`; against Webex, from "
        f"`curl -s -H 'Authorization: Bearer <bot token>' {webex_api_url}/people/me`, "
        "or set WXSTREAM_WEBEX_TOKEN to look it up there"
    )
