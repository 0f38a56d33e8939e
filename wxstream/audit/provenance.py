"""Replay provenance: the headers that mark a record as replayed, by whom, when and from where.

Every record a replay writes carries four CloudEvents extension attributes:
``ce_replayid`` (one id per replay run), ``ce_replayorigin`` (JSON with the original
topic, partition, offset and event id, and the original message id for outbound
messages), ``ce_replayedby`` (the operator) and ``ce_replayedat`` (RFC 3339, UTC).
"""

from __future__ import annotations

import getpass
import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from schemas.envelope import Envelope

REPLAY_ID = "replayid"
REPLAY_ORIGIN = "replayorigin"
REPLAYED_BY = "replayedby"
REPLAYED_AT = "replayedat"
SOURCE_REPLAY = "wxstream/replay"


def local_operator() -> str:
    """Return the local user name, the default operator of a replay."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER") or "unknown"


def new_replay_id() -> str:
    return uuid.uuid4().hex[:16]


@dataclass(frozen=True)
class Origin:
    """Where a replayed record came from."""

    topic: str
    partition: int
    offset: int
    event_id: str | None
    message_id: str | None = None

    def to_json(self) -> str:
        document: dict[str, Any] = {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "eventId": self.event_id,
        }
        if self.message_id is not None:
            document["messageId"] = self.message_id
        return json.dumps(document, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Origin | None:
        try:
            document = json.loads(text)
            return cls(
                topic=str(document["topic"]),
                partition=int(document["partition"]),
                offset=int(document["offset"]),
                event_id=document.get("eventId"),
                message_id=document.get("messageId"),
            )
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True)
class ReplayStamp:
    """One replay run: its id, operator and start time."""

    operator: str
    replay_id: str = field(default_factory=new_replay_id)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def extensions(self, origin: Origin) -> dict[str, str]:
        return {
            REPLAY_ID: self.replay_id,
            REPLAY_ORIGIN: origin.to_json(),
            REPLAYED_BY: self.operator,
            REPLAYED_AT: self.at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }


def replay_of(envelope: Envelope) -> dict[str, Any] | None:
    """Return the replay provenance of an event as a JSON object, or None if not replayed."""
    replay_id = envelope.header(REPLAY_ID)
    if replay_id is None:
        return None
    origin_text = envelope.header(REPLAY_ORIGIN) or ""
    origin = Origin.from_json(origin_text)
    return {
        "replayId": replay_id,
        "replayedBy": envelope.header(REPLAYED_BY),
        "replayedAt": envelope.header(REPLAYED_AT),
        "origin": json.loads(origin.to_json()) if origin else origin_text,
    }
