"""Settings that reach faust's configuration of the worker app."""

from __future__ import annotations

from pathlib import Path

from processors.app import WorkerConsumer, create_app
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
