"""Redriving inbound dead letters and selecting deliveries by status, read from the log."""

from __future__ import annotations

import json
import socket
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
from wxstream.sim.server import SimulatorServer


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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_replay_inbound_unknown_bot_names_lookup(
    writer: LogWriter, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _free_port()
    monkeypatch.delenv("WXSTREAM_WEBEX_TOKEN", raising=False)
    monkeypatch.setenv("WXSTREAM_SIM_PORT", str(port))

    assert main(["replay", "inbound", "--sandbox", "--since", "1h"]) == 1

    error = " ".join(capsys.readouterr().err.split())
    assert "the bot identity is unknown" in error
    assert f"curl -s http://127.0.0.1:{port}/_sim/bot" in error
    assert "/people/me" in error
    assert "--bot-id and --bot-name" in error


def test_replay_inbound_reads_bot_from_simulator(
    writer: LogWriter, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WXSTREAM_WEBEX_TOKEN", raising=False)
    with SimulatorServer(token="sandbox-bot-token", bot_name="Sandbox Bot") as sim:
        monkeypatch.setenv("WXSTREAM_SIM_PORT", str(sim.port))
        room = f"room-{uuid.uuid4().hex[:8]}"

        code = main(["replay", "inbound", "--sandbox", "--room", room, "--since", "1h"])
        out, err = capsys.readouterr()

    assert code == 0, err
    assert "0 inputs" in out
    assert f"sandbox: bot 'Sandbox Bot' with id {sim.bot['id']}" in err
    assert "sandbox-bot-token" not in out + err


def test_replay_help_describes_actions_and_time_forms(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["replay", "--help"])

    text = " ".join(capsys.readouterr().out.split())
    assert "redrives dead letters" in text
    assert "ISO 8601" in text
    assert "30m, 2h, 7d" in text
