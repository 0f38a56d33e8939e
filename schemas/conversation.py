"""Conversation keys: the Kafka record key that keeps one conversation in one partition."""

from __future__ import annotations

PERSON_PREFIX = "person:"


def conversation_key(
    *,
    room_id: str | None = None,
    person_email: str | None = None,
    person_id: str | None = None,
) -> str:
    """Return the room id, else ``person:<email>``, else ``person:<personId>``.

    Raises ValueError when none is given, because a record must never have an empty key.
    Emails are lowercased so that one person maps to one key.
    """
    if room_id:
        return room_id
    if person_email:
        return PERSON_PREFIX + person_email.strip().lower()
    if person_id:
        return PERSON_PREFIX + person_id
    raise ValueError("no room id, person email or person id to key the conversation by")


def destination_of(to: str) -> dict[str, str]:
    """Map an alert's ``to`` to a Webex destination: an email has an ``@``, else a room id."""
    to = to.strip()
    if "@" in to:
        return {"to_person_email": to}
    return {"room_id": to}
