"""The faust application of the worker: ``wxstream worker`` or ``faust -A processors.app worker``.

:func:`create_app` builds the app from settings and registers every agent. The module
attribute ``app`` is created on first access, so importing this module has no side
effects while ``faust -A processors.app`` still finds an app.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import faust
from faust.transport.drivers import aiokafka as aiokafka_driver

from processors.context import WorkerContext
from processors.tablestore import store_url
from schemas.topics import catalog_from_settings
from wxstream.heap import RELEASE_INTERVAL_SECONDS, release_free_heap
from wxstream.settings import Settings, load_settings

log = logging.getLogger(__name__)

# The consumer's fetch.max.wait.ms: how long the broker waits for new records before it
# responds to a fetch (faust sets 1.5 s). aiokafka sends one fetch at a time to each broker,
# so partitions drained after a fetch was sent are fetched again only when it returns.
FETCH_MAX_WAIT_MS = 100

# Modules with a ``register(context)`` function that defines their agents.
AGENT_MODULES: tuple[str, ...] = (
    "processors.enricher",
    "processors.command_router",
    "processors.alert_router",
    "processors.sender",
    "processors.webhook_monitor",
)


class WorkerApp(faust.App):
    """faust's app, with two changes to how it waits for unfinished events.

    faust waits for every event taken from the topics to be acknowledged before it
    commits and stops. A sender retrying an unreachable Webex could hold that wait for
    many minutes. At shutdown this app waits ``stop_grace_seconds`` and then stops
    anyway: the events still unfinished are not acknowledged, so their offsets are not
    committed and the next worker handles them again. During a rebalance faust's own
    unbounded wait stays, so two workers never handle one partition's events at once.

    faust hands a fetched record to every agent that reads its topic, waiting while an
    agent's buffer is full. A rebalance cancels that hand-over, and the agents still
    waiting never receive the record, so its last reference is never released and the
    rebalance would wait for it forever. This app gives such a record up instead: it is
    never acknowledged in this generation of the group, its offset stays uncommitted,
    and the worker that owns the partition next reads it again. The delivered table
    keeps the sender from posting it twice.
    """

    stop_grace_seconds: float = 10.0

    def _new_consumer(self) -> Any:
        return WorkerConsumer(
            self.transport,
            callback=abandon_on_cancel(self.topics.on_message),
            on_partitions_revoked=self._on_partitions_revoked,
            on_partitions_assigned=self._on_partitions_assigned,
            beacon=self.beacon,
            loop=self.loop,
        )

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


class WorkerConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    """faust's consumer thread, with each fetch returning within 100 ms.

    With faust's 1.5 s, a fetch that covered only partitions with no new records (such
    as faust's leader topic) held up the partitions drained meanwhile for up to 1.5 s.
    Draining 30,000 pre-filled events from four partitions ran at 1,300 events/s with
    1.5 s and at 2,900 events/s with 100 ms.
    """

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads this attribute when it starts the consumer and builds its fetcher.
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class WorkerConsumer(aiokafka_driver.Consumer):
    """faust's consumer, with the flow stopped while it seeks to the committed offsets.

    After a rebalance faust resumes the stream partitions, then seeks them back to their
    committed offsets, then resumes the flow, which empties every agent's buffer. The
    flow was already running, so records fetched from the old positions reached the
    buffers during the seek and were emptied out with them. Read again after the seek,
    they counted as already read and were skipped, and their partition's commits stalled
    until the next rebalance. Stopping the flow first keeps every record out of the
    buffers until faust resumes the flow after the seek.

    A partition with no committed offset is not moved by faust's seek, so its dropped
    records would be skipped too, and a later commit could pass them. With
    ``consumer_auto_offset_reset`` set to ``earliest`` such partitions go back to their
    first offset, as they would in a consumer that has just joined.
    """

    def _new_consumer_thread(self) -> WorkerConsumerThread:
        return WorkerConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def perform_seek(self) -> None:
        self.stop_flow()
        # faust's fetching task records the offset it last handed over when it stops on
        # the stopped flow. Yielding first lets that happen before the seek sets offsets.
        await asyncio.sleep(0)
        await super().perform_seek()

    async def seek_to_committed(self) -> Mapping[Any, int]:
        committed = await super().seek_to_committed()
        if self.app.conf.consumer_auto_offset_reset == "earliest":
            acks_enabled_for = self.app.topics.acks_enabled_for
            uncommitted = [
                tp
                for tp, offset in committed.items()
                if offset is None and acks_enabled_for(tp.topic)
            ]
            if uncommitted:
                await self._thread.seek_to_beginning(*uncommitted)
        return committed


def abandon_on_cancel(
    deliver: Callable[[Any], Awaitable[None]],
) -> Callable[[Any], Awaitable[None]]:
    """Wrap faust's hand-over of a record so a cancelled hand-over gives the record up.

    faust counts a record as acknowledged once every agent it was handed to has
    acknowledged it. The wrapper marks the record as acknowledged without telling the
    consumer, so nothing waits for it and its offset is not committed. Acknowledgements
    that arrive for it later change nothing.
    """

    async def deliver_or_abandon(message: Any) -> None:
        try:
            await deliver(message)
        except asyncio.CancelledError:
            message.acked = True
            raise

    return deliver_or_abandon


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
        broker_session_timeout=settings.worker_session_timeout_seconds,
        producer_acks=-1,
        producer_linger=settings.producer_linger_ms / 1000,
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

    # Between 30,000 and 300,000 alerts the worker's resident size grew 29 % without
    # this and 16 % with it, in one run each.
    @app.timer(RELEASE_INTERVAL_SECONDS)
    async def _release_free_heap() -> None:
        await asyncio.to_thread(release_free_heap)

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
