"""The bare endpoints of the ingest benchmark, served by uvicorn on loopback."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from tests.kafka_harness import free_port
from wxstream.supervisor import ChildProcess


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("framework", ["asgi", "fastapi"])
def test_bare_endpoint_accepts_post(framework: str, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks/webex"
    server = ChildProcess(
        f"bare-{framework}",
        [
            sys.executable,
            "-m",
            "bench.baselines.bare",
            "--port",
            str(port),
            "--framework",
            framework,
        ],
        env={"PYTHONUNBUFFERED": "1", "PATH": "/usr/bin:/bin"},
        log_path=tmp_path / "bare.log",
        ready_check=lambda: _ready(url),
    )
    try:
        server.start(timeout=30)
        response = httpx.post(url, content=b'{"id": "x"}', timeout=5.0)
    finally:
        server.stop()

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["content-type"] == "application/json"
