"""The enricher agent: Webex callbacks from ``webex.webhooks`` to events on ``webex.messages``.

A callback carries ids only, so the enricher fetches the message or the card action and
writes it as a received-message or card-submitted event. The bot joining a room becomes a
bot-added event. Callbacks are deduplicated on ``(resource, event, data.id)`` in a
changelogged table that remembers each key for two days, so a redelivered callback, or
one event seen by two overlapping webhooks, is processed once. A record that cannot be
decoded or fetched goes to ``inbound.dead-letter`` with the reason; nothing escapes the
stream loop.
"""

from __future__ import annotations

import logging
from typing import Any

from faust.types import EventT, StreamT

from processors.changelogs import verify_changelog_partitions
from processors.context import BotIdentity, WorkerContext, event_headers
from processors.dedup import SeenKeys, seen_table
from processors.enrichment import (
    Action,
    IncompleteEventError,
    bot_added,
    card_submitted,
    enriched_event_id,
    plan,
    received_message,
    require_fields,
)
from processors.fetching import FetchFailed, fetch_with_retry
from processors.guard import guarded
from processors.mentions import same_person
from processors.pipeline import OrderedPipeline, Outbox
from processors.webex import WebexError
from schemas.conversation import conversation_key
from schemas.envelope import SIGNATURE_EXTENSION, Envelope
from schemas.events import (
    BOT_ADDED,
    CARD_SUBMITTED,
    MESSAGE_RECEIVED,
    SOURCE_WORKER,
    WEBHOOK_TYPE_PREFIX,
    EventDecodeError,
    decode_headers,
    decode_payload,
    encode_event,
)
from schemas.payloads import BotAdded, CardSubmitted, ReceivedMessage, WebhookNotification
from schemas.topics import Topic

logger = logging.getLogger(__name__)

ACCEPTED_SIGNATURES = frozenset({"verified", "unsigned"})


class Enricher:
    """Turns one callback record into an enriched event, for the enricher agent."""

    def __init__(self, context: WorkerContext, seen: SeenKeys) -> None:
        self.context = context
        self.seen = seen

    async def process(self, event: EventT, outbox: Outbox) -> None:
        decoded = await self._decode(event, outbox)
        if decoded is None:
            return
        envelope, notification = decoded
        dedup_key = notification.dedup_key
        if self.seen.seen(dedup_key):
            logger.info("skipped duplicate callback %s (event %s)", dedup_key, envelope.id)
            return

        try:
            bot = await fetch_with_retry(
                "GET /people/me", self.context.bot_identity, governor=self.context.governor()
            )
            enriched = await self._enrich(notification, bot)
        except FetchFailed as exc:
            await _dead_letter(outbox, event, envelope, str(exc), "fetch", exc.error)
            return
        except IncompleteEventError as exc:
            await _dead_letter(outbox, event, envelope, str(exc), "enrich", None)
            return

        if enriched is not None:
            event_type, payload = enriched
            await self._emit(outbox, envelope, notification, event_type, payload)
        self.seen.claim(dedup_key, outbox)

    async def _decode(
        self, event: EventT, outbox: Outbox
    ) -> tuple[Envelope, WebhookNotification] | None:
        try:
            envelope = decode_headers(event_headers(event))
        except EventDecodeError as exc:
            await outbox.dead_letter(
                Topic.INBOUND_DEAD_LETTER, event, reason=str(exc), stage="decode"
            )
            return None
        reason = _rejection(envelope)
        if reason is None:
            try:
                return envelope, decode_payload(envelope, event.value, WebhookNotification)
            except EventDecodeError as exc:
                reason = str(exc)
        await outbox.dead_letter(
            Topic.INBOUND_DEAD_LETTER, event, reason=reason, stage="decode", cause=envelope
        )
        return None

    async def _enrich(
        self, notification: WebhookNotification, bot: BotIdentity
    ) -> tuple[str, ReceivedMessage | CardSubmitted | BotAdded] | None:
        decision = plan(
            notification, bot.id, allow_bot_messages=self.context.settings.allow_bot_messages
        )
        if decision.action in (Action.DROP, Action.KEEP_IN_LOG):
            logger.info("%s: %s, kept in the log only", notification.dedup_key, decision.reason)
            return None
        if decision.action is Action.BOT_ADDED:
            added = bot_added(notification)
            require_fields(added)
            return BOT_ADDED, added
        if decision.action is Action.FETCH_CARD_ACTION:
            return CARD_SUBMITTED, await self._fetch_card(notification)
        return await self._fetch_message(notification, bot)

    async def _fetch_message(
        self, notification: WebhookNotification, bot: BotIdentity
    ) -> tuple[str, ReceivedMessage] | None:
        webex = self.context.webex()
        message_id = notification.data.id
        body = await fetch_with_retry(
            f"GET /messages/{message_id}",
            lambda: webex.get_message(message_id),
            governor=self.context.governor(),
        )
        message = received_message(body, notification)
        if same_person(message.person_id, bot.id):
            logger.info("%s: the bot's own message, kept in the log only", notification.dedup_key)
            return None
        require_fields(message)
        return MESSAGE_RECEIVED, message

    async def _fetch_card(self, notification: WebhookNotification) -> CardSubmitted:
        webex = self.context.webex()
        action_id = notification.data.id
        action = await fetch_with_retry(
            f"GET /attachment/actions/{action_id}",
            lambda: webex.get_attachment_action(action_id),
            governor=self.context.governor(),
        )
        person_id = str(action.get("personId") or notification.data.person_id or "")
        person = None
        if person_id:
            person = await fetch_with_retry(
                f"GET /people/{person_id}",
                lambda: webex.get_person(person_id),
                governor=self.context.governor(),
            )
        card = card_submitted(action, notification, person)
        require_fields(card)
        return card

    async def _emit(
        self,
        outbox: Outbox,
        cause: Envelope,
        notification: WebhookNotification,
        event_type: str,
        payload: ReceivedMessage | CardSubmitted | BotAdded,
    ) -> None:
        email = getattr(payload, "person_email", None)
        key = conversation_key(room_id=payload.room_id, person_email=email)
        envelope = Envelope.new(
            type=event_type,
            source=SOURCE_WORKER,
            subject=key,
            id=enriched_event_id(notification),
            cause=cause,
        )
        await outbox.send(Topic.WEBEX_MESSAGES, encode_event(envelope, key, payload))
        logger.info(
            "enriched %s into %s %s (correlation %s)",
            notification.dedup_key,
            event_type,
            envelope.id,
            envelope.correlationid,
        )


