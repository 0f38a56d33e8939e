"""Turn a back-end event with a ``to`` into one outbound message.

The text keeps the old bot's alert contract: the subject, a blank line, then the
message. ``to`` with an ``@`` is a person's email, anything else a room id.
"""

from __future__ import annotations

from typing import Any

from processors.replies import stable_message_id
from schemas.conversation import destination_of
from schemas.payloads import BackendEvent, OutboundMessage


class AlertRouteError(ValueError):
    """The event cannot become a message; the exception message gives the reason."""


def alert_body(subject: str | None, message: str | None) -> str:
    """Join the subject and the message with a blank line, leaving out an empty part."""
    parts = [part for part in (subject, message) if part and part.strip()]
    return "\n\n".join(parts)


def alert_message(event_id: str, event: BackendEvent) -> OutboundMessage:
    """Build the outbound message of an event; raise AlertRouteError when it has no route."""
    to = (event.to or "").strip()
    if not to:
        raise AlertRouteError(f"event {event_id} has no 'to': set an email or a room id")

    fields: dict[str, Any] = {"message_id": stable_message_id(event_id, "alert")}
    fields.update(destination_of(to))
    text = alert_body(event.subject, event.message)
    if event.markdown:
        fields["markdown"] = alert_body(event.subject, event.markdown)
        fields["text"] = text or None
    elif text:
        fields["text"] = text
    else:
        raise AlertRouteError(f"event {event_id} to {to!r} has no subject, message or markdown")
    return OutboundMessage(**fields)
