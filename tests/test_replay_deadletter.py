"""Redriving inbound dead letters and selecting deliveries by status, read from the log."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from schemas.envelope import Envelope
from schemas.events import INBOUND_DEAD_LETTERED, SOURCE_WORKER, encode_event
from schemas.payloads import DeadLetter
from schemas.topics import Topic, TopicCatalog
from tests.audit_support import LogWriter, cli_env, webhook_body, write_chain
from tests.kafka_harness import read_topic
from wxstream.cli import main


@pytest.fixture
def writer(
    kafka_bootstrap: str, catalog: TopicCatalog, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LogWriter]:
    for name, value in cli_env(kafka_bootstrap, catalog).items():
        monkeypatch.setenv(name, value)
    yield LogWriter(kafka_bootstrap, catalog)


def _inbound_dead_letter(writer: LogWriter, room: str, source_topic: str) -> Envelope:
    """Write a webhook's dead letter the way the enricher does when a fetch fails."""
    body = webhook_body(room, f"msg-{uuid.uuid4().hex[:6]}", "ann@example.com")
    original = Envelope.new(
        type="com.webex.messages.created", source="wxstream/ingest", subject=room, id=body["id"]
    )
    dead_letter = DeadLetter(
        reason="GET /messages/{id} returned 503 after 3 attempts",
        stage="fetch",
        source_topic=source_topic,
        source_partition=0,
        source_offset=7,
        original_key=room,
        original_value=json.dumps(body),
        original_headers={name: value.decode() for name, value in original.to_headers()},
        status_code=503,
    )
    envelope = Envelope.new(
        type=INBOUND_DEAD_LETTERED, source=SOURCE_WORKER, subject=room, cause=original
    )
    writer.write(Topic.INBOUND_DEAD_LETTER, encode_event(envelope, room, dead_letter))
    writer.flush()
    return original


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert main(list(args)) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def test_redrive_inbound_returns_event_to_source_topic(
    writer: LogWriter,
    catalog: TopicCatalog,
    kafka_bootstrap: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    room = f"room-{uuid.uuid4().hex[:8]}"
    original = _inbound_dead_letter(writer, room, catalog.name(Topic.WEBEX_WEBHOOKS))

    _run(capsys, "replay", "dead-letter", "--kind", "inbound", "--room", room, "--operator", "fay")

    records = read_topic(kafka_bootstrap, catalog.name(Topic.WEBEX_WEBHOOKS))
    assert len(records) == 1
    record = records[0]
    assert record.key == room.encode()
    assert json.loads(record.value or b"")["data"]["roomId"] == room
    assert record.header("ce_id") == original.id.encode()
    assert record.header("ce_replayedby") == b"fay"
    assert record.header("ce_replayid")
    assert record.header("ce_replayedat")
    origin = json.loads(record.header("ce_replayorigin") or b"")
    assert origin["topic"] == catalog.name(Topic.INBOUND_DEAD_LETTER)
    assert origin["eventId"]


def test_redrive_dry_run_writes_nothing(
    writer: LogWriter,
    catalog: TopicCatalog,
    kafka_bootstrap: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    room = f"room-{uuid.uuid4().hex[:8]}"
    _inbound_dead_letter(writer, room, catalog.name(Topic.WEBEX_WEBHOOKS))

    out = _run(capsys, "replay", "dead-letter", "--room", room, "--dry-run")

    assert "would send" in out
    assert read_topic(kafka_bootstrap, catalog.name(Topic.WEBEX_WEBHOOKS)) == []


def test_redrive_skips_foreign_source_topic(
    writer: LogWriter,
    catalog: TopicCatalog,
    kafka_bootstrap: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    room = f"room-{uuid.uuid4().hex[:8]}"
    _inbound_dead_letter(writer, room, "someone.elses.topic")

    out = _run(capsys, "replay", "dead-letter", "--room", room)

    assert "is not an inbound topic of this catalog" in out
    assert read_topic(kafka_bootstrap, catalog.name(Topic.WEBEX_WEBHOOKS)) == []


def test_replay_deliveries_status_filter_selects_dead_lettered(
    writer: LogWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    room = f"room-{uuid.uuid4().hex[:8]}"
    start = datetime.now(UTC) - timedelta(minutes=5)
    write_chain(writer, room, start, outcomes=("delivered",))
    write_chain(writer, room, start + timedelta(seconds=10), outcomes=("retrying",))
    dead = write_chain(
        writer, room, start + timedelta(seconds=20), outcomes=("retrying", "dead-lettered")
    )
    writer.flush()

    out = _run(
        capsys,
        *("replay", "deliveries", "--room", room, "--since", "10m"),
        *("--status", "dead-lettered", "--dry-run", "--format", "json"),
    )

    result = json.loads(out)
    assert result["dryRun"] is True
    assert [item["messageId"] for item in result["items"]] == [dead.message_id]
    assert result["items"][0]["status"] == "dead-lettered"


def test_replay_deliveries_without_selection_is_rejected(
    writer: LogWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", "deliveries"]) == 1
    assert "no selection" in capsys.readouterr().err


def test_replay_inbound_requires_sandbox(
    writer: LogWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", "inbound", "--since", "1h"]) == 1
    assert "add --sandbox" in capsys.readouterr().err
