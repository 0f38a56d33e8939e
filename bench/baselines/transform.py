"""Baseline processor: a bare confluent-kafka consume → transform → produce loop.

It reads alert events from ``backend.events`` and writes one outbound message per
alert to ``outbound.messages`` (the alert text is the subject, a blank line, then the
message), with an idempotent ``acks=all`` producer. Offsets are committed
automatically; the loop stops after ``--count`` events and flushes the producer.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid

from confluent_kafka import Consumer

from bench.kafka_io import durable_producer

OUTBOUND_NAMESPACE = uuid.UUID("0d9e2c6a-4b7f-4e13-9a85-3c1f7b2d6e40")
OUTBOUND_TYPE = b"wxstream.outbound.message.requested.v1"


def transform(value: bytes, event_id: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Return the outbound message value and headers for one alert event."""
    alert = json.loads(value)
    message_id = str(uuid.uuid5(OUTBOUND_NAMESPACE, event_id.decode()))
    text = "\n\n".join(part for part in (alert.get("subject"), alert.get("message")) if part)
    body = {"messageId": message_id, "toPersonEmail": alert["to"], "text": text}
    headers = [
        ("ce_id", message_id.encode()),
        ("ce_type", OUTBOUND_TYPE),
        ("ce_causationid", event_id),
    ]
    return json.dumps(body).encode(), headers


def run(bootstrap: str, source: str, target: str, group: str, count: int, linger_ms: int) -> None:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
        }
    )
    producer = durable_producer(bootstrap, linger_ms)
    consumer.subscribe([source])
    print("ready", flush=True)
    done = 0
    while done < count:
        for message in consumer.consume(500, timeout=1.0):
            if message.error() is not None:
                continue
            headers = dict(message.headers() or [])
            value, out_headers = transform(message.value(), headers.get("ce_id", b"unknown"))
            while True:
                try:
                    producer.produce(target, value=value, key=message.key(), headers=out_headers)
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
            done += 1
    producer.flush(60)
    consumer.close()


def transform_parser(module: str) -> argparse.ArgumentParser:
    """Return the arguments both transform baselines take: broker, topics, group, linger."""
    parser = argparse.ArgumentParser(prog=f"python -m bench.baselines.{module}")
    for name in ("--bootstrap", "--source", "--target", "--group"):
        parser.add_argument(name, required=True)
    parser.add_argument("--linger-ms", type=int, required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = transform_parser("transform")
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args(argv)
    run(args.bootstrap, args.source, args.target, args.group, args.count, args.linger_ms)
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
