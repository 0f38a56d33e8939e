"""The search for the highest rate that passes a trial (no errors, p99 under a limit)."""

from __future__ import annotations

import math
from collections.abc import Callable


def find_highest_rate(
    trial: Callable[[float], bool],
    start: float,
    *,
    grow: float = 1.3,
    refine: int = 2,
    max_trials: int = 8,
    floor: float = 10.0,
) -> float:
    """Return the highest rate that passed, or 0 when none did down to ``floor``.

    From ``start`` the rate grows by ``grow`` while trials pass (or shrinks while they
    fail) until a passing and a failing rate bracket the result; ``refine`` geometric
    bisections then narrow the bracket. At most ``max_trials`` trials run.
    """
    if start <= 0 or grow <= 1:
        raise ValueError(f"start {start} and grow {grow} are invalid: use start > 0, grow > 1")
    trials = 0

    def attempt(rate: float) -> bool:
        nonlocal trials
        trials += 1
        return trial(rate)

    passed, failed = _bracket(attempt, start, grow, floor, lambda: trials < max_trials)
    if passed is None:
        return 0.0
    for _ in range(refine):
        if failed is None or trials >= max_trials or failed / passed < 1.05:
            break
        middle = math.sqrt(passed * failed)
        if attempt(middle):
            passed = middle
        else:
            failed = middle
    return passed


def _bracket(
    attempt: Callable[[float], bool],
    start: float,
    grow: float,
    floor: float,
    budget_left: Callable[[], bool],
) -> tuple[float | None, float | None]:
    """Return (highest passing rate seen, lowest failing rate above it)."""
    rate = start
    if attempt(rate):
        passed = rate
        while budget_left():
            rate = passed * grow
            if not attempt(rate):
                return passed, rate
            passed = rate
        return passed, None
    failed = rate
    while budget_left():
        rate = failed / grow
        if rate < floor:
            return None, failed
        if attempt(rate):
            return rate, failed
        failed = rate
    return None, failed
