"""Command-line choice of the benchmark's sizes."""

from __future__ import annotations

import pytest

from bench.__main__ import mode_of, parse_args
from bench.modes import FULL, QUICK


def test_full_mode_by_default() -> None:
    mode = mode_of(parse_args([]))

    assert mode == FULL
    assert (mode.m7_first, mode.m7_second) == (100_000, 1_000_000)


def test_m7_alerts_sets_second_checkpoint() -> None:
    mode = mode_of(parse_args(["--m7-alerts", "250000"]))

    assert mode.m7_second == 250_000
    assert mode.m7_first == FULL.m7_first


def test_m7_alerts_applies_to_quick_mode() -> None:
    mode = mode_of(parse_args(["--quick", "--m7-alerts", "3000"]))

    assert mode.name == QUICK.name
    assert mode.m7_second == 3_000


def test_m7_alerts_below_first_checkpoint_rejected() -> None:
    with pytest.raises(SystemExit, match="--m7-alerts 100000 is invalid"):
        mode_of(parse_args(["--m7-alerts", "100000"]))
