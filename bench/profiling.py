"""Sampling profiles of a running process with py-spy, summarised for the results page.

``py-spy record --format raw`` writes one line per distinct stack with its sample count.
The summary groups samples by the package of the innermost frame (where the CPU was
when sampled) and lists the busiest functions. Idle threads are not sampled.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

INSTALL_HINT = "py-spy is not installed: pip install py-spy (it is in the bench extra)"
FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^():]*)(?::\d+)?\)$")
PROJECT_PACKAGES = ("ingest", "processors", "schemas", "wxstream", "bench")
EVENT_LOOP = "event loop (C)"


@dataclass
class Profile:
    """Sample shares (0..1) by package and by function of one recorded process."""

    label: str
    samples: int
    packages: list[tuple[str, float]]
    functions: list[tuple[str, float]]

    def describe(self, top: int = 6) -> str:
        packages = ", ".join(f"{name} {share:.0%}" for name, share in self.packages[:top])
        functions = ", ".join(f"`{name}` {share:.0%}" for name, share in self.functions[:top])
        return (
            f"Profile of {self.label} ({self.samples:,} py-spy samples, innermost frame): "
            f"by package {packages}; busiest functions {functions}."
        )


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Recorder:
    """A py-spy recording of one pid, running in the background for ``seconds``."""

    def __init__(self, pid: int, seconds: float, output: Path, label: str) -> None:
        self.output = output
        self.label = label
        self.process: subprocess.Popen[bytes] | None = None
        executable = py_spy()
        if executable is None:
            logger.warning(INSTALL_HINT)
            return
        command = [
            executable,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            "100",
            "--format",
            "raw",
            "--output",
            str(output),
            "--nonblocking",
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def finish(self, timeout: float = 60.0) -> Profile | None:
        """Wait for the recording and return its summary, or None when it failed."""
        if self.process is None:
            return None
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        if not self.output.exists():
            logger.warning("py-spy wrote no profile for %s", self.label)
            return None
        return summarise(self.output.read_text(errors="replace"), self.label)


def summarise(raw: str, label: str) -> Profile:
    """Summarise py-spy raw output: ``frame;frame;...;innermost count`` per line."""
    packages: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        innermost = stack.split(";")[-1]
        function, package = _frame(innermost)
        packages[package] += count
        functions[function] += count
        total += count
    return Profile(label, total, _shares(packages, total), _shares(functions, total))


def _frame(text: str) -> tuple[str, str]:
    match = FRAME.match(text.strip())
    if match is None:
        return text.strip(), "other"
    path = match.group("path")
    function = match.group("function")
    if Path(path).name == "runners.py" or function.endswith("run_forever"):
        # The event loop's own frame is innermost while C code runs: uvloop's I/O,
        # httptools parsing and librdkafka calls show up here without --native.
        return "event loop and C extensions", EVENT_LOOP
    return f"{function} ({Path(path).name})", package_of(path)


def package_of(path: str) -> str:
    """Return the top-level package or module of a source path, or ``stdlib``.

    py-spy (0.4) shortens paths to their import form (``json/encoder.py``,
    ``faust/agents/agent.py``), so a relative path starts with its top-level name.
    """
    parts = Path(path).parts
    if "site-packages" in parts:
        index = parts.index("site-packages")
        if index + 1 < len(parts):
            return parts[index + 1].removesuffix(".py").split(".")[0]
    for name in PROJECT_PACKAGES:
        if name in parts:
            return name
    if parts and not Path(path).is_absolute():
        return parts[0].removesuffix(".py")
    return "stdlib" if "python3" in path else "other"


def _shares(counter: Counter[str], total: int) -> list[tuple[str, float]]:
    return [(name, count / total) for name, count in counter.most_common()] if total else []
