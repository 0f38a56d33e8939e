"""Percentiles, rates and the median and range of ratios across alternating runs."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the ``fraction`` quantile (0..1) with linear interpolation between ranks.

    Raises ValueError for an empty sequence or a fraction outside [0, 1].
    """
    if not values:
        raise ValueError("percentile of an empty sequence: record at least one value")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction {fraction} is invalid: use a value in [0, 1]")
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    weight = position - lower
    return ordered[lower] + (ordered[upper] - ordered[lower]) * weight


@dataclass(frozen=True)
class LatencySummary:
    """Latency percentiles in milliseconds over ``count`` samples."""

    count: int
    p50: float
    p90: float
    p99: float
    max: float

    @classmethod
    def of(cls, milliseconds: Sequence[float]) -> LatencySummary:
        if not milliseconds:
            return cls(0, math.nan, math.nan, math.nan, math.nan)
        return cls(
            len(milliseconds),
            percentile(milliseconds, 0.50),
            percentile(milliseconds, 0.90),
            percentile(milliseconds, 0.99),
            max(milliseconds),
        )


@dataclass(frozen=True)
class RatioSummary:
    """The median, minimum and maximum of system/baseline ratios, one per pair."""

    ratios: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.ratios) if self.ratios else math.nan

    @property
    def low(self) -> float:
        return min(self.ratios) if self.ratios else math.nan

    @property
    def high(self) -> float:
        return max(self.ratios) if self.ratios else math.nan


def ratio(system: float, baseline: float) -> float:
    """Return system / baseline; NaN when the baseline is zero or either is NaN."""
    if baseline == 0 or math.isnan(baseline) or math.isnan(system):
        return math.nan
    return system / baseline


def pair_ratios(system: Sequence[float], baseline: Sequence[float]) -> RatioSummary:
    """Pair run i of the system with run i of the baseline and summarise the ratios.

    A run that scored zero (it lost events) gives a ratio of zero, not a gap.
    """
    if len(system) != len(baseline):
        raise ValueError(
            f"{len(system)} system runs and {len(baseline)} baseline runs cannot be paired"
        )
    values = [ratio(s, b) for s, b in zip(system, baseline, strict=True)]
    return RatioSummary(tuple(value for value in values if not math.isnan(value)))


def rate(count: int, seconds: float) -> float:
    """Return events per second; NaN when no time passed."""
    return count / seconds if seconds > 0 else math.nan


def per_thousand(cpu_seconds: float, events: int) -> float:
    """Return CPU seconds per 1,000 events; NaN when there were no events."""
    return cpu_seconds * 1000 / events if events > 0 else math.nan
