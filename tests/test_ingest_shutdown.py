"""``wxstream ingest`` as a process: start-up checks, and SIGTERM with requests in flight."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import httpx

from ingest.signature import sign
from schemas.topics import Topic
from tests.kafka_harness import (
    KafkaHandle,
    create_catalog_topics,
    free_port,
    read_topic,
    unique_prefix,
)

SECRET = "webhook-secret"
REQUESTS = 2000
SIGNAL_AFTER_RESPONSES = 50


def start_ingest(
    kafka: KafkaHandle, prefix: str, port: int, workdir: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "WXSTREAM_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "WXSTREAM_TOPIC_PREFIX": prefix,
        "WXSTREAM_API_TOKEN": "api-token",
        "WXSTREAM_WEBHOOK_SECRET": SECRET,
        "WXSTREAM_STATE_DIR": str(workdir / "state"),
    }
    log = (workdir / "ingest.log").open("wb")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wxstream.cli",
            "ingest",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"wxstream ingest exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"wxstream ingest did not respond on {url} within {timeout} s")


async def post_and_terminate(url: str, pid: int, room: str) -> tuple[list[str], int]:
    """Post REQUESTS webhooks, SIGTERM ``pid`` mid-way; return 2xx ids and 2xx after it."""
    accepted: list[str] = []
    signalled = asyncio.Event()
    accepted_after_signal = 0
    connector = aiohttp.TCPConnector(limit=100)
    timeout = aiohttp.ClientTimeout(total=30)

    async def post_one(session: aiohttp.ClientSession) -> None:
        nonlocal accepted_after_signal
        body = json.dumps(
            {
                "resource": "messages",
                "event": "created",
                "data": {"id": uuid.uuid4().hex, "roomId": room},
            }
        ).encode()
        headers = {"X-Spark-Signature": sign(SECRET.encode(), body)}
        try:
            async with session.post(
                f"{url}/webhooks/webex", data=body, headers=headers
            ) as response:
                response_body = await response.read()
        except aiohttp.ClientError:
            return  # The connection closed at shutdown before a response, which is allowed.
        if response.status < 300:
            accepted.append(json.loads(response_body)["id"])
            accepted_after_signal += signalled.is_set()
        if len(accepted) == SIGNAL_AFTER_RESPONSES and not signalled.is_set():
            os.kill(pid, signal.SIGTERM)
            signalled.set()

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(post_one(session) for _ in range(REQUESTS)))
    return accepted, accepted_after_signal


def test_shutdown_keeps_every_acknowledged_request(kafka: KafkaHandle, tmp_path: Path) -> None:
    catalog = create_catalog_topics(kafka.bootstrap, unique_prefix())
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    room = f"room-{uuid.uuid4().hex}"
    process = start_ingest(kafka, catalog.prefix, port, tmp_path)
    try:
        wait_until_healthy(url, process)
        accepted, accepted_after_signal = asyncio.run(post_and_terminate(url, process.pid, room))
        exit_code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    log = (tmp_path / "ingest.log").read_text()
    # uvicorn re-raises the signal after its graceful shutdown, so SIGTERM is the status.
    assert exit_code in (0, -signal.SIGTERM), log
    assert "Application shutdown complete" in log
    assert len(accepted) >= SIGNAL_AFTER_RESPONSES
    assert accepted_after_signal > 0
    assert len(accepted) < REQUESTS  # the shutdown began while requests were still coming
    assert "no record left in the producer's queue" in log
    records = read_topic(kafka.bootstrap, catalog.name(Topic.WEBEX_WEBHOOKS))
    stored = {
        (record.header("ce_id") or b"").decode()
        for record in records
        if record.key == room.encode()
    }
    assert set(accepted) <= stored


def test_command_without_secrets_exits_naming_them(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("WXSTREAM_")}
    env["WXSTREAM_API_TOKEN"] = "api-token"

    completed = subprocess.run(
        [sys.executable, "-m", "wxstream.cli", "ingest", "--port", str(free_port())],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert completed.returncode == 1
    assert "WXSTREAM_WEBHOOK_SECRET" in completed.stderr
    assert "WXSTREAM_ALLOW_UNSIGNED_WEBHOOKS" in completed.stderr
    assert "Traceback" not in completed.stderr
