"""``wxstream schemas export DIR``: publish the event payload JSON Schemas."""

from __future__ import annotations

import argparse
from pathlib import Path

from schemas.export import export_schemas
from wxstream.cli import CommandError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("schemas", help="event schemas")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = actions.add_parser("export", help="write one JSON Schema file per event type")
    export.add_argument("directory", type=Path, help="output folder, created if missing")
    export.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    try:
        written = export_schemas(args.directory)
    except OSError as exc:
        raise CommandError(
            f"could not write the schemas to {args.directory}: {exc.strerror or exc}. "
            "Give a folder that can be created or written."
        ) from exc
    for path in written:
        print(path)
    return 0
