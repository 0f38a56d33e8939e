"""``wxstream audit``: a chain from webhook to delivery, complete and in order, bodies hidden."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest

from schemas.topics import TopicCatalog
from tests.audit_support import (
    BODY_TEXT,
    REPLY_TEXT,
    Chain,
    LogWriter,
    cli_env,
    outbound_request,
    utc,
    write_chain,
)
from wxstream.cli import main

START = utc(2024, 5, 1, 12)


@pytest.fixture
def env(
    kafka_bootstrap: str, catalog: TopicCatalog, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LogWriter]:
    for name, value in cli_env(kafka_bootstrap, catalog).items():
        monkeypatch.setenv(name, value)
    yield LogWriter(kafka_bootstrap, catalog)


def _room() -> str:
    return f"room-{uuid.uuid4().hex[:8]}"


def _audit(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[str, str]:
    capsys.readouterr()
    assert main(["audit", *args]) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


def _jsonl(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines()]


def _write_chain_with_noise(writer: LogWriter) -> Chain:
    room = _room()
    chain = write_chain(writer, room, START)
    for index in range(5):
        outbound_request(writer, _room(), START + timedelta(seconds=index))
    writer.flush()
    return chain


def test_audit_jsonl_shows_chain_complete_and_in_order(
    env: LogWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    chain = _write_chain_with_noise(env)

    out, _ = _audit(capsys, "--room", chain.room_id, "--format", "jsonl")

    entries = _jsonl(out)
    assert [entry["kind"] for entry in entries] == [
        "webhook",
        "message",
        "outbound",
        "attempt",
        "attempt",
    ]
    assert entries[0]["id"] == chain.webhook.id
    assert all(entry["correlationId"] == chain.webhook.id for entry in entries[1:])
    assert entries[2]["messageId"] == chain.message_id
    assert [entry["outcome"] for entry in entries[3:]] == ["retrying", "delivered"]
    assert entries[4]["statusCode"] == 200
    assert entries[4]["latencyMs"] == 42.5
    assert entries[4]["trackingId"] == "track-2"
    assert entries[4]["webexMessageId"] == f"webex-{chain.message_id[:8]}"
    assert [entry["time"] for entry in entries] == sorted(str(e["time"]) for e in entries)


def test_audit_table_lists_chain_in_time_order(
    env: LogWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    chain = _write_chain_with_noise(env)

    out, err = _audit(capsys, "--room", chain.room_id)

    header, *lines = out.splitlines()
    assert header == f"conversation: {chain.room_id}"
    assert lines[0].split() == ["TIME", "TOPIC", "KIND", "EVENT", "CAUSE", "DETAILS"]
    kinds = [line.split()[2] for line in lines[1:]]
    assert kinds == ["webhook", "message", "outbound", "attempt", "attempt"]
    assert "outcome=delivered" in lines[-1]
    assert "trackingId=track-2" in lines[-1]
    assert all(line[25:26] == " " for line in lines), "the TIME column is not aligned"
    assert "5 entries" in err


def test_audit_table_shows_whole_short_ids(
    env: LogWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    chain = _write_chain_with_noise(env)

    out, _ = _audit(capsys, "--room", chain.room_id)

    webhook_row = out.splitlines()[2]
    assert webhook_row.split()[3] == chain.webhook.id
    assert f"key={chain.room_id}" not in out


def test_audit_correlation_id_selects_one_chain(
    env: LogWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    room = _room()
    first = write_chain(env, room, START)
    write_chain(env, room, START + timedelta(minutes=1))
    env.flush()

    out, _ = _audit(capsys, "--correlation-id", first.webhook.id, "--format", "jsonl")

    entries = _jsonl(out)
    assert len(entries) == 5
    assert {entry["correlationId"] for entry in entries[1:]} == {first.webhook.id}


def test_audit_message_id_selects_one_outbound_message(
    env: LogWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    room = _room()
    chain = write_chain(env, room, START, outcomes=("retrying", "retrying", "dead-lettered"))
    write_chain(env, room, START + timedelta(minutes=1))
    env.flush()

    out, _ = _audit(capsys, "--message-id", chain.message_id, "--format", "jsonl")

    entries = _jsonl(out)
    assert [entry["kind"] for entry in entries] == [
        "outbound",
        "attempt",
        "attempt",
        "attempt",
        "dead-letter",
    ]
    assert entries[-1]["reason"] == "retries exhausted: POST /messages returned 503"
    assert entries[-1]["trackingId"] == "track-dead"


def test_audit_hides_bodies_by_default(env: LogWriter, capsys: pytest.CaptureFixture[str]) -> None:
    chain = _write_chain_with_noise(env)

    table, _ = _audit(capsys, "--room", chain.room_id)
    jsonl, _ = _audit(capsys, "--room", chain.room_id, "--format", "jsonl")

    for output in (table, jsonl):
        assert BODY_TEXT not in output
        assert REPLY_TEXT not in output
    message = _jsonl(jsonl)[1]
    assert message["payload"]["text"] == "[hidden]"  # type: ignore[index]


def test_audit_include_bodies_shows_them(
    env: LogWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    chain = _write_chain_with_noise(env)

    table, _ = _audit(capsys, "--room", chain.room_id, "--include-bodies")
    jsonl, _ = _audit(capsys, "--room", chain.room_id, "--format", "jsonl", "--include-bodies")

    for output in (table, jsonl):
        assert BODY_TEXT in output
        assert REPLY_TEXT in output


def test_audit_never_shows_secrets(env: LogWriter, capsys: pytest.CaptureFixture[str]) -> None:
    chain = _write_chain_with_noise(env)

    table, _ = _audit(capsys, "--room", chain.room_id, "--include-bodies")
    jsonl, _ = _audit(capsys, "--room", chain.room_id, "--format", "jsonl", "--include-bodies")

    for output in (table, jsonl):
        assert "do-not-show-this" not in output
        assert "authorization" not in output.lower()
    webhook = _jsonl(jsonl)[0]
    assert webhook["extensions"]["signature"] == "verified"  # type: ignore[index]


def test_audit_time_range_reads_only_the_range(
    env: LogWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    room = _room()
    for day in range(30):
        write_chain(env, room, START + timedelta(days=day))
    env.flush()
    since = (START + timedelta(days=10)).isoformat()
    until = (START + timedelta(days=11, hours=-1)).isoformat()

    out, err = _audit(
        capsys, "--room", room, "--since", since, "--until", until, "--format", "jsonl"
    )

    entries = _jsonl(out)
    assert len(entries) == 5
    assert entries[0]["time"].startswith("2024-05-11")  # type: ignore[union-attr]
    # 5 records per chain are spread over topics; the read covers one day of 30.
    assert "from 5 records read" in err


def test_audit_rejects_query_without_selection(
    env: LogWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "--since", "2h"]) == 1
    assert "give --room, --person" in capsys.readouterr().err


def test_audit_rejects_invalid_time(env: LogWriter, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--room", "r", "--since", "yesterday"]) == 1
    assert "time 'yesterday' is invalid" in capsys.readouterr().err


def test_audit_help_describes_output_and_time_forms(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["audit", "--help"])

    text = " ".join(capsys.readouterr().out.split())
    assert "in time order, every record" in text
    assert "ISO 8601" in text
    assert "30m, 2h, 7d" in text
