"""The faust application of the worker: ``wxstream worker`` or ``faust -A processors.app worker``.

:func:`create_app` builds the app from settings and registers every agent. The module
attribute ``app`` is created on first access, so importing this module has no side
effects while ``faust -A processors.app`` still finds an app.
"""

from __future__ import annotations

import importlib
from typing import Any

import faust

from processors.context import WorkerContext
from schemas.topics import catalog_from_settings
from wxstream.settings import Settings, load_settings

# Modules with a ``register(context)`` function that defines their agents.
AGENT_MODULES = (
    "processors.enricher",
    "processors.command_router",
    "processors.alert_router",
    "processors.sender",
    "processors.webhook_monitor",
    "processors.status",
)


def broker_urls(bootstrap: str) -> str:
    return ";".join(f"kafka://{server.strip()}" for server in bootstrap.split(","))


def create_app(settings: Settings) -> faust.App:
    """Build the worker app; its id derives from the topic prefix, so prefixes isolate apps."""
    catalog = catalog_from_settings(settings)
    app_id = f"{settings.topic_prefix}worker"
    app = faust.App(
        app_id,
        broker=broker_urls(settings.bootstrap_servers),
        store=settings.worker_store,
        datadir=str(settings.state_dir / app_id),
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        topic_allow_declare=True,
        broker_commit_interval=settings.worker_commit_interval_seconds,
        producer_acks=-1,
        web_enabled=False,
        autodiscover=False,
        consumer_auto_offset_reset="earliest",
        stream_recovery_delay=0.0,
    )
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
