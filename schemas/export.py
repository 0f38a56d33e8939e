"""JSON Schema export of every event type, the published contract for Kafka producers."""

from __future__ import annotations

import json
from pathlib import Path

from schemas.envelope import Envelope
from schemas.events import PAYLOAD_MODELS
from schemas.payloads import WebhookNotification

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def event_schemas() -> dict[str, dict[str, object]]:
    """Return a JSON Schema per event type, plus the envelope and the webhook body."""
    schemas: dict[str, dict[str, object]] = {}
    for event_type, model in PAYLOAD_MODELS.items():
        schema = model.model_json_schema(by_alias=True, mode="validation")
        schema["$schema"] = SCHEMA_DIALECT
        schema["$id"] = f"urn:wxstream:schema:{event_type}"
        schema["description"] = (
            f"Payload (Kafka record value) of events of type {event_type}. "
            + (model.__doc__ or "").strip().splitlines()[0]
        )
        schemas[event_type] = schema
    webhook = WebhookNotification.model_json_schema(by_alias=True)
    webhook["$schema"] = SCHEMA_DIALECT
    webhook["$id"] = "urn:wxstream:schema:com.webex.webhook"
    schemas["com.webex.webhook"] = webhook
    envelope = Envelope.model_json_schema()
    envelope["$schema"] = SCHEMA_DIALECT
    envelope["$id"] = "urn:wxstream:schema:envelope"
    envelope["description"] = (
        "CloudEvents attributes; on Kafka each is a ce_<name> header, extensions included, "
        "and datacontenttype is the content-type header."
    )
    schemas["envelope"] = envelope
    return schemas


def export_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in event_schemas().items():
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
