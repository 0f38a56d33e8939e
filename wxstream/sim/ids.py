"""Webex REST ids: unpadded base64 of ``ciscospark://us/<KIND>/<uuid>``."""

from __future__ import annotations

import base64
import binascii
import uuid

PEOPLE = "PEOPLE"
ROOM = "ROOM"
MESSAGE = "MESSAGE"
MEMBERSHIP = "MEMBERSHIP"
WEBHOOK = "WEBHOOK"
ATTACHMENT_ACTION = "ATTACHMENT_ACTION"
ORGANIZATION = "ORGANIZATION"
APPLICATION = "APPLICATION"

_PREFIX = "ciscospark://us/"


def new_uuid() -> str:
    return str(uuid.uuid4())


def encode_id(kind: str, raw: str) -> str:
    """Return the REST id of the object of ``kind`` whose raw id is ``raw``."""
    encoded = base64.b64encode(f"{_PREFIX}{kind}/{raw}".encode()).decode("ascii")
    return encoded.rstrip("=")


def decode_id(rest_id: str) -> tuple[str, str] | None:
    """Return ``(kind, raw id)`` of a REST id, or None when it is not one."""
    padded = rest_id + "=" * (-len(rest_id) % 4)
    try:
        decoded = base64.b64decode(padded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not decoded.startswith(_PREFIX):
        return None
    kind, slash, raw = decoded.removeprefix(_PREFIX).partition("/")
    if not slash or not raw:
        return None
    return kind, raw
