"""Kafka records built from corpus items, to pre-fill topics the way wxstream writes them."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator

from bench.corpus import AlertItem, Corpus
from schemas.conversation import conversation_key
from schemas.envelope import Envelope, Record
from schemas.events import ALERT_RAISED, OUTBOUND_REQUESTED, SOURCE_INGEST, encode_event
from schemas.payloads import BackendEvent, OutboundMessage

BENCH_ID = re.compile(r"wxb-[0-9a-f]{4}-\d{7}")
MESSAGE_ID_NAMESPACE = uuid.UUID("9f5c3b0e-2d7a-4e61-8b4f-6a1d2c3e4f50")
BENCH_SOURCE = "wxstream/bench"


def bench_ids_in(texts: Iterable[str | None]) -> list[str]:
    """Return the bench id found in each text, skipping texts without one."""
    found = []
    for text in texts:
        match = BENCH_ID.search(text or "")
        if match:
            found.append(match.group(0))
    return found


def alert_text(item: AlertItem) -> str:
    return f"{item.subject}\n\n{item.message}"


def outbound_records(corpus: Corpus, count: int) -> Iterator[Record]:
    """Outbound messages to the alerts' recipients, as the alert router writes them."""
    for item in corpus.alerts(count):
        key = conversation_key(person_email=item.to)
        message = OutboundMessage(
            message_id=str(uuid.uuid5(MESSAGE_ID_NAMESPACE, item.bench_id)),
            to_person_email=item.to,
            text=alert_text(item),
        )
        envelope = Envelope.new(
            type=OUTBOUND_REQUESTED, source=BENCH_SOURCE, subject=key, id=message.message_id
        )
        yield encode_event(envelope, key, message)


def alert_records(corpus: Corpus, count: int) -> Iterator[Record]:
    """Alert events on backend.events, as ingest appends them for ``POST /api/v1/alert``."""
    for item in corpus.alerts(count):
        key = conversation_key(person_email=item.to)
        event = BackendEvent(to=item.to, subject=item.subject, message=item.message)
        envelope = Envelope.new(type=ALERT_RAISED, source=SOURCE_INGEST, subject=key)
        yield encode_event(envelope, key, event)
