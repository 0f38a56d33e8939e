"""Simulator users and messages that webhooks point at, and the bot's replies to them.

Each event of an end-to-end run is a message a user really posted at the simulator
(its text is the bench id), so the enricher can fetch it. No webhook is registered at
the simulator: the load generator sends the callbacks itself, at a constant rate.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from bench.corpus import Corpus, bench_id
from bench.plans import WebhookTarget
from bench.stack import Stack
from wxstream.sim.clock import parse_iso

CREATE_THREADS = 4
POLL_SECONDS = 0.5


def create_people(stack: Stack, corpus: Corpus) -> None:
    for index in range(corpus.people):
        stack.sim_control("POST", "people", {"email": corpus.person_email(index)})


def create_targets(
    stack: Stack, corpus: Corpus, indexes: Iterable[int]
) -> dict[int, WebhookTarget]:
    """Post one user message per index (text: its bench id); return the webhook targets."""

    def post(index: int) -> tuple[int, WebhookTarget]:
        body = {"personEmail": corpus.person_email(index), "text": bench_id(corpus.seed, index)}
        view = stack.sim_control("POST", "messages", body)
        target = WebhookTarget(view["id"], view["roomId"], view["personId"], view["personEmail"])
        return index, target

    with ThreadPoolExecutor(CREATE_THREADS) as pool:
        return dict(pool.map(post, list(indexes)))


class ReplyLog:
    """The creation times (epoch seconds) of the bot's replies, by bench id.

    Each read fetches only the messages created since the previous read, so waiting for
    a million replies does not fetch the earlier ones again. One log serves one run,
    because bench ids start again at 0 in each run.
    """

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.times: dict[str, list[float]] = {}
        self._sequence = 0

    def read(self) -> list[str]:
        """Add the replies created since the last read and return their bench ids."""
        from bench.records import BENCH_ID

        messages, self._sequence = self.stack.bot_messages_after(self._sequence)
        found = []
        for message in messages:
            match = BENCH_ID.search(message.get("text") or message.get("markdown") or "")
            if match:
                created = parse_iso(message["created"]) or 0.0
                self.times.setdefault(match.group(0), []).append(created)
                found.append(match.group(0))
        return found

    def wait_for(self, ids: Iterable[str], timeout: float) -> dict[str, list[float]]:
        """Read until every id has a reply or ``timeout`` seconds passed. Return all replies."""
        missing = set(ids).difference(self.times)
        deadline = time.monotonic() + timeout
        while True:
            missing.difference_update(self.read())
            if not missing or time.monotonic() > deadline:
                return self.times
            time.sleep(POLL_SECONDS)
