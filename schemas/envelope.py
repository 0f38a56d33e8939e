"""CloudEvents 1.0 envelope carried in Kafka binary content mode.

The payload is the record value. Each envelope attribute is a ``ce_<name>`` header whose
value is the UTF-8 attribute string, and ``datacontenttype`` travels as the
``content-type`` header, as the CloudEvents Kafka protocol binding specifies. The record
key is the conversation key and is never empty.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

SPEC_VERSION = "1.0"
HEADER_PREFIX = "ce_"
CONTENT_TYPE_HEADER = "content-type"
JSON_CONTENT_TYPE = "application/json"

# Extension attributes that the ingest service sets on every event it appends.
RECEIVED_AT_EXTENSION = "receivedat"  # RFC 3339 time the HTTP request arrived
REQUEST_ID_EXTENSION = "requestid"  # the HTTP request id (X-Request-Id)
SIGNATURE_EXTENSION = "signature"  # webhook signature verdict: "verified" or "unsigned"

# CloudEvents attribute names: lowercase ASCII letters and digits, at most 20 characters.
_ATTRIBUTE_NAME = re.compile(r"^[a-z0-9]{1,20}$")
_CORE_ATTRIBUTES = (
    "id",
    "source",
    "type",
    "specversion",
    "time",
    "subject",
    "dataschema",
    "correlationid",
    "causationid",
)

Headers = Sequence[tuple[str, bytes | str | None]]


class EnvelopeError(ValueError):
    """A record's headers do not form a valid envelope."""


class Envelope(BaseModel):
    """The CloudEvents attributes of one event, plus wxstream's tracing extensions.

    ``correlationid`` is the id of the event that started a chain (an inbound webhook or
    a back-end event); ``causationid`` is the id of the event that directly caused this
    one. ``extensions`` holds further attributes such as the receive time, the request
    id, the signature verdict or a replay id.
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    specversion: str = SPEC_VERSION
    time: datetime
    subject: str | None = None
    datacontenttype: str | None = JSON_CONTENT_TYPE
    dataschema: str | None = None
    correlationid: str | None = None
    causationid: str | None = None
    extensions: dict[str, str] = Field(default_factory=dict)

    @field_validator("specversion")
    @classmethod
    def _check_specversion(cls, value: str) -> str:
        if value != SPEC_VERSION:
            raise ValueError(f"specversion {value!r} is not supported; expected {SPEC_VERSION}")
        return value

    @field_validator("time")
    @classmethod
    def _require_timezone(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("time must carry a timezone")
        return value

    @field_validator("extensions")
    @classmethod
    def _check_extension_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _ATTRIBUTE_NAME.match(name) or name in _CORE_ATTRIBUTES:
                raise ValueError(
                    f"extension name {name!r} is invalid: use 1-20 lowercase letters or "
                    "digits that are not a core attribute name"
                )
        return value

    @classmethod
    def new(
        cls,
        *,
        type: str,
        source: str,
        subject: str | None = None,
        id: str | None = None,
        cause: Envelope | None = None,
        **attributes: object,
    ) -> Envelope:
        """Create an envelope stamped now; ``cause`` sets correlation and causation ids."""
        if cause is not None:
            attributes.setdefault("correlationid", cause.correlationid or cause.id)
            attributes.setdefault("causationid", cause.id)
        return cls(
            id=id or str(uuid.uuid4()),
            source=source,
            type=type,
            time=datetime.now(UTC),
            subject=subject,
            **attributes,  # type: ignore[arg-type]
        )

    def to_headers(self) -> list[tuple[str, bytes]]:
        attributes = {name: getattr(self, name) for name in _CORE_ATTRIBUTES}
        return encode_headers(attributes, self.extensions, self.datacontenttype)

    @classmethod
    def from_headers(cls, headers: Headers | Mapping[str, bytes | str | None] | None) -> Envelope:
        """Parse an envelope from Kafka headers; raises EnvelopeError when invalid."""
        attributes: dict[str, object] = {}
        extensions: dict[str, str] = {}
        content_type: str | None = None
        for name, raw in _iter_headers(headers):
            value = _decode_header(name, raw)
            if name == CONTENT_TYPE_HEADER:
                content_type = value
            elif name.startswith(HEADER_PREFIX):
                attribute = name.removeprefix(HEADER_PREFIX)
                if attribute in _CORE_ATTRIBUTES:
                    attributes[attribute] = value
                else:
                    extensions[attribute] = value
        missing = [name for name in ("id", "source", "type", "time") if name not in attributes]
        if missing:
            raise EnvelopeError("record has no " + ", ".join(HEADER_PREFIX + m for m in missing))
        try:
            return cls(**attributes, datacontenttype=content_type, extensions=extensions)  # type: ignore[arg-type]
        except ValueError as exc:
            raise EnvelopeError(f"record headers are not a valid envelope: {exc}") from exc

    def header(self, name: str) -> str | None:
        """Return an extension attribute by name."""
        return self.extensions.get(name)


def encode_headers(
    attributes: Mapping[str, str | datetime | None],
    extensions: Mapping[str, str],
    datacontenttype: str | None = JSON_CONTENT_TYPE,
) -> list[tuple[str, bytes]]:
    """Return the Kafka headers of an envelope's attributes, without validating them.

    ``attributes`` maps core attribute names to values; a missing or None value is left
    out, and ``specversion`` is always SPEC_VERSION. A time is a datetime or a string
    already in RFC 3339. The core attributes come first in a fixed order, then the
    extensions by name, then the content type. A producer that built or checked every
    value itself may call this directly. Envelope.to_headers calls it too, after the
    model has validated the values.
    """
    headers: list[tuple[str, bytes]] = []
    for name in _CORE_ATTRIBUTES:
        value = SPEC_VERSION if name == "specversion" else attributes.get(name)
        if value is None:
            continue
        text = format_time(value) if isinstance(value, datetime) else value
        headers.append((HEADER_PREFIX + name, text.encode()))
    for name, extension in sorted(extensions.items()):
        headers.append((HEADER_PREFIX + name, extension.encode()))
    if datacontenttype is not None:
        headers.append((CONTENT_TYPE_HEADER, datacontenttype.encode()))
    return headers


def format_time(value: datetime) -> str:
    """Return an RFC 3339 UTC time with microseconds and a ``Z`` suffix."""
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _iter_headers(
    headers: Headers | Mapping[str, bytes | str | None] | None,
) -> Iterable[tuple[str, bytes | str | None]]:
    if headers is None:
        return ()
    if isinstance(headers, Mapping):
        return headers.items()
    return headers


def _decode_header(name: str, raw: bytes | str | None) -> str:
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EnvelopeError(f"header {name!r} is not valid UTF-8") from exc


@dataclass(frozen=True)
class Record:
    """One Kafka record: conversation key, value bytes and headers."""

    key: str
    value: bytes
    headers: list[tuple[str, bytes]]

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("record key is empty; every record is keyed by its conversation")

    @property
    def key_bytes(self) -> bytes:
        return self.key.encode()


def build_record(envelope: Envelope, key: str, value: bytes) -> Record:
    """Combine an envelope, its conversation key and payload bytes into a record."""
    return Record(key=key, value=value, headers=envelope.to_headers())
