"""The fixed corpus: Webex webhook callbacks and Zabbix-style alerts, 1-2 KB each.

Every item carries a bench id (``wxb-<seed>-<index>``) that survives the whole chain:
a webhook's message text is the bench id, which the bot's unknown-command reply
quotes back, and an alert's subject ends with it, which the alert text keeps. The
corpus is a pure function of its seed, so every run and every system sees the same
bytes in the same order.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

DEFAULT_SEED = 20_240_601
MIN_BODY_BYTES = 1024
MAX_BODY_BYTES = 2048
ORG_UUID = "2a7c3f4e-9d1b-4c8a-a6e5-0f3b2d1c9e87"
APP_UUID = "5d2e8b71-3c4f-4a9e-b1d6-7e8f9a0b1c2d"
BOT_EMAIL = "wxstream@webex.bot"
HOSTS = ("db1", "db2", "web1", "web2", "cache1", "queue1", "lb1", "api3")
TRIGGERS = (
    "Disk space is low",
    "High CPU utilisation",
    "Memory usage above 90%",
    "Service is down",
    "Replication lag is high",
    "TLS certificate expires soon",
)


@dataclass(frozen=True)
class WebhookItem:
    """One ``messages:created`` callback: the exact body bytes and the ids inside it."""

    bench_id: str
    body: bytes
    message_id: str
    room_id: str
    person_email: str


@dataclass(frozen=True)
class AlertItem:
    """One ``POST /api/v1/alert`` body in the old bot's ``{to, subject, message}`` form."""

    bench_id: str
    body: bytes
    to: str
    subject: str
    message: str


def bench_id(seed: int, index: int) -> str:
    """Return the id of item ``index``: short enough to be quoted whole in a bot reply."""
    return f"wxb-{seed % 0x10000:04x}-{index:07d}"


def rest_id(kind: str, value: str) -> str:
    """Return a Webex REST id: base64 of ``ciscospark://us/<KIND>/<uuid>``, no padding."""
    raw = f"ciscospark://us/{kind}/{value}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def sign(secret: bytes, body: bytes) -> str:
    """Return the ``X-Spark-Signature`` of ``body``: hex HMAC-SHA1 keyed with the secret."""
    return hmac.new(secret, body, hashlib.sha1).hexdigest()


class Corpus:
    """Deterministic webhook and alert items; item ``i`` is the same for a given seed."""

    def __init__(self, seed: int = DEFAULT_SEED, people: int = 64) -> None:
        self.seed = seed
        self.people = people

    def _rng(self, kind: str, index: int) -> random.Random:
        return random.Random(f"{self.seed}:{kind}:{index}")

    def person_email(self, index: int) -> str:
        return f"oncall-{index % self.people:02d}@example.com"

    def webhook(
        self,
        index: int,
        *,
        message_id: str | None = None,
        room_id: str | None = None,
        person_id: str | None = None,
        person_email: str | None = None,
    ) -> WebhookItem:
        """Return callback ``index``; real simulator ids may replace the generated ones."""
        rng = self._rng("webhook", index)
        email = person_email or self.person_email(index)
        data = {
            "id": message_id or rest_id("MESSAGE", _uuid(rng)),
            "roomId": room_id or rest_id("ROOM", _uuid(rng)),
            "roomType": "direct",
            "personId": person_id or rest_id("PEOPLE", _uuid(rng)),
            "personEmail": email,
            "created": _timestamp(rng),
        }
        document = _callback(rng, data)
        _pad_to_size(document, rng, "name")
        body = _dumps(document)
        return WebhookItem(bench_id(self.seed, index), body, data["id"], data["roomId"], email)

    def alert(self, index: int) -> AlertItem:
        """Return alert ``index``; its subject ends with the bench id."""
        rng = self._rng("alert", index)
        identifier = bench_id(self.seed, index)
        host = rng.choice(HOSTS)
        trigger = rng.choice(TRIGGERS)
        subject = f"PROBLEM: {trigger} on {host} {identifier}"
        lines = [
            f"Problem started at {_timestamp(rng)} on {host}.example.net",
            f"Problem name: {trigger}",
            f"Host: {host}.example.net ({rng.randint(10, 250)}.{rng.randint(0, 255)}.0.1)",
            f"Severity: {rng.choice(('Warning', 'Average', 'High', 'Disaster'))}",
            f"Operational data: {rng.randint(1, 99)}% used",
            f"Original problem ID: {rng.randint(10**6, 10**8)}",
        ]
        document: dict[str, Any] = {
            "to": self.person_email(index),
            "subject": subject,
            "message": "\n".join(lines),
        }
        _pad_to_size(document, rng, "message")
        body = _dumps(document)
        return AlertItem(identifier, body, document["to"], document["subject"], document["message"])

    def webhooks(self, count: int, start: int = 0) -> Iterator[WebhookItem]:
        return (self.webhook(index) for index in range(start, start + count))

    def alerts(self, count: int, start: int = 0) -> Iterator[AlertItem]:
        return (self.alert(index) for index in range(start, start + count))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _timestamp(rng: random.Random) -> str:
    second = rng.randrange(0, 86_400)
    return f"2024-06-01T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}.000Z"


def _callback(rng: random.Random, data: dict[str, Any]) -> dict[str, Any]:
    webhook_uuid = _uuid(rng)
    bot_id = rest_id("PEOPLE", _uuid(rng))
    return {
        "id": rest_id("WEBHOOK", webhook_uuid),
        "name": "wxstream messages/created",
        "targetUrl": "https://bot.example.com/webhooks/webex",
        "resource": "messages",
        "event": "created",
        "orgId": rest_id("ORGANIZATION", ORG_UUID),
        "createdBy": bot_id,
        "appId": rest_id("APPLICATION", APP_UUID),
        "ownedBy": "creator",
        "status": "active",
        "created": _timestamp(rng),
        "actorId": data["personId"],
        "data": data,
    }


def _pad_to_size(document: dict[str, Any], rng: random.Random, field: str) -> None:
    """Lengthen one text field so the body lands at a seeded size within 1-2 KB."""
    target = rng.randint(MIN_BODY_BYTES + 64, MAX_BODY_BYTES - 64)
    missing = target - len(_dumps(document))
    if missing > 0:
        filler = " ".join(rng.choice(HOSTS) for _ in range(missing // 4 + 1))
        document[field] = f"{document[field]} ({filler[: max(0, missing - 3)]})"


def _dumps(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()
