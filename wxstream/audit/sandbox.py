"""Re-run the current routing and command logic over past inputs, without side effects.

The sandbox reads enriched inputs from ``webex.messages`` (received messages, card
submissions, bot additions) and back-end events from ``backend.events``. It decides the
reply to each with today's :class:`processors.routing.Router` and alert rules. Then it
compares that reply with the ``outbound.messages`` records the bot actually wrote for
the input, which are those whose causation id is the input's event id. It sends nothing
to Webex and writes nothing to Kafka: the enriched messages in the log stand in for the Webex
reads the enricher made, and the bot's identity is given by the caller.

Replies are built by :func:`processors.replies.reply_for`, the function the command
router agent uses, so the sandbox and the agent cannot drift apart.
"""

from __future__ import annotations

import difflib
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from processors.alerts import AlertRouteError, alert_message
from processors.replies import reply_for
from processors.routing import Bot, Router
from schemas.envelope import Envelope, EnvelopeError
from schemas.events import (
    ALERT_RAISED,
    BOT_ADDED,
    CARD_SUBMITTED,
    MESSAGE_RECEIVED,
    EventDecodeError,
    decode_payload,
    model_for,
)
from schemas.payloads import BackendEvent, BotAdded, CardSubmitted, OutboundMessage, ReceivedMessage
from schemas.topics import Topic
from wxstream.audit.logreader import LogReader, LogRecord
from wxstream.audit.timeline import Selector, parse_value
from wxstream.audit.timerange import TimeRange, from_millis

# Replies are looked for this long after the end of the input range, because the bot
# writes a reply some time after the input it answers.
REPLY_GRACE_MS = 15 * 60 * 1000
INPUT_TOPICS = (Topic.WEBEX_MESSAGES, Topic.BACKEND_EVENTS)
ROUTED_TYPES = frozenset({MESSAGE_RECEIVED, CARD_SUBMITTED, BOT_ADDED})


@dataclass(frozen=True)
class ReplyView:
    """The parts of an outbound message that a diff compares."""

    destination: str
    parent_id: str | None
    markdown: str | None
    text: str | None
    attachments: str | None

    @classmethod
    def of(cls, message: dict[str, Any]) -> ReplyView:
        destination = (
            message.get("roomId") or message.get("toPersonEmail") or message.get("toPersonId")
        )
        attachments = message.get("attachments")
        return cls(
            destination=str(destination or ""),
            parent_id=message.get("parentId"),
            markdown=message.get("markdown"),
            text=message.get("text"),
            attachments=json.dumps(attachments, sort_keys=True) if attachments else None,
        )

    def lines(self) -> list[str]:
        lines = [f"to: {self.destination}"]
        if self.parent_id:
            lines.append(f"thread: {self.parent_id}")
        if self.markdown is not None:
            lines += ["markdown:", *self.markdown.splitlines()]
        if self.text is not None:
            lines += ["text:", *self.text.splitlines()]
        if self.attachments:
            lines.append(f"card: {self.attachments}")
        return lines


@dataclass
class InputOutcome:
    """One past input, the replies the bot sent to it and the replies it sends now."""

    key: str
    event_id: str
    event_type: str
    time: datetime
    reason: str
    input_text: str | None = None
    actual: list[ReplyView] = field(default_factory=list)
    replayed: list[ReplyView] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.actual != self.replayed

    def diff(self) -> list[str]:
        before = [line for view in self.actual for line in view.lines()]
        after = [line for view in self.replayed for line in view.lines()]
        return list(
            difflib.unified_diff(before, after, "sent", "now", lineterm="", n=max(len(before), 3))
        )[2:]

    def to_json(self, *, include_bodies: bool) -> dict[str, Any]:
        document: dict[str, Any] = {
            "key": self.key,
            "eventId": self.event_id,
            "type": self.event_type,
            "time": self.time.isoformat(timespec="milliseconds"),
            "changed": self.changed,
            "reason": self.reason,
            "diff": self.diff(),
        }
        if include_bodies and self.input_text is not None:
            document["input"] = self.input_text
        return document


class Sandbox:
    """Decides replies with the given router and bot identity; has no outputs."""

    def __init__(self, router: Router, bot: Bot) -> None:
        self.router = router
        self.bot = bot

    async def decide(self, envelope: Envelope, payload: Any) -> tuple[OutboundMessage | None, str]:
        """Return the message the bot would write now for one input, and why."""
        if isinstance(payload, ReceivedMessage):
            decision = await self.router.answer_message(payload, self.bot)
        elif isinstance(payload, CardSubmitted):
            decision = await self.router.answer_card(payload, self.bot)
        elif isinstance(payload, BotAdded):
            decision = self.router.welcome(payload, self.bot)
        elif isinstance(payload, BackendEvent):
            return self._alert(envelope, payload)
        else:
            return None, f"event type {envelope.type} is not routed"
        if decision.reply is None:
            return None, decision.reason
        return reply_for(envelope, payload, decision.reply), decision.reason

    def _alert(self, envelope: Envelope, event: BackendEvent) -> tuple[OutboundMessage | None, str]:
        if envelope.type != ALERT_RAISED and not event.to:
            return None, "back-end event without 'to' is not routed"
        try:
            return alert_message(envelope.id, event), "alert routed"
        except (AlertRouteError, ValueError) as exc:
            return None, f"alert not routable: {exc}"


