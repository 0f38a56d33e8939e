"""Reconciliation: every acknowledged event must be found downstream, by bench id.

A run that loses anything scores zero, whatever its throughput or latency.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Reconciliation:
    """The fate of the acknowledged events: found once, duplicated, or lost."""

    acknowledged: int
    found: int
    lost: tuple[str, ...]
    duplicates: int
    unexpected: int

    @property
    def ok(self) -> bool:
        return not self.lost

    def describe(self) -> str:
        if self.ok:
            text = f"all {self.acknowledged} acknowledged events found"
        else:
            sample = ", ".join(self.lost[:5])
            text = (
                f"LOST {len(self.lost)} of {self.acknowledged} acknowledged events (e.g. {sample})"
            )
        if self.duplicates:
            text += f"; {self.duplicates} duplicates"
        if self.unexpected:
            text += f"; {self.unexpected} unexpected ids"
        return text


def reconcile(acknowledged: Iterable[str], observed: Iterable[str]) -> Reconciliation:
    """Compare the ids the system acknowledged with the ids observed downstream.

    ``observed`` may hold an id several times: each extra copy is a duplicate. An
    observed id that was never acknowledged (a request that failed but was appended
    anyway, or a warm-up event) counts as unexpected, not as a loss.
    """
    acked = set(acknowledged)
    counts = Counter(observed)
    lost = tuple(sorted(acked.difference(counts)))
    duplicates = sum(count - 1 for count in counts.values() if count > 1)
    unexpected = sum(1 for identifier in counts if identifier not in acked)
    return Reconciliation(
        acknowledged=len(acked),
        found=len(acked) - len(lost),
        lost=lost,
        duplicates=duplicates,
        unexpected=unexpected,
    )


def scored(value: float, reconciliation: Reconciliation | None) -> float:
    """Return ``value``, or zero when the run lost events."""
    if reconciliation is not None and not reconciliation.ok:
        return 0.0
    return value
