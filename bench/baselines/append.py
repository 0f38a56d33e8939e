"""Baseline ingest: check the webhook signature, append the body, answer after the ack.

A raw ASGI app under the same uvicorn settings as the ingest service, with a
confluent-kafka producer (idempotent, ``acks=all``) whose delivery reports, served by
a polling thread, resolve one future per request. It has no routing, envelope,
metrics or error handling beyond a 401 for a bad signature and a 503 for a failed
append.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import sys
import threading
from typing import Any

import uvicorn
from starlette.types import Receive, Send

from bench.kafka_io import durable_producer

JSON_HEADERS = [(b"content-type", b"application/json")]


class AppendApp:
    def __init__(self, bootstrap: str, topic: str, secret: bytes, linger_ms: int) -> None:
        self.topic = topic
        self.secret = secret
        self.producer = durable_producer(bootstrap, linger_ms)
        self.stopping = threading.Event()
        threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self) -> None:
        while not self.stopping.is_set():
            self.producer.poll(0.1)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        body = await _read_body(receive)
        if scope["method"] == "GET":
            await _respond(send, 200, b'{"status":"ready"}')
            return
        signature = dict(scope["headers"]).get(b"x-spark-signature", b"")
        expected = hmac.new(self.secret, body, hashlib.sha1).hexdigest().encode()
        if not hmac.compare_digest(expected, signature):
            await _respond(send, 401, b'{"error":"bad signature"}')
            return
        key = (json.loads(body).get("data") or {}).get("roomId") or "unknown"
        status = await self._append(key.encode(), body)
        await _respond(send, status, b'{"status":"appended"}' if status == 200 else b"{}")

    async def _append(self, key: bytes, body: bytes) -> int:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[object] = loop.create_future()

        def on_delivery(error: object, message: object) -> None:
            loop.call_soon_threadsafe(_settle, future, error)

        self.producer.produce(self.topic, value=body, key=key, on_delivery=on_delivery)
        error = await asyncio.wait_for(future, timeout=5.0)
        return 200 if error is None else 503


def _settle(future: asyncio.Future[object], error: object) -> None:
    if not future.done():
        future.set_result(error)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _respond(send: Send, status: int, body: bytes) -> None:
    headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baselines.append")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--linger-ms", type=int, required=True)
    args = parser.parse_args(argv)
    secret = os.environ["WXSTREAM_WEBHOOK_SECRET"].encode()
    app = AppendApp(args.bootstrap, args.topic, secret, args.linger_ms)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
    )
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