async def _dead_letter(
    outbox: Outbox,
    event: EventT,
    envelope: Envelope,
    reason: str,
    stage: str,
    error: WebexError | None,
) -> None:
    details: dict[str, Any] = {}
    if error is not None:
        details = {
            "status_code": error.status_code,
            "error_body": error.body[:2000] if error.body else None,
            "tracking_id": error.tracking_id,
        }
    await outbox.dead_letter(
        Topic.INBOUND_DEAD_LETTER, event, reason=reason, stage=stage, cause=envelope, **details
    )


def _rejection(envelope: Envelope) -> str | None:
    """Return why a record is not a callback this enricher accepts, or None if it is."""
    if not envelope.type.startswith(WEBHOOK_TYPE_PREFIX):
        return f"event type {envelope.type!r} is not a Webex callback ({WEBHOOK_TYPE_PREFIX}*)"
    verdict = envelope.header(SIGNATURE_EXTENSION)
    if verdict is not None and verdict not in ACCEPTED_SIGNATURES:
        return f"signature verdict {verdict!r} is neither verified nor unsigned"
    return None


def register(context: WorkerContext) -> None:
    """Define the enricher agent and its deduplication table."""
    seen = seen_table(
        context,
        "enricher-dedup",
        help="Webex callbacks already enriched, by (resource, event, data.id).",
    )
    enricher = Enricher(context, SeenKeys(seen))
    pipeline = OrderedPipeline(
        context,
        guarded(enricher.process, stage="enrich"),
        capacity=context.settings.worker_max_pending_events,
        concurrency=context.settings.worker_max_fetches,
    )

    @context.app.agent(context.topic(Topic.WEBEX_WEBHOOKS), name="enricher")
    async def enrich(stream: StreamT) -> None:
        await verify_changelog_partitions(context, seen, [Topic.WEBEX_WEBHOOKS])
        await pipeline.consume(stream)
