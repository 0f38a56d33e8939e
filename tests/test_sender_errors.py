"""Webex error bodies: the error text kept for dead-letter reasons and log lines."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from processors.webex import MAX_WEBEX_MESSAGE_CHARS, error_message_of


def test_error_message_of_returns_message() -> None:
    body = {"message": "The request could not be processed.", "trackingId": "ROUTER_1"}

    assert error_message_of(body) == "The request could not be processed."


def test_error_message_of_joins_lines() -> None:
    assert error_message_of({"message": "first line\n  second\tline "}) == "first line second line"


def test_error_message_of_cuts_long_text() -> None:
    message = error_message_of({"message": "x" * 5000})

    assert message is not None
    assert len(message) == MAX_WEBEX_MESSAGE_CHARS
    assert message.endswith("…")


def test_error_message_of_non_text_is_none() -> None:
    assert error_message_of({}) is None
    assert error_message_of({"message": None}) is None
    assert error_message_of({"message": {"nested": "x"}}) is None
    assert error_message_of({"message": "   "}) is None


@given(st.text())
def test_error_message_of_is_one_bounded_line(text: str) -> None:
    message = error_message_of({"message": text})

    if message is not None:
        assert len(message) <= MAX_WEBEX_MESSAGE_CHARS
        assert "\n" not in message
        assert message == message.strip()
