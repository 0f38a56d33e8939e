"""Baseline sender: a plain httpx loop posting messages with a fixed number in flight.

It first reads every outbound message from the topic (not timed), then posts each one
to ``POST /messages`` from ``--in-flight`` concurrent tasks sharing one client. A 429
or 5xx answer is retried after its Retry-After (1 s when absent).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

import httpx

from bench.kafka_io import read_values

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def message_bodies(bootstrap: str, topic: str) -> list[dict[str, object]]:
    """Return the Webex request body of every outbound message in the topic."""
    bodies = []
    for value in read_values(bootstrap, topic):
        message = json.loads(value)
        body = {"toPersonEmail": message.get("toPersonEmail"), "text": message.get("text")}
        if message.get("roomId"):
            body = {"roomId": message["roomId"], "text": message.get("text")}
        bodies.append(body)
    return bodies


async def post_all(url: str, token: str, bodies: list[dict[str, object]], in_flight: int) -> int:
    queue: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30.0) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                while True:
                    response = await client.post(f"{url}/messages", json=body)
                    if response.status_code not in RETRY_STATUSES:
                        break
                    await asyncio.sleep(float(response.headers.get("Retry-After", "1")))

        await asyncio.gather(*(worker() for _ in range(in_flight)))
    return len(bodies)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baselines.sender")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--url", required=True, help="Webex API base URL, e.g. .../v1")
    parser.add_argument(
        "--token",
        default=os.environ.get("WXSTREAM_WEBEX_TOKEN"),
        help="bot token (default: WXSTREAM_WEBEX_TOKEN)",
    )
    parser.add_argument("--in-flight", type=int, default=16)
    args = parser.parse_args(argv)
    bodies = message_bodies(args.bootstrap, args.topic)
    print(f"ready: {len(bodies)} messages loaded", flush=True)
    asyncio.run(post_all(args.url, args.token, bodies, args.in_flight))
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
