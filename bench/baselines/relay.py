"""Baseline chain after ingest: a raw confluent-kafka relay and a raw httpx sender.

The relay thread reads callbacks from ``webex.webhooks``, fetches each message with
``GET /messages/{id}`` and writes a reply quoting its text to ``outbound.messages``;
the sender thread reads ``outbound.messages`` and posts each reply. Both loops are
serial and commit offsets automatically, so unlike wxstream they do not guarantee
at-least-once delivery across a crash.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import threading

import httpx
from confluent_kafka import Consumer

from bench.kafka_io import durable_producer


def _consumer(bootstrap: str, group: str, topic: str) -> Consumer:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
            "fetch.wait.max.ms": 10,
        }
    )
    consumer.subscribe([topic])
    return consumer


def relay(
    bootstrap: str, prefix: str, client: httpx.Client, stop: threading.Event, *, linger_ms: int
) -> None:
    consumer = _consumer(bootstrap, f"{prefix}relay", f"{prefix}webex.webhooks")
    producer = durable_producer(bootstrap, linger_ms)
    while not stop.is_set():
        message = consumer.poll(0.1)
        producer.poll(0)
        if message is None or message.error() is not None:
            continue
        callback = json.loads(message.value())
        fetched = client.get(f"/messages/{callback['data']['id']}").json()
        reply = {
            "roomId": fetched["roomId"],
            "text": f"I do not know the command `{fetched.get('text', '')}`.",
        }
        producer.produce(
            f"{prefix}outbound.messages", value=json.dumps(reply).encode(), key=message.key()
        )
    producer.flush(10)
    consumer.close()


def sender(bootstrap: str, prefix: str, client: httpx.Client, stop: threading.Event) -> None:
    consumer = _consumer(bootstrap, f"{prefix}sender", f"{prefix}outbound.messages")
    while not stop.is_set():
        message = consumer.poll(0.1)
        if message is None or message.error() is not None:
            continue
        client.post(
            "/messages", content=message.value(), headers={"Content-Type": "application/json"}
        )
    consumer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baselines.relay")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--url", required=True, help="Webex API base URL, e.g. .../v1")
    parser.add_argument("--linger-ms", type=int, required=True)
    args = parser.parse_args(argv)
    headers = {"Authorization": f"Bearer {os.environ['WXSTREAM_WEBEX_TOKEN']}"}
    stop = threading.Event()
    threads = []
    for loop in (functools.partial(relay, linger_ms=args.linger_ms), sender):
        client = httpx.Client(base_url=args.url, headers=headers, timeout=10.0)
        thread = threading.Thread(target=loop, args=(args.bootstrap, args.prefix, client, stop))
        thread.start()
        threads.append(thread)
    print("ready", flush=True)
    try:
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
