"""Outbound messages become Webex request bodies: destination, thread, files, split parts."""

from __future__ import annotations

from processors.delivery import plan_parts
from processors.splitting import WEBEX_MAX_BYTES, utf8_size
from schemas.payloads import OutboundMessage


def test_plan_parts_short_message_is_one_body() -> None:
    message = OutboundMessage(message_id="m1", room_id="R", text="hi", markdown="**hi**")

    parts = plan_parts(message)

    assert [(part.id, part.body) for part in parts] == [
        ("m1", {"roomId": "R", "text": "hi", "markdown": "**hi**"})
    ]


def test_plan_parts_person_destination_and_thread() -> None:
    message = OutboundMessage(
        message_id="m1", to_person_email="ann@example.com", text="hi", parent_id="P"
    )

    (part,) = plan_parts(message)

    assert part.body == {"toPersonEmail": "ann@example.com", "parentId": "P", "text": "hi"}


def test_plan_parts_long_markdown_splits_markdown_only() -> None:
    markdown = ("line of markdown 👍🏽\n\n" * 1200)[:30_000]
    message = OutboundMessage(message_id="m1", room_id="R", text="fallback", markdown=markdown)

    parts = plan_parts(message)

    assert len(parts) >= 3
    for index, part in enumerate(parts, start=1):
        assert part.id == f"m1#{index}/{len(parts)}"
        assert set(part.body) == {"roomId", "markdown"}
        assert utf8_size(part.body["markdown"]) <= WEBEX_MAX_BYTES


def test_plan_parts_card_goes_with_first_part_only() -> None:
    card = {"contentType": "application/vnd.microsoft.card.adaptive", "content": {}}
    message = OutboundMessage(
        message_id="m1", room_id="R", text="x " * 8000, attachments=[card], parent_id="P"
    )

    parts = plan_parts(message)

    assert parts[0].body["attachments"] == [card]
    assert all("attachments" not in part.body for part in parts[1:])
    assert all(part.body["parentId"] == "P" for part in parts)
