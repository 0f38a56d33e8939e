"""Webhook registrations: validation, filters, and which callbacks an event produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from wxstream.sim import ids
from wxstream.sim.errors import ApiError
from wxstream.sim.state import Message, Person, Room, SimState, Webhook, new_timestamp

# Resources and events a bot can register for; ``all`` matches any of them.
EVENTS_BY_RESOURCE = {
    "messages": {"created", "updated", "deleted"},
    "memberships": {"created", "updated", "deleted"},
    "rooms": {"created", "updated", "migrated"},
    "attachmentActions": {"created"},
    "all": {"all"},
}
# The firehose covers these resources; card submissions need their own webhook.
FIREHOSE_RESOURCES = {"messages", "memberships", "rooms"}
FILTER_KEYS = {
    "messages": {"roomId", "roomType", "personId", "personEmail", "mentionedPeople", "hasFiles"},
    "memberships": {"roomId", "personId", "personEmail", "isModerator"},
    "rooms": {"type", "isLocked"},
    "attachmentActions": {"roomId", "personId", "personEmail", "messageId"},
    "all": {"roomId", "roomType", "personId", "personEmail", "mentionedPeople", "hasFiles"},
}
UPDATABLE_FIELDS = ("name", "targetUrl", "secret", "status")


@dataclass
class WebhookEvent:
    """Something that happened, with what the webhook visibility rules need to know."""

    resource: str
    event: str
    actor_id: str
    data: dict[str, Any]
    room: Room | None = None
    message: Message | None = None
    # Only the webhooks of this person see the event (used for card submissions).
    audience_id: str | None = None
    filter_fields: dict[str, Any] = field(default_factory=dict)


def required_string(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, f"{name} is required and must be a non-empty string.")
    return value


def check_target_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ApiError(400, f"targetUrl {url!r} is invalid: use an http:// or https:// URL.")
    return url


def parse_filter(resource: str, raw: str | None) -> dict[str, str]:
    """Parse ``key=value&key=value``; unknown keys for the resource are a 400."""
    if raw is None or raw == "":
        return {}
    pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=False)
    if not pairs:
        raise ApiError(400, f"filter {raw!r} is invalid: use key=value&key=value.")
    allowed = FILTER_KEYS[resource]
    for key, _ in pairs:
        if key not in allowed:
            raise ApiError(
                400,
                f"filter key {key!r} is invalid for resource {resource!r}: "
                f"use one of {', '.join(sorted(allowed))}.",
            )
    return dict(pairs)


def create_webhook(body: dict[str, Any], owner: Person) -> Webhook:
    name = required_string(body, "name")
    target_url = check_target_url(required_string(body, "targetUrl"))
    resource = required_string(body, "resource")
    event = required_string(body, "event")
    if resource not in EVENTS_BY_RESOURCE:
        raise ApiError(
            400,
            f"resource {resource!r} is invalid: use one of {', '.join(EVENTS_BY_RESOURCE)}.",
        )
    if event != "all" and event not in EVENTS_BY_RESOURCE[resource]:
        allowed = ", ".join(sorted(EVENTS_BY_RESOURCE[resource] | {"all"}))
        raise ApiError(400, f"event {event!r} is invalid for {resource!r}: use one of {allowed}.")
    raw_filter = body.get("filter")
    if raw_filter is not None and not isinstance(raw_filter, str):
        raise ApiError(400, "filter must be a string such as roomId=...&personEmail=...")
    secret = body.get("secret")
    if secret is not None and not isinstance(secret, str):
        raise ApiError(400, "secret must be a string.")
    return Webhook(
        id=ids.encode_id(ids.WEBHOOK, ids.new_uuid()),
        owner_id=owner.id,
        name=name,
        target_url=target_url,
        resource=resource,
        event=event,
        filter=raw_filter or None,
        filter_pairs=parse_filter(resource, raw_filter),
        secret=secret or None,
        created=new_timestamp(),
    )


def update_webhook(webhook: Webhook, body: dict[str, Any]) -> None:
    """Apply a PUT: only name, targetUrl, secret and status (to ``active``) may change."""
    for fixed in ("resource", "event", "filter"):
        current = getattr(webhook, fixed)
        if fixed in body and body[fixed] != current:
            raise ApiError(
                400,
                f"{fixed} cannot be changed by PUT (is {current!r}): delete the webhook "
                "and create a new one.",
            )
    name = required_string(body, "name")
    target_url = check_target_url(required_string(body, "targetUrl"))
    status = body.get("status")
    if status is not None and status != "active":
        raise ApiError(400, f"status {status!r} is invalid: it can only be set to 'active'.")
    secret = body.get("secret")
    if secret is not None and not isinstance(secret, str):
        raise ApiError(400, "secret must be a string.")

    webhook.name = name
    webhook.target_url = target_url
    if "secret" in body:
        webhook.secret = secret or None
    if status == "active":
        webhook.status = "active"


def covers(webhook: Webhook, event: WebhookEvent) -> bool:
    """Return whether the webhook's resource and event select this event."""
    if webhook.resource == "all":
        return event.resource in FIREHOSE_RESOURCES
    if webhook.resource != event.resource:
        return False
    return webhook.event in ("all", event.event)


def filter_matches(webhook: Webhook, event: WebhookEvent, owner: Person) -> bool:
    for key, expected in webhook.filter_pairs.items():
        actual = event.filter_fields.get(key, event.data.get(key))
        if not _filter_value_matches(key, expected, actual, owner):
            return False
    return True


def _filter_value_matches(key: str, expected: str, actual: Any, owner: Person) -> bool:
    if key == "mentionedPeople":
        wanted = owner.id if expected == "me" else expected
        return isinstance(actual, list) and wanted in actual
    if key == "hasFiles":
        return (expected.lower() == "true") == bool(actual)
    if isinstance(actual, bool):
        return expected.lower() == str(actual).lower()
    if key == "personEmail" and isinstance(actual, str):
        return actual.lower() == expected.lower()
    return actual == expected


def visible_to(event: WebhookEvent, owner: Person) -> bool:
    """Return whether Webex would tell ``owner`` about this event at all."""
    if event.audience_id is not None:
        return event.audience_id == owner.id
    room = event.room
    if room is None or owner.id not in room.memberships:
        return False
    if event.resource != "messages" or event.message is None:
        return True
    if owner.type != "bot" or room.type == "direct":
        return True
    return owner.id in event.message.mentioned_people


def recipients(state: SimState, event: WebhookEvent) -> list[Webhook]:
    """Return the active webhooks that receive a callback for this event."""
    chosen = []
    for webhook in state.webhooks.values():
        if webhook.status != "active" or not covers(webhook, event):
            continue
        owner = state.people.get(webhook.owner_id)
        if owner is None or not visible_to(event, owner):
            continue
        if filter_matches(webhook, event, owner):
            chosen.append(webhook)
    return chosen


def callback_body(webhook: Webhook, event: WebhookEvent, state: SimState) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": webhook.id,
        "name": webhook.name,
        "targetUrl": webhook.target_url,
        "resource": event.resource,
        "event": event.event,
    }
    if webhook.filter:
        body["filter"] = webhook.filter
    body.update(
        {
            "orgId": state.org_id,
            "createdBy": webhook.owner_id,
            "appId": state.app_id,
            "ownedBy": "creator",
            "status": webhook.status,
            "created": webhook.created,
            "actorId": event.actor_id,
            "data": event.data,
        }
    )
    return body
