"""``wxstream kafka start|stop|status``: the local single-node KRaft broker."""

from __future__ import annotations

import argparse

from wxstream.broker import BrokerConfig, LocalBroker
from wxstream.cli import CommandError
from wxstream.settings import load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("kafka", help="run the local Kafka broker")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    start = actions.add_parser("start", help="download (once), format (once) and start it")
    start.add_argument(
        "--timeout", type=float, default=90.0, help="seconds to wait for readiness (default: 90)"
    )
    start.set_defaults(handler=start_broker)

    stop = actions.add_parser("stop", help="stop it: SIGTERM, then SIGKILL after --timeout")
    stop.add_argument(
        "--timeout", type=float, default=30.0, help="seconds before SIGKILL (default: 30)"
    )
    stop.set_defaults(handler=stop_broker)

    status = actions.add_parser("status", help="show whether it runs, its address and pid")
    status.set_defaults(handler=show_status)


def _broker() -> LocalBroker:
    settings = load_settings()
    if not settings.uses_local_broker:
        raise CommandError(
            f"WXSTREAM_KAFKA_BOOTSTRAP_SERVERS is set to {settings.kafka_bootstrap_servers}, "
            "so the local broker is not used. Unset it to manage the local broker."
        )
    return LocalBroker(BrokerConfig.from_settings(settings))


def start_broker(args: argparse.Namespace) -> int:
    broker = _broker()
    pid = broker.start(timeout=args.timeout)
    print(f"kafka running on {broker.config.bootstrap} (pid {pid}, data {broker.config.data_dir})")
    return 0


def stop_broker(args: argparse.Namespace) -> int:
    broker = _broker()
    if broker.stop(timeout=args.timeout):
        print(f"kafka stopped (data kept in {broker.config.data_dir})")
    else:
        print("kafka is not running")
    return 0


def show_status(args: argparse.Namespace) -> int:
    status = _broker().status()
    state = "running" if status.running else "stopped"
    print(f"state:     {state}")
    print(f"bootstrap: {status.bootstrap}")
    print(f"data:      {status.data_dir}")
    print(f"pid:       {status.pid if status.running else '-'}")
    if status.stale_pid is not None:
        print(f"note:      stale pid file names process {status.stale_pid}, which is gone")
    return 0 if status.running else 3
