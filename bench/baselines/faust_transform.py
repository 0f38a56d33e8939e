"""Baseline processor: the smallest faust-streaming agent that does the M3 transform.

One agent reads ``backend.events`` and sends one outbound message per alert, with the
transform of :mod:`bench.baselines.transform`, through faust's own producer (aiokafka,
``acks=all``, the linger given) on uvloop, as the worker does. faust acknowledges each
event when the agent moves to the next one, and offsets are committed on faust's timer.
It keeps none of the worker's guarantees (acknowledgement after the broker has the
output, deduplication, dead letters), so its rate is about the most that any agent
built on faust-streaming drains on the same machine.
"""

from __future__ import annotations

import sys
from typing import Any

from bench.baselines.transform import transform, transform_parser


def run(bootstrap: str, source: str, target: str, group: str, linger_ms: int, datadir: str) -> None:
    import faust
    import mode.loop
    from faust.worker import Worker

    mode.loop.use("uvloop")

    from processors.app import broker_urls

    app = faust.App(
        group,
        broker=broker_urls(bootstrap),
        store="memory://",
        datadir=datadir,
        producer_acks=-1,
        producer_linger=linger_ms / 1000,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        autodiscover=False,
    )
    inbox = app.topic(source, key_serializer="raw", value_serializer="raw")

    @app.agent(inbox)
    async def relay(stream: Any) -> None:
        async for event in stream.events():
            headers = dict(event.headers or {})
            value, out_headers = transform(event.value, headers.get("ce_id", b"unknown"))
            # The producer directly, as the worker does: faust's topic send adds wrappers.
            await app.producer.send(target, event.key, value, None, None, out_headers)

    @app.on_rebalance_complete.connect
    async def announce(sender: Any, /, *args: Any, **kwargs: Any) -> None:
        print("ready", flush=True)

    Worker(app, loglevel="WARNING", quiet=True, redirect_stdouts=False).execute_from_commandline()


def main(argv: list[str] | None = None) -> int:
    parser = transform_parser("faust_transform")
    parser.add_argument("--datadir", required=True, help="folder for faust's state")
    args = parser.parse_args(argv)
    run(args.bootstrap, args.source, args.target, args.group, args.linger_ms, args.datadir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
