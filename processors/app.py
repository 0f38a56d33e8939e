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
    """

    stop_grace_seconds: float = 10.0

    async def _consumer_wait_empty(self, consumer: Any, logger: Any) -> None:
        # faust-streaming calls this private hook from both on_stop and on_rebalance,
        # after it has suspended the flow and cleared the agents' buffers.
        if not self.should_stop:
            wake_blocked_puts(self.flow_control)
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


def wake_blocked_puts(flow_control: Any) -> int:
    """Wake the tasks waiting to put an event into an agent's full buffer; return how many.

    faust-streaming's conductor (0.15.3) hands an event to a full agent buffer with a
    blocking put, and the event counts as taken from then on. A rebalance clears the
    buffers but does not wake that put, then waits until every taken event is
    acknowledged, so it waited forever for the event of the blocked put. Once woken, the put completes and the agent
    handles and acknowledges the event like the others it had started.
    """
    woken = 0
    # NOTE: mode's FlowControlEvent and asyncio.Queue offer no public way to do this, so
    # it uses their private queue set, waiter deque and wake-up method.
    for queue in list(getattr(flow_control, "_queues", ())):
        putters = getattr(queue, "_putters", None)
        wakeup = getattr(queue, "_wakeup_next", None)
        if putters is None or wakeup is None:
            log.warning("cannot wake blocked puts: %s has no _putters", type(queue).__name__)
            return woken
        while putters and not queue.full():
            wakeup(putters)
            woken += 1
    if woken:
        log.info("woke %d event handoffs blocked on full agent buffers", woken)
    return woken


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
