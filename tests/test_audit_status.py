"""Folding outbound events into one message's delivery status."""

from __future__ import annotations

import json

from schemas.topics import Topic
from wxstream.audit.status import MessageStatus, apply_event

MESSAGE = "m-1"


def _request(status: MessageStatus | None, at: str) -> MessageStatus | None:
    return apply_event(status, Topic.OUTBOUND_MESSAGES, {"messageId": MESSAGE}, at=at, key="r")


def _attempt(status: MessageStatus | None, at: str, **fields: object) -> MessageStatus | None:
    payload = {"messageId": MESSAGE, "partId": MESSAGE, "attempt": 1, **fields}
    return apply_event(status, Topic.OUTBOUND_DELIVERIES, payload, at=at)


def _dead_letter(status: MessageStatus | None, at: str) -> MessageStatus | None:
    payload = {"messageId": MESSAGE, "reason": "permanent error", "stage": "sender.deliver"}
    return apply_event(status, Topic.OUTBOUND_DEAD_LETTER, payload, at=at)


def test_status_requested_is_pending() -> None:
    status = _request(None, "2024-01-01T00:00:00")

    assert status is not None
    assert status.status == "pending"
    assert status.conversation == "r"


def test_status_failed_attempt_is_failed() -> None:
    status = _attempt(_request(None, "t1"), "t2", outcome="retrying", statusCode=503)

    assert status is not None
    assert status.status == "failed"


def test_status_delivered_keeps_webex_id() -> None:
    status = _attempt(_request(None, "t1"), "t2", outcome="delivered", webexMessageId="w-1")

    assert status is not None
    assert status.status == "delivered"
    assert status.webex_message_ids == ["w-1"]


def test_status_delivered_needs_every_part() -> None:
    status = _request(None, "t1")
    for index, outcome in ((1, "delivered"), (2, "retrying")):
        status = _attempt(status, "t2", outcome=outcome, partId=f"{MESSAGE}#{index}/2")

    assert status is not None
    assert status.status == "failed"
    status = _attempt(status, "t3", outcome="delivered", partId=f"{MESSAGE}#2/2")
    assert status is not None
    assert status.status == "delivered"


def test_status_dead_letter_then_new_request_is_pending() -> None:
    status = _dead_letter(_request(None, "2024-01-01T00:00:01"), "2024-01-01T00:00:02")
    assert status is not None
    assert status.status == "dead-lettered"

    status = _request(status, "2024-01-01T00:00:03")

    assert status is not None
    assert status.status == "pending"
    assert status.requests == 2


def test_status_dead_letter_message_id_from_original_value() -> None:
    payload = {"reason": "x", "originalValue": json.dumps({"messageId": MESSAGE})}

    status = apply_event(None, Topic.OUTBOUND_DEAD_LETTER, payload, at="t1")

    assert status is not None
    assert status.message_id == MESSAGE
    assert status.status == "dead-lettered"


def test_status_round_trips_through_bytes() -> None:
    status = _attempt(_request(None, "t1"), "t2", outcome="delivered", webexMessageId="w-1")
    assert status is not None

    copy = MessageStatus.from_bytes(status.to_bytes())

    assert copy.to_json() == status.to_json()


def test_status_event_without_message_id_is_ignored() -> None:
    assert apply_event(None, Topic.OUTBOUND_DELIVERIES, {"outcome": "delivered"}, at="t") is None
