"""Envelopes and record keys of the events the ingest service appends."""

from __future__ import annotations

import uuid
from datetime import datetime

from ingest.errors import BadRequest
from schemas.conversation import conversation_key, destination_of
from schemas.envelope import (
    RECEIVED_AT_EXTENSION,
    REQUEST_ID_EXTENSION,
    Envelope,
    Record,
    build_record,
    format_time,
)
from schemas.events import SOURCE_INGEST
from schemas.payloads import check_email, check_identifier

INGEST_EXTENSIONS = frozenset({RECEIVED_AT_EXTENSION, REQUEST_ID_EXTENSION})


def ingest_envelope(
    *,
    type: str,
    subject: str,
    request_id: str,
    received_at: datetime,
    id: str | None = None,
    source: str = SOURCE_INGEST,
    time: datetime | None = None,
    extensions: dict[str, str] | None = None,
    **attributes: str,
) -> Envelope:
    """Build an envelope stamped with the receive time and the request id.

    ``attributes`` are further core attributes: dataschema, correlationid, causationid.
    """
    stamped = dict(extensions or {})
    stamped[RECEIVED_AT_EXTENSION] = format_time(received_at)
    stamped[REQUEST_ID_EXTENSION] = request_id
    return Envelope(
        id=id or str(uuid.uuid4()),
        type=type,
        source=source,
        subject=subject,
        time=time or received_at,
        extensions=stamped,
        **attributes,
    )


def encode_record(envelope: Envelope, key: str, value: bytes) -> Record:
    """Build the record; raise BadRequest when a header value cannot be UTF-8 encoded."""
    try:
        key.encode()
        return build_record(envelope, key, value)
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
