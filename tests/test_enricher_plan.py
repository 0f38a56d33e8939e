"""What the enricher does with a callback before calling Webex, and what it builds."""

from __future__ import annotations

from typing import Any

from processors.enrichment import (
    Action,
    card_submitted,
    enriched_event_id,
    plan,
    received_message,
)
from schemas.payloads import WebhookNotification

BOT_UUID = "5f3a1c2e-7b4d-4e8f-9a6b-0c1d2e3f4a5b"
BOT_ID = "Y2lzY29zcGFyazovL3VzL1BFT1BMRS81ZjNhMWMyZS03YjRkLTRlOGYtOWE2Yi0wYzFkMmUzZjRhNWI"


def callback(resource: str, event: str, **data: Any) -> WebhookNotification:
    return WebhookNotification.model_validate(
        {"id": "webhook-1", "resource": resource, "event": event, "data": {"id": "d1", **data}}
    )


def test_plan_fetches_a_person_message() -> None:
    decision = plan(
        callback("messages", "created", personId="ann", personEmail="ann@example.com"),
        BOT_ID,
        allow_bot_messages=False,
    )
    assert decision.action is Action.FETCH_MESSAGE


def test_plan_drops_own_message_by_raw_uuid() -> None:
    decision = plan(
        callback("messages", "created", personId=BOT_UUID), BOT_ID, allow_bot_messages=True
    )
    assert decision.action is Action.DROP


def test_plan_drops_other_bots_unless_allowed() -> None:
    other_bot = callback("messages", "created", personId="x", personEmail="Other@Webex.Bot")
    assert plan(other_bot, BOT_ID, allow_bot_messages=False).action is Action.DROP
    assert plan(other_bot, BOT_ID, allow_bot_messages=True).action is Action.FETCH_MESSAGE


def test_plan_bot_membership_is_bot_added() -> None:
    decision = plan(
        callback("memberships", "created", personId=BOT_ID), BOT_ID, allow_bot_messages=False
    )
    assert decision.action is Action.BOT_ADDED


def test_plan_other_membership_kept_in_log() -> None:
    decision = plan(
        callback("memberships", "created", personId="ann"), BOT_ID, allow_bot_messages=False
    )
    assert decision.action is Action.KEEP_IN_LOG


def test_plan_card_action_is_fetched() -> None:
    decision = plan(
        callback("attachmentActions", "created", personId="ann"), BOT_ID, allow_bot_messages=False
    )
    assert decision.action is Action.FETCH_CARD_ACTION


def test_enriched_event_id_same_for_both_webhooks() -> None:
    first = callback("messages", "created")
    second = WebhookNotification.model_validate(
        {"id": "webhook-2", "resource": "messages", "event": "created", "data": {"id": "d1"}}
    )
    assert enriched_event_id(first) == enriched_event_id(second)
    assert enriched_event_id(first) != enriched_event_id(callback("messages", "deleted"))


def test_received_message_reads_file_only_message() -> None:
    message = received_message(
        {"id": "d1", "roomId": "r", "roomType": "direct", "personId": "p", "files": ["https://f"]},
        callback("messages", "created"),
    )
    assert message.text is None
    assert message.files == ["https://f"]


def test_card_submitted_takes_email_from_person() -> None:
    card = card_submitted(
        {
            "id": "a1",
            "messageId": "m1",
            "roomId": "r",
            "personId": "p",
            "inputs": {"command": "hello"},
        },
        callback("attachmentActions", "created"),
        {"emails": ["ann@example.com"]},
    )
    assert card.person_email == "ann@example.com"
    assert card.inputs == {"command": "hello"}
