"""Idempotent registration of the bot's Webex webhooks.

Creating webhooks on every start, for example in a crash loop, has got bots blocked, so
:func:`sync_webhooks` first lists what exists and creates only what is missing. It
updates a webhook whose secret, URL or status is wrong, deletes duplicates that point at
the same URL, and never creates more than one webhook per resource and event.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from processors.webex import WebexClient

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/webex"
NAME_PREFIX = "wxstream"
REQUIRED_WEBHOOKS = (
    ("messages", "created"),
    ("memberships", "created"),
    ("attachmentActions", "created"),
)
# Webex disables a webhook after 100 failed deliveries in 5 minutes. Re-enabling it
# within 5 minutes of that gets it disabled again on the next failure.
REACTIVATION_DELAY_SECONDS = 300.0


@dataclass
class SyncReport:
    """Changes made by one synchronisation, as lines of ``action resource/event id``."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)

    def lines(self) -> list[str]:
        rows: list[str] = []
        for action, items in (
            ("created", self.created),
            ("updated", self.updated),
            ("deleted", self.deleted),
            ("unchanged", self.unchanged),
        ):
            rows.extend(f"{action:<9} {item}" for item in items)
        return rows


def webhook_name(resource: str, event: str) -> str:
    return f"{NAME_PREFIX} {resource}/{event}"


def target_url(public_url: str) -> str:
    return public_url.rstrip("/") + WEBHOOK_PATH


async def sync_webhooks(client: WebexClient, url: str, secret: str | None) -> SyncReport:
    """Make exactly one active webhook per required resource and event point at ``url``."""
    report = SyncReport()
    existing = await client.list_webhooks()

    for resource, event in REQUIRED_WEBHOOKS:
        label = f"{resource}/{event}"
        matching = [
            hook
            for hook in existing
            if hook.get("resource") == resource and hook.get("event") == event
        ]
        same_url = [hook for hook in matching if hook.get("targetUrl") == url]
        ours_elsewhere = [
            hook
            for hook in matching
            if hook.get("targetUrl") != url and str(hook.get("name", "")).startswith(NAME_PREFIX)
        ]
        keep = _choose(same_url) or _choose(ours_elsewhere)

        if keep is None:
            body = {"name": webhook_name(resource, event), "targetUrl": url}
            body.update({"resource": resource, "event": event})
            if secret:
                body["secret"] = secret
            created = await client.create_webhook(body)
            report.created.append(f"{label} {created.get('id')}")
        elif _needs_update(keep, url, secret):
            await client.update_webhook(
                keep["id"], _update_body(keep, resource, event, url, secret)
            )
            report.updated.append(f"{label} {keep['id']}")
        else:
            report.unchanged.append(f"{label} {keep['id']}")

        for duplicate in same_url:
            if keep is not None and duplicate["id"] != keep["id"]:
                await client.delete_webhook(duplicate["id"])
                report.deleted.append(f"{label} {duplicate['id']} (duplicate)")
    return report


def _choose(hooks: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Prefer an active webhook, then the oldest."""
    if not hooks:
        return None
    return sorted(
        hooks, key=lambda hook: (hook.get("status") != "active", hook.get("created", ""))
    )[0]


def _needs_update(hook: dict[str, Any], url: str, secret: str | None) -> bool:
    if hook.get("targetUrl") != url or hook.get("status") != "active":
        return True
    # Webex returns the secret to the webhook's owner; a missing field cannot be compared.
    return bool(secret) and "secret" in hook and hook.get("secret") != secret


def _update_body(
    hook: dict[str, Any], resource: str, event: str, url: str, secret: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": hook.get("name") or webhook_name(resource, event),
        "targetUrl": url,
        "status": "active",
    }
    if secret:
        body["secret"] = secret
    return body


async def delete_webhooks(client: WebexClient, url: str | None = None) -> list[str]:
    """Delete this bot's webhooks pointing at ``url`` (all of them when ``url`` is None)."""
    deleted = []
    for hook in await client.list_webhooks():
        if url is None or hook.get("targetUrl") == url:
            await client.delete_webhook(hook["id"])
            deleted.append(f"{hook.get('resource')}/{hook.get('event')} {hook['id']}")
    return deleted


class Reactivator:
    """Sets inactive webhooks active again, no sooner than 5 minutes after first seen inactive.

    Webex does not report when it disabled a webhook, so the delay counts from the first
    check that found it inactive.
    """

    def __init__(
        self, secret: str | None, delay_seconds: float = REACTIVATION_DELAY_SECONDS
    ) -> None:
        self.secret = secret
        self.delay_seconds = delay_seconds
        self.first_seen_inactive: dict[str, float] = {}
        self.reactivated_total = 0

    async def check(self, client: WebexClient, now: float | None = None) -> list[str]:
        """Reactivate due webhooks; return their ids."""
        current = time.monotonic() if now is None else now
        reactivated = []
        hooks = await client.list_webhooks()
        inactive_ids = {hook["id"] for hook in hooks if hook.get("status") == "inactive"}
        for hook_id in list(self.first_seen_inactive):
            if hook_id not in inactive_ids:
                del self.first_seen_inactive[hook_id]
        for hook in hooks:
            if hook["id"] not in inactive_ids:
                continue
            first_seen = self.first_seen_inactive.setdefault(hook["id"], current)
            if current - first_seen < self.delay_seconds:
                continue
            # A PUT replaces the secret too, so the configured one is sent again.
            body = {
                "name": hook.get("name"),
                "targetUrl": hook.get("targetUrl"),
                "status": "active",
            }
            if self.secret:
                body["secret"] = self.secret
            await client.update_webhook(hook["id"], body)
            del self.first_seen_inactive[hook["id"]]
            self.reactivated_total += 1
            reactivated.append(hook["id"])
            logger.warning(
                "webhook %s (%s/%s -> %s) was inactive; set it active again",
                hook["id"],
                hook.get("resource"),
                hook.get("event"),
                hook.get("targetUrl"),
            )
        return reactivated
