"""PNG charts of the results, drawn with matplotlib's non-interactive Agg backend.

matplotlib is in the ``bench`` extra. Without it every chart function logs how to
install it once and returns False, and the page has no charts.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.stats import percentile

if TYPE_CHECKING:
    from bench.load import LoadResult

logger = logging.getLogger(__name__)

INSTALL_HINT = "matplotlib is not installed, so no charts: pip install -e '.[bench]'"
PERCENTILES = (0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0)
_pyplot: Any = None
_warned = False


def _plt() -> Any:
    """Return matplotlib.pyplot on the Agg backend, or None when matplotlib is missing."""
    global _pyplot, _warned
    if _pyplot is None:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as pyplot
        except ImportError:
            if not _warned:
                logger.warning(INSTALL_HINT)
                _warned = True
            return None
        _pyplot = pyplot
    return _pyplot


def timeline_chart(path: Path, title: str, runs: Mapping[str, LoadResult]) -> bool:
    """Draw responses per second and p99 latency per second of each run on one time axis."""
    plt = _plt()
    if plt is None:
        return False
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
    return _save(figure, path, title)


def percentile_chart(path: Path, title: str, latencies: Mapping[str, Sequence[float]]) -> bool:
    """Draw the latency at p50 … max of each set of samples (milliseconds, log scale)."""
    plt = _plt()
    if plt is None:
        return False
    figure, axes = plt.subplots(figsize=(9, 4.5))
    labels = [_label(fraction) for fraction in PERCENTILES]
    for name, values in latencies.items():
        if values:
            axes.plot(labels, [percentile(values, f) for f in PERCENTILES], marker="o", label=name)
    axes.set_yscale("log")
    axes.set_ylabel("latency (ms)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    return _save(figure, path, title)


def series_chart(
    path: Path, title: str, ylabel: str, series: Mapping[str, Sequence[tuple[float, float]]]
) -> bool:
    """Draw one line per labelled (x, y) series: throughput or memory over time."""
    plt = _plt()
    if plt is None:
        return False
    figure, axes = plt.subplots(figsize=(9, 4.5))
    for name, points in series.items():
        if points:
            axes.plot([p[0] for p in points], [p[1] for p in points], label=name)
    axes.set_xlabel("seconds")
    axes.set_ylabel(ylabel)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    return _save(figure, path, title)


def _label(fraction: float) -> str:
    if fraction == 1.0:
        return "max"
    return f"p{fraction * 100:g}"


def _save(figure: Any, path: Path, title: str) -> bool:
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    _plt().close(figure)
    return True
