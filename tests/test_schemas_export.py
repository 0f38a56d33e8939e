"""``wxstream schemas export``: the published contract validates real payloads."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jsonschema

from schemas.events import ALERT_RAISED, OUTBOUND_REQUESTED, PAYLOAD_MODELS
from schemas.payloads import BackendEvent, OutboundMessage
from tests.processes import WXSTREAM, wxstream_env


def test_schemas_export_writes_every_event_type(tmp_path: Path) -> None:
    result = subprocess.run(
        [*WXSTREAM, "schemas", "export", str(tmp_path / "out")],
        env=wxstream_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    names = {path.name for path in (tmp_path / "out").glob("*.schema.json")}
    for event_type in PAYLOAD_MODELS:
        assert f"{event_type}.schema.json" in names
    assert "envelope.schema.json" in names


def test_schemas_export_validates_encoded_payloads(tmp_path: Path) -> None:
    subprocess.run(
        [*WXSTREAM, "schemas", "export", str(tmp_path)],
        env=wxstream_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    samples = {
        ALERT_RAISED: BackendEvent(to="ops@example.com", subject="Disk full", message="db1"),
        OUTBOUND_REQUESTED: OutboundMessage(message_id="m-1", room_id="room", markdown="**hi**"),
    }

    for event_type, payload in samples.items():
        schema = json.loads((tmp_path / f"{event_type}.schema.json").read_text())
        jsonschema.validate(json.loads(payload.to_json_bytes()), schema)


def test_schemas_export_into_a_file_is_one_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("")

    result = subprocess.run(
        [*WXSTREAM, "schemas", "export", str(target)],
        env=wxstream_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert f"could not write the schemas to {target}" in result.stderr
    assert "Traceback" not in result.stderr
