"""The sizes of each measurement in full mode and in quick (CI) mode."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mode:
    """Durations in seconds, rates in events per second, counts in events."""

    name: str
    pairs: int
    m1_warmup_seconds: float
    m1_step_seconds: float
    m1_hold_seconds: float
    m1_start_rate: float
    m2_warmup_seconds: float
    m2_seconds: float
    m2_low_rate: float
    m3_events: int
    m4_messages: int
    m5_limit: float
    m5_seconds: float
    m6_rate_share: float
    m6_seconds: float
    m7_first: int
    m7_second: int
    m8_small: int
    m8_large: int
    m8_repeats: int


FULL = Mode(
    name="full",
    pairs=3,
    m1_warmup_seconds=4,
    m1_step_seconds=4,
    m1_hold_seconds=60,
    m1_start_rate=1000,
    m2_warmup_seconds=12,
    m2_seconds=12,
    m2_low_rate=100,
    m3_events=200_000,
    m4_messages=3_000,
    m5_limit=20,
    m5_seconds=30,
    m6_rate_share=0.5,
    m6_seconds=30,
    m7_first=100_000,
    m7_second=1_000_000,
    m8_small=1_000_000,
    m8_large=2_000_000,
    m8_repeats=3,
)

QUICK = Mode(
    name="quick",
    pairs=2,
    m1_warmup_seconds=3,
    m1_step_seconds=3,
    m1_hold_seconds=6,
    m1_start_rate=1000,
    m2_warmup_seconds=4,
    m2_seconds=5,
    m2_low_rate=100,
    m3_events=5_000,
    m4_messages=800,
    m5_limit=20,
    m5_seconds=8,
    m6_rate_share=0.5,
    m6_seconds=24,
    m7_first=2_000,
    m7_second=6_000,
    m8_small=20_000,
    m8_large=100_000,
    m8_repeats=2,
)
