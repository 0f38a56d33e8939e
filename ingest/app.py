"""The ingest application: ``create_app(settings)`` and its lifespan.

The service appends each webhook, alert, back-end event and message request to Kafka
and responds only after the broker acknowledged the append. It does no other work.
Start-up fails with SettingsError when WXSTREAM_API_TOKEN is unset, or when
WXSTREAM_WEBHOOK_SECRET is unset without WXSTREAM_ALLOW_UNSIGNED_WEBHOOKS.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic import SecretStr
from starlette.types import ASGIApp

from ingest import admin, alerts, events, health, messages, webhooks
from ingest.contract import install_openapi
from ingest.direct import DirectRoutes
from ingest.errors import install_error_handlers
from ingest.idempotency import IdempotencyCache
from ingest.metrics import IngestMetrics
from ingest.middleware import RequestContextMiddleware
from ingest.producer import DurableProducer
from ingest.rejections import RejectionLog
from ingest.state import IngestState
from schemas.topics import catalog_from_settings
from wxstream.settings import ENV_PREFIX, Settings, SettingsError

logger = logging.getLogger(__name__)

API_VERSION = "1.0.0"
MIN_SECRET_CHARS = 16
SECRET_SETTINGS = ("api_token", "admin_token", "webhook_secret")
ROUTE_MODULES = (webhooks, alerts, events, messages, health, admin)


class IngestApp(FastAPI):
    """FastAPI, with the request context and the direct routes in front of its stack.

    FastAPI puts its own error, telemetry and body-limit middleware in front of every
    middleware an application adds. This stack starts with the request id and the
    request metrics, then the direct routes, so a webhook skips FastAPI's layers. A
    request through the router still gets its id and its metrics, and an unexpected
    error in it still gets the JSON error body.
    """

    def build_middleware_stack(self) -> ASGIApp:
        state: IngestState = self.state.ingest
        routes = [route for module in ROUTE_MODULES for route in module.router.routes]
        direct = DirectRoutes(super().build_middleware_stack(), routes, state.rejections)
        return RequestContextMiddleware(direct, state.metrics)


def create_app(settings: Settings) -> IngestApp:
    """Build the application; raise SettingsError when a required secret is missing."""
    api_token, webhook_secret = check_settings(settings)
    warn_short_secrets(settings)
    metrics = IngestMetrics()
    rejections = RejectionLog()

    app = IngestApp(
        title="wxstream ingest",
        version=API_VERSION,
        description=(
            "Appends Webex webhooks, alerts, back-end events and outbound message requests "
            "to Kafka, responding only after the broker acknowledged. Every error body is "
            '{"error": "...", "requestId": "..."}.'
        ),
        lifespan=lifespan,
        redoc_url=None,
        # The service exports its own Prometheus metrics. FastAPI's OpenTelemetry hooks
        # would look the providers up on every request, so they are off.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.ingest = IngestState(
        settings=settings,
        catalog=catalog_from_settings(settings),
        metrics=metrics,
        rejections=rejections,
        api_token=api_token,
        webhook_secret=webhook_secret,
        idempotency=IdempotencyCache(settings.idempotency_cache_keys),
    )
    install_error_handlers(app, rejections)
    for module in ROUTE_MODULES:
        app.include_router(module.router)
    install_openapi(app)
    return app


def check_settings(settings: Settings) -> tuple[bytes, bytes | None]:
    """Return the API token and the webhook secret (None: unsigned allowed) as bytes."""
    api_token = _secret_bytes(settings.api_token)
    if api_token is None:
        raise SettingsError(
            "WXSTREAM_API_TOKEN is not set. Set it to a long random string that back-end "
            "clients send in the 'Token' or 'Authorization: Bearer' header."
        )
    webhook_secret = _secret_bytes(settings.webhook_secret)
    if webhook_secret is None and not settings.allow_unsigned_webhooks:
        raise SettingsError(
            "WXSTREAM_WEBHOOK_SECRET is not set. Set it to the secret the Webex webhooks "
            "were registered with, or set WXSTREAM_ALLOW_UNSIGNED_WEBHOOKS=true to accept "
            "unsigned webhooks (local development only)."
        )
    return api_token, webhook_secret


def warn_short_secrets(settings: Settings) -> None:
    """Log a WARNING for each secret shorter than MIN_SECRET_CHARS; never log the value."""
    for name in SECRET_SETTINGS:
        value = getattr(settings, name)
        if value is None or not value.get_secret_value():
            continue
        if len(value.get_secret_value()) < MIN_SECRET_CHARS:
            logger.warning(
                "%s%s is shorter than %d characters and easy to guess; set it to a long "
                "random string, such as the output of 'openssl rand -hex 32'",
                ENV_PREFIX,
                name.upper(),
                MIN_SECRET_CHARS,
            )


def _secret_bytes(value: SecretStr | None) -> bytes | None:
    if value is None or not value.get_secret_value():
        return None
    return value.get_secret_value().encode()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Create the producer at start-up; flush it with a timeout at shutdown."""
    state: IngestState = app.state.ingest
    settings = state.settings
    producer = DurableProducer.from_settings(settings, state.metrics)
    producer.start()
    state.producer = producer
    logger.info(
        "ingest started: Kafka %s, topics %s, append timeout %g s",
        settings.bootstrap_servers,
        ", ".join(state.ingest_topics),
        settings.append_timeout_seconds,
    )
    if state.webhook_secret is None:
        logger.warning(
            "webhook signatures are NOT verified: WXSTREAM_WEBHOOK_SECRET is unset and "
            "WXSTREAM_ALLOW_UNSIGNED_WEBHOOKS is true; use this for local development only"
        )
    try:
        yield
    finally:
        remaining = await asyncio.to_thread(producer.close, settings.append_timeout_seconds)
        state.producer = None
        if remaining:
            logger.error("ingest stopped with %d records not acknowledged by the broker", remaining)
        else:
            # Records that failed earlier got a 503 response and are no longer queued.
            logger.info("ingest stopped with no record left in the producer's queue")
