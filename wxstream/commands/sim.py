"""``wxstream sim``: the Webex simulator on its own, until interrupted."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from types import FrameType

from wxstream.cli import CommandError
from wxstream.settings import Settings
from wxstream.sim.scenario import ScenarioError
from wxstream.sim.server import SimulatorError, SimulatorServer

# The port `wxstream up` serves the simulator on (WXSTREAM_SIM_PORT), so both agree.
DEFAULT_PORT: int = Settings.model_fields["sim_port"].default
TOKEN_VARIABLE = "WXSTREAM_SIM_TOKEN"  # noqa: S105 (the name of a variable, not a token)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sim",
        help="run the Webex simulator (REST API, webhooks, /_sim control API)",
        description="Serve a local stand-in for the Webex REST API and its webhooks. "
        f"The bot's token comes from --token, else from the environment variable "
        f"{TOKEN_VARIABLE}, else from the scenario file; with none of them a random token is "
        "generated and printed. A given token is never printed: a command-line argument shows "
        f"in ps, so prefer {TOKEN_VARIABLE}.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address to bind (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"TCP port; 0 picks a free one (default: {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--token",
        help=f"the bot's access token (default: ${TOKEN_VARIABLE}, else a random one, printed)",
    )
    parser.add_argument("--bot-name", help="the bot's display name (default: 'wxstream bot')")
    parser.add_argument("--bot-email", help="the bot's email (default: wxstream@webex.bot)")
    parser.add_argument(
        "--scenario", help="JSON or YAML file with the bot, people and rooms to create"
    )
    parser.add_argument(
        "--mention-id-format",
        choices=("uuid", "rest"),
        default="uuid",
        help="id inside <spark-mention data-object-id>: raw UUID or base64 REST id (default: uuid)",
    )
    parser.add_argument(
        "--disable-after-failures",
        type=int,
        default=100,
        help="failed deliveries within the window that make a webhook inactive (default: 100)",
    )
    parser.add_argument(
        "--failure-window", type=float, default=300.0, help="that window in seconds (default: 300)"
    )
    parser.add_argument(
        "--delivery-timeout",
        type=float,
        default=5.0,
        help="seconds per webhook delivery (default: 5)",
    )
    parser.set_defaults(handler=run_simulator)


def given_token(args: argparse.Namespace) -> str | None:
    """Return the token from --token, else from the environment; None when neither is set."""
    return args.token or os.environ.get(TOKEN_VARIABLE) or None


def _server(args: argparse.Namespace, token: str | None) -> SimulatorServer:
    try:
        return SimulatorServer(
            token=token,
            bot_name=args.bot_name,
            bot_email=args.bot_email,
            scenario=args.scenario,
            host=args.host,
            port=args.port,
            mention_id_format=args.mention_id_format,
            disable_after_failures=args.disable_after_failures,
            failure_window_seconds=args.failure_window,
            delivery_timeout_seconds=args.delivery_timeout,
        )
    except (ScenarioError, SimulatorError, ValueError) as exc:
        raise CommandError(str(exc)) from None


def token_line(server: SimulatorServer) -> str:
    """Return the token line: the token itself only when the simulator generated it."""
    if server.token_given:
        return "bot token: as given"
    return f"bot token: {server.bot_token}"


def run_simulator(args: argparse.Namespace) -> int:
    server = _server(args, given_token(args))
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    try:
        server.start()
    except SimulatorError as exc:
        raise CommandError(str(exc)) from None
    bot = server.bot
    print(f"bot: {bot['displayName']} <{bot['emails'][0]}> id {bot['id']}", flush=True)
    print(token_line(server), flush=True)
    print(f"control API: {server.control_url}", flush=True)
    print(f"simulator ready on {server.base_url}", flush=True)
    try:
        while not stop.wait(0.5):
            if not server.running:
                raise CommandError("the simulator server stopped unexpectedly; see the log above")
    finally:
        server.stop()
    return 0
