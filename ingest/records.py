"""Envelopes and record keys of the events the ingest service appends."""

from __future__ import annotations

import uuid
from datetime import datetime

from ingest.errors import BadRequest
from schemas.conversation import conversation_key, destination_of
from schemas.envelope import (
    RECEIVED_AT_EXTENSION,
    REQUEST_ID_EXTENSION,
    Record,
    encode_headers,
    format_time,
)
from schemas.events import SOURCE_INGEST
from schemas.payloads import check_email, check_identifier

INGEST_EXTENSIONS = frozenset({RECEIVED_AT_EXTENSION, REQUEST_ID_EXTENSION})


def ingest_record(
    *,
    key: str,
    value: bytes,
    type: str,
    request_id: str,
    received_at: datetime,
    id: str | None = None,
    source: str = SOURCE_INGEST,
    time: datetime | None = None,
    extensions: dict[str, str] | None = None,
    **attributes: str,
) -> tuple[str, Record]:
    """Return the event id and the record, stamped with the receive time and request id.

    The subject is the key, and the id is a new UUID unless given. ``attributes`` are
    further core attributes: dataschema, correlationid, causationid. The handlers
    check every value from a client before they call this, so the headers are written
    without validating an Envelope model (about 5 % of a webhook's CPU in a py-spy
    profile). Raises BadRequest when the key or a value cannot be UTF-8 encoded.
    """
    event_id = id or str(uuid.uuid4())
    received = format_time(received_at)
    stamped = {
        **(extensions or {}),
        RECEIVED_AT_EXTENSION: received,
        REQUEST_ID_EXTENSION: request_id,
    }
    core: dict[str, str | datetime] = {
        "id": event_id,
        "source": source,
        "type": type,
        "time": time or received,
        "subject": key,
        **attributes,
    }
    try:
        key.encode()
        return event_id, Record(key=key, value=value, headers=encode_headers(core, stamped))
    except UnicodeEncodeError:
        raise BadRequest(
            "a key or attribute contains a lone surrogate escape (\\ud800-\\udfff); "
            "send valid Unicode"
        ) from None


def check_destination(to: str, name: str) -> str:
    """Return ``to`` stripped; raise BadRequest unless it is an email or a room id.

    A value with an ``@`` must look like an email. Either kind is at most
    MAX_ID_CHARS long and has no control characters.
    """
    value = to.strip()
    if not value:
        raise BadRequest(f"field {name!r} is empty; give a person's email or a room id")
    try:
        if "@" in value:
            check_email(value, f"field {name!r}")
        else:
            check_identifier(value, f"field {name!r}")
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return value


def destination_key(to: str) -> str:
    """Return the conversation key of an alert's ``to``: an email or a room id."""
    destination = destination_of(to)
    return conversation_key(
        room_id=destination.get("room_id"),
        person_email=destination.get("to_person_email"),
    )
