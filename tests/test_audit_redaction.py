"""Secrets never reach audit output; bodies only on request; time arguments parse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wxstream.audit.redaction import HIDDEN, hide_bodies, safe_headers, strip_secrets
from wxstream.audit.timerange import TimeRange, TimeRangeError, parse_time

NOW = datetime(2024, 6, 1, 12, tzinfo=UTC)


def test_strip_secrets_drops_secret_fields_at_any_depth() -> None:
    document = {
        "reason": "x",
        "originalHeaders": {"Authorization": "Bearer t", "X-Spark-Signature": "abc", "ce_id": "1"},
        "nested": [{"api_key": "k", "accessToken": "t", "kept": 1}],
        "webhookSecret": "s",
    }

    cleaned = strip_secrets(document)

    assert cleaned == {"reason": "x", "originalHeaders": {"ce_id": "1"}, "nested": [{"kept": 1}]}


def test_safe_headers_keep_signature_verdict_only() -> None:
    headers = [
        ("ce_signature", b"verified"),
        ("x-spark-signature", b"0123abcd"),
        ("authorization", b"Bearer t"),
        ("ce_id", b"e-1"),
    ]

    assert safe_headers(headers) == {"ce_signature": "verified", "ce_id": "e-1"}


def test_hide_bodies_replaces_content_fields() -> None:
    payload = {"messageId": "m", "text": "secret plans", "markdown": "**x**", "roomId": "r"}

    hidden = hide_bodies(payload)

    assert hidden == {"messageId": "m", "text": HIDDEN, "markdown": HIDDEN, "roomId": "r"}


def test_hide_bodies_keeps_webhook_data_ids() -> None:
    payload = {"resource": "messages", "data": {"id": "d-1"}}

    assert hide_bodies(payload, webhook=True) == payload


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", NOW - timedelta(minutes=30)),
        ("2h", NOW - timedelta(hours=2)),
        ("7d", NOW - timedelta(days=7)),
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T12:00:00+02:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
    ],
)
def test_parse_time_accepts_iso_and_durations(text: str, expected: datetime) -> None:
    assert parse_time(text, NOW) == expected


def test_parse_time_rejects_other_text() -> None:
    with pytest.raises(TimeRangeError, match="'last tuesday' is invalid"):
        parse_time("last tuesday", NOW)


def test_time_range_rejects_since_after_until() -> None:
    with pytest.raises(TimeRangeError, match="swap them"):
        TimeRange.parse("1h", "2h", NOW)
