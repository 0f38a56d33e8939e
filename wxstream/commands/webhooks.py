"""``wxstream webhooks sync|list|delete``: the bot's Webex webhook registrations."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from processors.webex import WebexClient, WebexError
from wxstream.cli import CommandError
from wxstream.settings import Settings, load_settings, require
from wxstream.webhooks import delete_webhooks, sync_webhooks, target_url


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("webhooks", help="register the bot's Webex webhooks")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    sync = actions.add_parser(
        "sync",
        help="create missing webhooks at WXSTREAM_PUBLIC_URL, fix changed ones, drop duplicates",
    )
    sync.set_defaults(handler=lambda args: _run(_sync))

    listing = actions.add_parser("list", help="list the bot's webhooks")
    listing.set_defaults(handler=lambda args: _run(_list))

    delete = actions.add_parser("delete", help="delete the webhooks pointing at this service")
    delete.add_argument(
        "--all", action="store_true", help="delete every webhook of the bot, wherever it points"
    )
    delete.set_defaults(handler=lambda args: _run(_delete, args.all))


def _client(settings: Settings) -> WebexClient:
    require(settings, "webex_token")
    assert settings.webex_token is not None
    return WebexClient(
        settings.webex_api_url,
        settings.webex_token.get_secret_value(),
        timeout=settings.webex_timeout_seconds,
    )


def _run(action: Callable[..., Coroutine[Any, Any, int]], *args: Any) -> int:
    settings = load_settings()
    try:
        return asyncio.run(action(settings, *args))
    except WebexError as exc:
        raise CommandError(str(exc)) from exc


async def _sync(settings: Settings) -> int:
    require(settings, "public_url", "webhook_secret")
    assert settings.public_url is not None and settings.webhook_secret is not None
    url = target_url(settings.public_url)
    async with _client(settings) as client:
        report = await sync_webhooks(client, url, settings.webhook_secret.get_secret_value())
    for line in report.lines():
        print(line)
    print(f"webhooks point at {url}" + ("" if report.changed else " (nothing changed)"))
    return 0


async def _list(settings: Settings) -> int:
    async with _client(settings) as client:
        hooks = await client.list_webhooks()
    if not hooks:
        print("no webhooks")
    for hook in hooks:
        print(
            f"{hook.get('id')}  {hook.get('status', '?'):<8}  "
            f"{hook.get('resource')}/{hook.get('event')}  {hook.get('targetUrl')}  "
            f"{hook.get('name', '')}"
        )
    return 0


async def _delete(settings: Settings, everything: bool) -> int:
    url = None
    if not everything:
        require(settings, "public_url")
        assert settings.public_url is not None
        url = target_url(settings.public_url)
    async with _client(settings) as client:
        deleted = await delete_webhooks(client, url)
    for line in deleted:
        print(f"deleted   {line}")
    print(f"{len(deleted)} webhook(s) deleted")
    return 0
