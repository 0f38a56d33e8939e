"""PNG charts of the results, drawn with matplotlib's non-interactive Agg backend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.stats import percentile

if TYPE_CHECKING:
    from bench.load import LoadResult

PERCENTILES = (0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0)


def timeline_chart(path: Path, title: str, runs: Mapping[str, LoadResult]) -> None:
    """Answers per second and p99 latency per second of each run, on a shared time axis."""
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for label, result in runs.items():
        seconds = result.per_second()
        if not seconds:
            continue
        x = [row[0] for row in seconds]
        top.plot(x, [row[1] for row in seconds], label=label)
        bottom.plot(x, [row[3] for row in seconds], label=label)
    top.set_ylabel("answers / s")
    bottom.set_ylabel("p99 latency (ms)")
    bottom.set_yscale("log")
    bottom.set_xlabel("seconds since the first request was due")
    top.legend(fontsize=8)
    _save(figure, path, title)


def percentile_chart(path: Path, title: str, latencies: Mapping[str, Sequence[float]]) -> None:
    """Latency at p50 … max for each labelled set of samples (milliseconds, log scale)."""
    figure, axes = plt.subplots(figsize=(9, 4.5))
    labels = [_label(fraction) for fraction in PERCENTILES]
    for name, values in latencies.items():
        if values:
            axes.plot(labels, [percentile(values, f) for f in PERCENTILES], marker="o", label=name)
    axes.set_yscale("log")
    axes.set_ylabel("latency (ms)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    _save(figure, path, title)


def series_chart(
    path: Path, title: str, ylabel: str, series: Mapping[str, Sequence[tuple[float, float]]]
) -> None:
    """One line per labelled (x, y) series: throughput or memory over time."""
    figure, axes = plt.subplots(figsize=(9, 4.5))
    for name, points in series.items():
        if points:
            axes.plot([p[0] for p in points], [p[1] for p in points], label=name)
    axes.set_xlabel("seconds")
    axes.set_ylabel(ylabel)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    _save(figure, path, title)


def _label(fraction: float) -> str:
    if fraction == 1.0:
        return "max"
    return f"p{fraction * 100:g}"


def _save(figure: plt.Figure, path: Path, title: str) -> None:
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
