"""CPU seconds and resident memory of every process in a measurement, the broker included.

A background thread samples each watched process (and its children) with psutil every
``interval`` seconds. CPU time is cumulative, so a window's CPU seconds are exact at its
two ends; peak RSS is the largest sample, so a spike shorter than the interval can be
missed. A process that is replaced under the same name (a worker killed and restarted)
keeps the CPU seconds last seen for the old pid.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psutil

logger = logging.getLogger(__name__)

MIB = 1024 * 1024


@dataclass
class _Watched:
    pid: int | None
    retired_cpu: float = 0.0
    last_cpu: float = 0.0
    last_rss: int = 0


@dataclass
class Window:
    """CPU seconds and peak RSS (bytes) per process name between two instants."""

    started: float
    cpu_start: dict[str, float]
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    peak_rss: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def observe(self, rss: dict[str, int]) -> None:
        for name, value in rss.items():
            self.peak_rss[name] = max(self.peak_rss.get(name, 0), value)


class ResourceSampler:
    """Samples the watched processes until stopped; open windows collect CPU and peaks."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self._watched: dict[str, _Watched] = {}
        self._windows: list[Window] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="resource-sampler", daemon=True)
        self.series: list[tuple[float, dict[str, int]]] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def watch(self, name: str, pid: int) -> None:
        """Watch ``pid`` as ``name``; a name watched before keeps its earlier CPU seconds."""
        with self._lock:
            previous = self._watched.get(name)
            retired = previous.retired_cpu + previous.last_cpu if previous else 0.0
            self._watched[name] = _Watched(pid, retired_cpu=retired)
        self.sample()

    def unwatch(self, name: str) -> None:
        """Stop sampling ``name``; its CPU seconds stay in the totals."""
        self.sample()
        with self._lock:
            watched = self._watched.get(name)
            if watched is not None:
                watched.pid = None

    def cpu_totals(self) -> dict[str, float]:
        with self._lock:
            return {name: w.retired_cpu + w.last_cpu for name, w in self._watched.items()}

    @contextmanager
    def window(self) -> Iterator[Window]:
        """Collect CPU seconds and peak RSS of every watched process inside the block."""
        self.sample()
        window = Window(time.monotonic(), self.cpu_totals())
        with self._lock:
            self._windows.append(window)
        try:
            yield window
        finally:
            self.sample()
            with self._lock:
                self._windows.remove(window)
            end = self.cpu_totals()
            window.seconds = time.monotonic() - window.started
            window.cpu_seconds = {
                name: max(0.0, end[name] - window.cpu_start.get(name, 0.0)) for name in end
            }

    def rss(self) -> dict[str, int]:
        """Return the last RSS sample (bytes) of each process still watched."""
        with self._lock:
            return {name: w.last_rss for name, w in self._watched.items() if w.pid is not None}

    def sample(self) -> None:
        with self._lock:
            items = list(self._watched.items())
        rss: dict[str, int] = {}
        for name, watched in items:
            if watched.pid is None:
                continue
            usage = _usage(watched.pid)
            if usage is None:
                continue
            watched.last_cpu, watched.last_rss = usage
            rss[name] = watched.last_rss
        with self._lock:
            for window in self._windows:
                window.observe(rss)
            self.series.append((time.time(), rss))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sample()
            except Exception:
                logger.exception("resource sampling failed; continuing")


def _usage(pid: int) -> tuple[float, int] | None:
    """Return (CPU seconds, RSS bytes) of a process and its children, or None when gone."""
    try:
        process = psutil.Process(pid)
        processes = [process, *process.children(recursive=True)]
    except psutil.Error:
        return None
    cpu = 0.0
    rss = 0
    for member in processes:
        try:
            times = member.cpu_times()
            cpu += times.user + times.system
            rss += member.memory_info().rss
        except psutil.Error:
            continue
    return cpu, rss
