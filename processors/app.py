"""The faust application of the worker: ``wxstream worker`` or ``faust -A processors.app worker``.

:func:`create_app` builds the app from settings and registers every agent. The module
attribute ``app`` is created on first access, so importing this module has no side
effects while ``faust -A processors.app`` still finds an app.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import Any

import faust

from processors.context import WorkerContext
from processors.tablestore import store_url
from schemas.topics import catalog_from_settings
from wxstream.settings import Settings, load_settings

log = logging.getLogger(__name__)

# Modules with a ``register(context)`` function that defines their agents.
AGENT_MODULES: tuple[str, ...] = (
    "processors.enricher",
    "processors.command_router",
    "processors.alert_router",
    "processors.sender",
    "processors.webhook_monitor",
    "processors.status",
)


class WorkerApp(faust.App):
    """faust's app, with a bounded wait for unfinished events when the worker stops.

    faust waits for every event taken from the topics to be acknowledged before it
    commits and stops. A sender retrying an unreachable Webex could hold that wait for
    many minutes. At shutdown this app waits ``stop_grace_seconds`` and then stops
    anyway: the events still unfinished are not acknowledged, so their offsets are not
    committed and the next worker handles them again. During a rebalance faust's own
    unbounded wait stays, so two workers never handle one partition's events at once.

    NOTE: that wait can last forever. When a rebalance starts while the sender's buffers
    are full, faust-streaming 0.15.3 keeps waiting for one outbound event that no agent
    acknowledges, and the worker stops handling events until it is restarted (the group
    moves its partitions to other workers once the rebalance times out).
    tests/test_sender_rebalance.py reproduces it. Two objects keep the stuck message,
    according to gc referrers. faust's ``Consumer._drain_messages`` counts a fetched
    message as taken before it waits for the suspended flow to deliver it. The status
    agent's automatic acknowledgement waits for a next event that never comes.
    """

    stop_grace_seconds: float = 10.0

    async def _consumer_wait_empty(self, consumer: Any, logger: Any) -> None:
        # faust-streaming calls this private hook from both on_stop and on_rebalance.
        if not self.should_stop:
            await super()._consumer_wait_empty(consumer, logger)
            return
        # faust's wait swallows cancellation, so it is left running rather than
        # cancelled. It ends by itself once the consumer stops.
        waiting = asyncio.ensure_future(super()._consumer_wait_empty(consumer, logger))
        done, _ = await asyncio.wait({waiting}, timeout=self.stop_grace_seconds)
        if not done:
            log.warning(
                "stopping with events still being handled after %.0f s; they are not "
                "acknowledged and the next worker handles them again",
                self.stop_grace_seconds,
            )


def broker_urls(bootstrap: str) -> str:
    return ";".join(f"kafka://{server.strip()}" for server in bootstrap.split(","))


def create_app(settings: Settings) -> faust.App:
    """Build the worker app; its id derives from the topic prefix, so prefixes isolate apps."""
    catalog = catalog_from_settings(settings)
    app_id = f"{settings.topic_prefix}worker"
    app = WorkerApp(
        app_id,
        broker=broker_urls(settings.bootstrap_servers),
        store=store_url(settings.worker_store),
        datadir=str(settings.state_dir / app_id),
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        topic_allow_declare=True,
        broker_commit_interval=settings.worker_commit_interval_seconds,
        producer_acks=-1,
        producer_linger=0.002,
        broker_max_poll_records=500,
        web_enabled=False,
        autodiscover=False,
        consumer_auto_offset_reset="earliest",
        stream_recovery_delay=0.0,
    )
    app.stop_grace_seconds = settings.worker_stop_grace_seconds
    context = WorkerContext(app, settings, catalog)
    app.wxstream_context = context  # type: ignore[attr-defined]
    for module_name in AGENT_MODULES:
        importlib.import_module(module_name).register(context)

    @app.service
    class _CloseClients(faust.Service):
        async def on_stop(self) -> None:
            await context.close()

    return app


_app: faust.App | None = None


def __getattr__(name: str) -> Any:
    global _app
    if name == "app":
        if _app is None:
            _app = create_app(load_settings())
        return _app
    raise AttributeError(name)
