"""``wxstream schemas export DIR``: publish the event payload JSON Schemas."""

from __future__ import annotations

import argparse
from pathlib import Path

from schemas.export import export_schemas


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("schemas", help="event schemas")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = actions.add_parser("export", help="write one JSON Schema file per event type")
    export.add_argument("directory", type=Path, help="output folder, created if missing")
    export.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    written = export_schemas(args.directory)
    for path in written:
        print(path)
    return 0