@dataclass
class SandboxReport:
    """The outcome of every input, by conversation, and what was read."""

    outcomes: list[InputOutcome]
    records_read: int = 0

    @property
    def changed(self) -> list[InputOutcome]:
        return [outcome for outcome in self.outcomes if outcome.changed]

    def by_conversation(self) -> dict[str, list[InputOutcome]]:
        grouped: dict[str, list[InputOutcome]] = defaultdict(list)
        for outcome in sorted(self.outcomes, key=lambda item: item.time):
            grouped[outcome.key].append(outcome)
        return dict(grouped)


def _decode_input(record: LogRecord) -> tuple[Envelope, Any] | None:
    try:
        envelope = Envelope.from_headers(record.headers)
    except EnvelopeError:
        return None
    if record.topic is Topic.WEBEX_MESSAGES and envelope.type not in ROUTED_TYPES:
        return None
    try:
        model = BackendEvent if record.topic is Topic.BACKEND_EVENTS else model_for(envelope.type)
        return envelope, decode_payload(envelope, record.value, model)
    except EventDecodeError:
        return None


def _input_text(payload: Any) -> str | None:
    if isinstance(payload, ReceivedMessage):
        return payload.text
    if isinstance(payload, BackendEvent):
        return payload.subject
    return None


def read_actual_replies(
    reader: LogReader, selector: Selector, time_range: TimeRange, causes: set[str]
) -> dict[str, dict[str, ReplyView]]:
    """Return, by input event id, the outbound messages the bot wrote for it, by message id."""
    until_ms = time_range.until_ms + REPLY_GRACE_MS if time_range.until_ms else None
    replies: dict[str, dict[str, ReplyView]] = defaultdict(dict)
    for record in reader.read(
        (Topic.OUTBOUND_MESSAGES,),
        since_ms=time_range.since_ms,
        until_ms=until_ms,
        keys=selector.key_bytes,
    ):
        cause = record.header("ce_causationid")
        if cause not in causes:
            continue
        payload = parse_value(record.value)
        if payload is not None:
            message_id = str(payload.get("messageId"))
            replies[cause].setdefault(message_id, ReplyView.of(payload))
    return replies


async def run_sandbox(
    reader: LogReader, sandbox: Sandbox, selector: Selector, time_range: TimeRange
) -> SandboxReport:
    """Re-decide every input in the selection and pair it with what was sent."""
    outcomes: list[InputOutcome] = []
    for record in reader.read(
        INPUT_TOPICS,
        since_ms=time_range.since_ms,
        until_ms=time_range.until_ms,
        keys=selector.key_bytes,
    ):
        if not selector.matches(record)[0]:
            continue
        decoded = _decode_input(record)
        if decoded is None:
            continue
        envelope, payload = decoded
        message, reason = await sandbox.decide(envelope, payload)
        outcomes.append(
            InputOutcome(
                key=record.key_text or "",
                event_id=envelope.id,
                event_type=envelope.type,
                time=from_millis(record.timestamp_ms),
                reason=reason,
                input_text=_input_text(payload),
                replayed=[ReplyView.of(_json(message))] if message is not None else [],
            )
        )
    read = reader.stats.read

    actual = read_actual_replies(
        reader, selector, time_range, {outcome.event_id for outcome in outcomes}
    )
    for outcome in outcomes:
        outcome.actual = list(actual.get(outcome.event_id, {}).values())
    return SandboxReport(outcomes, read + reader.stats.read)


def _json(message: OutboundMessage) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(message.to_json_bytes())
    return document


def render_report(
    report: SandboxReport, *, include_bodies: bool = False, only_changed: bool = False
) -> Iterable[str]:
    """Yield the lines of the per-conversation diff and a summary line."""
    for key, outcomes in report.by_conversation().items():
        shown = [outcome for outcome in outcomes if outcome.changed or not only_changed]
        if not shown:
            continue
        yield f"conversation {key}"
        for outcome in shown:
            state = "CHANGED" if outcome.changed else "same"
            line = (
                f"  {outcome.time.isoformat(timespec='seconds')} {outcome.event_type} "
                f"{outcome.event_id}: {state} ({outcome.reason})"
            )
            if include_bodies and outcome.input_text:
                line += f" input={outcome.input_text!r}"
            yield line
            for diff_line in outcome.diff() if outcome.changed else ():
                yield f"    {diff_line}"
    yield (
        f"sandbox: {len(report.outcomes)} inputs, {len(report.changed)} with changed replies, "
        f"{report.records_read:,} records read; nothing was sent"
    )
