"""Settings that reach faust's configuration of the worker app."""

from __future__ import annotations

import asyncio
from pathlib import Path

from processors.app import FETCH_MAX_WAIT_MS, WorkerConsumer, WorkerConsumerThread, create_app
from wxstream.settings import Settings


def worker_settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(  # type: ignore[arg-type]
        _env_file=None, webex_token="worker-app-token", state_dir=tmp_path, **values
    )


def test_worker_app_session_timeout_default(tmp_path: Path) -> None:
    app = create_app(worker_settings(tmp_path))
    assert app.conf.broker_session_timeout == 15.0


def test_worker_app_session_timeout_setting(tmp_path: Path) -> None:
    app = create_app(worker_settings(tmp_path, worker_session_timeout_seconds=45))
    assert app.conf.broker_session_timeout == 45.0


def test_worker_app_uses_worker_consumer(tmp_path: Path) -> None:
    app = create_app(worker_settings(tmp_path))
    assert isinstance(app.consumer, WorkerConsumer)


def test_worker_consumer_fetch_wait(tmp_path: Path) -> None:
    app = create_app(worker_settings(tmp_path, kafka_bootstrap_servers="127.0.0.1:9"))

    async def build() -> object:
        thread = app.consumer._new_consumer_thread()
        assert isinstance(thread, WorkerConsumerThread)
        consumer = thread._create_worker_consumer(app.transport)
        wait_ms = consumer._fetch_max_wait_ms
        await consumer.stop()
        return wait_ms

    assert asyncio.run(build()) == FETCH_MAX_WAIT_MS == 100


def test_worker_producer_linger_setting(tmp_path: Path) -> None:
    assert create_app(worker_settings(tmp_path)).producer.linger_ms == 0
    app = create_app(worker_settings(tmp_path, producer_linger_ms=5))
    assert app.producer.linger_ms == 5
