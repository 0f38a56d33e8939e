"""A periodic check of the bot's webhooks that sets disabled ones active again.

Webex disables a webhook after 100 failed deliveries within 5 minutes and never enables
it by itself. The leader worker lists the webhooks every
``WXSTREAM_WEBHOOK_CHECK_INTERVAL_SECONDS`` and reactivates an inactive one no sooner than
5 minutes after it first saw it inactive, logging a WARNING and counting it.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter

from processors.context import WorkerContext
from processors.webex import WebexError
from wxstream.webhooks import Reactivator

logger = logging.getLogger(__name__)

WEBHOOKS_REACTIVATED = Counter(
    "wxstream_webhooks_reactivated_total",
    "Webhooks found inactive and set active again by the worker",
)


def register(context: WorkerContext) -> None:
    secret = context.settings.webhook_secret
    reactivator = Reactivator(secret.get_secret_value() if secret else None)

    @context.app.timer(context.settings.webhook_check_interval_seconds, on_leader=True)
    async def check_webhooks() -> None:
        try:
            reactivated = await reactivator.check(context.webex())
        except WebexError as exc:
            logger.warning("could not check the webhooks: %s", exc)
            return
        WEBHOOKS_REACTIVATED.inc(len(reactivated))
