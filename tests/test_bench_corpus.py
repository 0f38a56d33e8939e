"""The benchmark corpus: deterministic, unique ids, realistic sizes, valid signatures."""

from __future__ import annotations

import json

from bench.corpus import MAX_BODY_BYTES, MIN_BODY_BYTES, Corpus, bench_id, sign
from bench.plans import RequestPlan, WebhookTarget
from ingest.signature import signature_matches


def test_corpus_same_seed_same_bytes() -> None:
    first, second = Corpus(7), Corpus(7)

    assert [w.body for w in first.webhooks(50)] == [w.body for w in second.webhooks(50)]
    assert [a.body for a in first.alerts(50)] == [a.body for a in second.alerts(50)]


def test_corpus_other_seed_other_bytes() -> None:
    assert Corpus(7).webhook(0).body != Corpus(8).webhook(0).body


def test_corpus_ids_are_unique() -> None:
    corpus = Corpus(7)
    webhooks = list(corpus.webhooks(2000))

    assert len({w.bench_id for w in webhooks}) == 2000
    assert len({w.message_id for w in webhooks}) == 2000


def test_corpus_bodies_are_one_to_two_kilobytes() -> None:
    corpus = Corpus(7)
    sizes = [len(w.body) for w in corpus.webhooks(300)] + [len(a.body) for a in corpus.alerts(300)]

    assert min(sizes) >= MIN_BODY_BYTES
    assert max(sizes) <= MAX_BODY_BYTES


def test_corpus_alert_subject_carries_bench_id() -> None:
    alert = Corpus(7).alert(12)
    document = json.loads(alert.body)

    assert document["subject"].endswith(bench_id(7, 12))
    assert set(document) == {"to", "subject", "message"}


def test_corpus_bench_id_fits_a_quoted_reply() -> None:
    assert len(bench_id(2**31, 9_999_999)) <= 39


def test_corpus_signature_is_accepted_by_ingest() -> None:
    body = Corpus(7).webhook(3).body

    assert signature_matches(b"secret", body, sign(b"secret", body))


def test_plan_webhook_uses_simulator_target() -> None:
    target = WebhookTarget("MSG", "ROOM", "PERSON", "ann@example.com")
    plan = RequestPlan("127.0.0.1", 8080, "webhook", "s", "t", 7, start=5, targets={5: target})

    request = plan.render(1)[0]
    body = request.split(b"\r\n\r\n", 1)[1]

    assert json.loads(body)["data"]["id"] == "MSG"
    assert f"Content-Length: {len(body)}".encode() in request
    assert f"X-Spark-Signature: {sign(b's', body)}".encode() in request


def test_plan_mixed_alternates_webhooks_and_alerts() -> None:
    plan = RequestPlan("127.0.0.1", 8080, "mixed", "s", "t", 7)

    requests = plan.render(4)

    assert [r.split(b" ", 2)[1] for r in requests] == [
        b"/webhooks/webex",
        b"/api/v1/alert",
        b"/webhooks/webex",
        b"/api/v1/alert",
    ]
