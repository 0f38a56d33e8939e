"""Request plans: which corpus items a load generator sends, where, and how they are signed.

A plan is a small JSON file (no bodies): the generator rebuilds the bodies from the
corpus seed, so a plan of a million requests stays a few hundred bytes unless it names
simulator messages for the webhooks to point at.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from bench.corpus import Corpus, bench_id, sign

Kind = Literal["webhook", "alert", "mixed"]
WEBHOOK_PATH = "/webhooks/webex"
ALERT_PATH = "/api/v1/alert"


@dataclass(frozen=True)
class WebhookTarget:
    """A simulator message a webhook refers to, so the enricher can fetch it."""

    message_id: str
    room_id: str
    person_id: str
    person_email: str


@dataclass
class RequestPlan:
    """Corpus items ``start .. start + count`` sent to ``host:port``.

    In a ``mixed`` plan, even indexes are webhooks and odd indexes alerts. ``targets``
    maps each webhook's index to a simulator message. With ``distinct`` set, only that
    many items are rendered and then repeated, for runs that need no unique ids.
    """

    host: str
    port: int
    kind: Kind
    secret: str
    token: str
    seed: int
    start: int = 0
    targets: dict[int, WebhookTarget] = field(default_factory=dict)
    distinct: int = 0

    def is_webhook(self, index: int) -> bool:
        return self.kind == "webhook" or (self.kind == "mixed" and index % 2 == 0)

    def ids(self, count: int) -> list[str]:
        return [bench_id(self.seed, index) for index in self._indexes(count)]

    def render(self, count: int) -> list[bytes]:
        """Return the raw HTTP/1.1 requests for the first ``count`` items of the plan."""
        corpus = Corpus(self.seed)
        rendered: dict[int, bytes] = {}
        requests = []
        for index in self._indexes(count):
            if index not in rendered:
                rendered[index] = self.request(corpus, index)
            requests.append(rendered[index])
        return requests

    def _indexes(self, count: int) -> list[int]:
        if self.distinct > 0:
            return [self.start + offset % self.distinct for offset in range(count)]
        return list(range(self.start, self.start + count))

    def request(self, corpus: Corpus, index: int) -> bytes:
        if self.is_webhook(index):
            target = self.targets.get(index)
            item = corpus.webhook(
                index,
                message_id=target.message_id if target else None,
                room_id=target.room_id if target else None,
                person_id=target.person_id if target else None,
                person_email=target.person_email if target else None,
            )
            signature = sign(self.secret.encode(), item.body)
            return self._post(WEBHOOK_PATH, item.body, f"X-Spark-Signature: {signature}")
        alert = corpus.alert(index)
        return self._post(ALERT_PATH, alert.body, f"Token: {self.token}")

    def _post(self, path: str, body: bytes, extra_header: str) -> bytes:
        head = (
            f"POST {path} HTTP/1.1\r\n"
            f"Host: {self.host}:{self.port}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"{extra_header}\r\n\r\n"
        )
        return head.encode("latin-1") + body

    def save(self, path: Path) -> Path:
        document = asdict(self)
        document["targets"] = {str(index): asdict(t) for index, t in self.targets.items()}
        path.write_text(json.dumps(document))
        return path


def load_plan(path: Path) -> RequestPlan:
    document = json.loads(path.read_text())
    targets = {int(index): WebhookTarget(**value) for index, value in document["targets"].items()}
    document["targets"] = targets
    return RequestPlan(**document)
