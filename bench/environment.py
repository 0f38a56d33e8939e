"""The machine and software versions a benchmark ran on, for the results page."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import psutil

# The checkout this harness runs from.
SOURCE = Path(__file__).resolve().parent.parent
# Excluded from the local-changes check: the files a run writes.
OUTPUT_PATHSPECS = (":!bench/RESULTS.md", ":!bench/charts", ":!bench/out")

PACKAGES = (
    "faust-streaming",
    "aiokafka",
    "confluent-kafka",
    "fastapi",
    "uvicorn",
    "uvloop",
    "httptools",
    "httpx",
)


@dataclass
class Environment:
    """Cores, memory, CPU model, OS and versions; ``kafka`` is the broker's version."""

    kafka: str
    partitions: int
    linger_ms: int
    date: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))

    def rows(self) -> list[tuple[str, str]]:
        import confluent_kafka

        memory = psutil.virtual_memory().total / 1024**3
        rows = [
            ("date", self.date),
            ("wxstream commit", _commit()),
            ("CPU", f"{_cpu_model()}, {os.cpu_count()} logical cores"),
            ("memory", f"{memory:.1f} GiB"),
            ("OS", f"{platform.system()} {platform.release()}"),
            ("Python", platform.python_version()),
            ("Apache Kafka (broker)", self.kafka),
            ("partitions per topic", str(self.partitions)),
            ("producer linger (wxstream and the Kafka baselines)", f"{self.linger_ms} ms"),
            ("librdkafka", confluent_kafka.libversion()[0]),
        ]
        rows.extend((name, _version(name)) for name in PACKAGES)
        return rows

    def table(self):  # type: ignore[no-untyped-def]
        from bench.report import Table

        table = Table(["item", "value"])
        for name, value in self.rows():
            table.add(name, value)
        return table


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _commit() -> str:
    """Return the checked-out commit, marked "with local changes" when the tree differs."""
    try:
        head = _git("rev-parse", "--short=12", "HEAD")
        # The results page and charts are this harness's own output, not local changes.
        dirty = _git("status", "--porcelain", "--untracked-files=no", "--", ".", *OUTPUT_PATHSPECS)
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return f"{head} with local changes" if dirty else head


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", *args], capture_output=True, text=True, timeout=10, check=True, cwd=SOURCE
    )
    return done.stdout.strip()


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"
