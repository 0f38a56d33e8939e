"""``wxstream topics create``: create the catalog's topics, idempotently."""

from __future__ import annotations

import argparse

from schemas.topics import catalog_from_settings
from wxstream.settings import load_settings
from wxstream.topics import ensure_topics


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("topics", help="manage the Kafka topics")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create", help="create missing topics; report ones with a different partition count"
    )
    create.set_defaults(handler=create_topics)


def create_topics(args: argparse.Namespace) -> int:
    settings = load_settings()
    results = ensure_topics(settings.bootstrap_servers, catalog_from_settings(settings))
    width = max(len(result.name) for result in results)
    for result in results:
        print(f"{result.name:<{width}}  {result.action:<8}  {result.detail}")
    mismatches = [result for result in results if not result.ok]
    if mismatches:
        print(f"{len(mismatches)} topic(s) do not match the catalog; see above")
        return 1
    return 0
