"""Reconciliation of acknowledged events against what arrived downstream."""

from __future__ import annotations

from bench.profiling import package_of, summarise
from bench.reconcile import reconcile, scored
from bench.records import bench_ids_in


def test_reconcile_all_found() -> None:
    result = reconcile(["a", "b"], ["b", "a"])

    assert result.ok
    assert result.found == 2
    assert result.describe() == "all 2 acknowledged events found"


def test_reconcile_reports_lost_ids() -> None:
    result = reconcile(["a", "b", "c"], ["a"])

    assert not result.ok
    assert result.lost == ("b", "c")
    assert "LOST 2 of 3" in result.describe()


def test_reconcile_counts_duplicates() -> None:
    result = reconcile(["a", "b"], ["a", "a", "a", "b"])

    assert result.ok
    assert result.duplicates == 2


def test_reconcile_unacknowledged_is_unexpected_not_lost() -> None:
    result = reconcile(["a"], ["a", "z"])

    assert result.ok
    assert result.unexpected == 1


def test_scored_run_that_lost_events_is_zero() -> None:
    assert scored(500.0, reconcile(["a"], [])) == 0.0
    assert scored(500.0, reconcile(["a"], ["a"])) == 500.0
    assert scored(500.0, None) == 500.0


def test_bench_ids_found_in_reply_text() -> None:
    texts = ["I do not know the command `wxb-1a2b-0000042`.", None, "no id here"]

    assert bench_ids_in(texts) == ["wxb-1a2b-0000042"]


def test_profile_summary_groups_innermost_frames() -> None:
    raw = (
        "main (app.py:1);produce (/v/site-packages/confluent_kafka/x.py:9) 30\n"
        "main (app.py:1);loads (/usr/lib/python3.11/json/decoder.py:3) 10\n"
    )

    profile = summarise(raw, "test")

    assert profile.samples == 40
    assert profile.packages[0] == ("confluent_kafka", 0.75)
    assert package_of("/usr/lib/python3.11/json/decoder.py") == "stdlib"
    assert package_of("aiokafka/consumer/fetcher.py") == "aiokafka"
    assert package_of("selectors.py") == "selectors"
