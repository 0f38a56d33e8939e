"""Percentiles, ratios and the rate search of the benchmark."""

from __future__ import annotations

import math

import pytest

from bench.m3_processors import steady_rate as drain_rate
from bench.m4_sender import steady_rate
from bench.m5_rate_limits import early_requests
from bench.m7_memory import growth
from bench.search import find_highest_rate
from bench.stats import LatencySummary, pair_ratios, per_thousand, percentile, ratio


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile([10], 0.99) == 10
    assert percentile([5, 1, 3], 1.0) == 5


def test_percentile_rejects_empty_and_bad_fraction() -> None:
    with pytest.raises(ValueError, match="empty"):
        percentile([], 0.5)
    with pytest.raises(ValueError, match="fraction"):
        percentile([1.0], 1.5)


def test_latency_summary_of_hundred_values() -> None:
    summary = LatencySummary.of([float(v) for v in range(1, 101)])

    assert summary.count == 100
    assert summary.p50 == pytest.approx(50.5)
    assert summary.p99 == pytest.approx(99.01)
    assert summary.max == 100


def test_pair_ratios_median_and_range() -> None:
    summary = pair_ratios([50.0, 60.0, 40.0], [100.0, 100.0, 100.0])

    assert summary.median == pytest.approx(0.5)
    assert summary.low == pytest.approx(0.4)
    assert summary.high == pytest.approx(0.6)


def test_pair_ratios_zero_score_counts_as_zero() -> None:
    assert pair_ratios([0.0, 50.0], [100.0, 100.0]).low == 0.0


def test_pair_ratios_rejects_unpaired_runs() -> None:
    with pytest.raises(ValueError, match="paired"):
        pair_ratios([1.0], [1.0, 2.0])


def test_ratio_zero_baseline_is_nan() -> None:
    assert math.isnan(ratio(5.0, 0.0))


def test_per_thousand_scales_cpu_seconds() -> None:
    assert per_thousand(2.0, 4000) == pytest.approx(0.5)
    assert math.isnan(per_thousand(1.0, 0))


def test_search_finds_threshold_within_refinement() -> None:
    trials: list[float] = []

    def trial(rate: float) -> bool:
        trials.append(rate)
        return rate <= 730

    found = find_highest_rate(trial, 400, grow=1.4, refine=3, max_trials=10)

    assert 600 <= found <= 730
    assert len(trials) <= 10


def test_search_goes_down_when_start_fails() -> None:
    assert 0 < find_highest_rate(lambda rate: rate <= 100, 400, grow=1.5) <= 100


def test_search_returns_zero_when_nothing_passes() -> None:
    assert find_highest_rate(lambda rate: False, 100, grow=2, floor=10) == 0.0


def test_steady_rate_ignores_start_and_tail() -> None:
    times = [0.0, 5.0] + [10 + i * 0.01 for i in range(1000)] + [60.0]

    assert steady_rate(times) == pytest.approx(100, rel=0.02)


def test_drain_rate_interpolates_progress() -> None:
    progress = [(0.0, 0.0), (10.0, 0.0), (20.0, 1000.0)]

    assert drain_rate(progress, 1000) == pytest.approx(100.0)


def test_early_requests_counts_posts_inside_retry_after() -> None:
    requests = [
        {"method": "POST", "time": 0.0, "latencyMs": 1.0, "status": 429},
        {"method": "POST", "time": 0.05, "latencyMs": 1.0, "status": 200},
        {"method": "POST", "time": 0.5, "latencyMs": 1.0, "status": 200},
        {"method": "POST", "time": 1.2, "latencyMs": 1.0, "status": 200},
    ]

    assert early_requests(requests, retry_after=1.0, grace=0.1) == 1


def test_memory_growth_is_relative() -> None:
    assert growth(100, 110) == pytest.approx(0.10)
    assert math.isnan(growth(0, 5))
