"""Child processes with a log file each, started in order and stopped by pid.

A :class:`ChildProcess` runs one command in its own session with stdout and stderr
appended to its log file, waits until it is ready (a line in its log, or a check
function), and stops with SIGTERM to its pid, then SIGKILL after a timeout.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

# How long a child that did not become ready gets to stop after SIGTERM.
STOP_UNREADY_SECONDS = 10.0


class ChildFailed(RuntimeError):
    """A child process exited early or did not become ready in time."""


class ChildProcess:
    """One child process, its log file and its readiness condition."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path,
        ready_line: str | None = None,
        ready_check: Callable[[], bool] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.args = list(args)
        self.env = dict(env)
        self.log_path = log_path
        self.ready_line = ready_line
        self.ready_check = ready_check
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} has not been started")
        return self.process.pid

    def start(self, timeout: float = 60.0) -> None:
        """Start the process and wait until it is ready; otherwise stop it and raise ChildFailed."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.args,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.cwd,
            )
        try:
            self._wait_ready(timeout)
        except ChildFailed:
            # Stopped before the error is raised, so a caller that gives up on the child
            # cannot leave it running.
            self.stop(timeout=STOP_UNREADY_SECONDS)
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._is_ready():
                return
            if self.process is not None and self.process.poll() is not None:
                raise ChildFailed(
                    f"{self.name} exited with code {self.process.returncode} during start-up. "
                    f"Last lines of {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.2)
        raise ChildFailed(
            f"{self.name} was not ready within {timeout:.0f} s. "
            f"Last lines of {self.log_path}:\n{self.log_tail()}"
        )

    def _is_ready(self) -> bool:
        if self.ready_line is not None and self.ready_line not in self.log_since_start():
            return False
        if self.ready_check is not None:
            try:
                return self.ready_check()
            except Exception:  # a failing check means "not ready yet"
                return False
        return True

    def log_since_start(self) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset)
                return log.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_since_start()
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def exit_code(self) -> int | None:
        """Return the exit code, or None while the process runs (or was never started)."""
        return None if self.process is None else self.process.poll()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        """Send SIGTERM to the pid, SIGKILL after ``timeout`` seconds; return the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def kill(self) -> None:
        """Send SIGKILL to the pid at once."""
        if self.process is not None and self.process.poll() is None:
            try:
                os.kill(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            self.process.wait(timeout=10)


class LogFollower:
    """Copies new lines of several log files to one stream, each line prefixed by its name."""

    def __init__(self, stream: IO[str], interval: float = 0.2) -> None:
        self.stream = stream
        self.interval = interval
        self._files: dict[str, tuple[Path, int]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-follower", daemon=True)

    def follow(self, name: str, path: Path) -> None:
        offset = path.stat().st_size if path.exists() else 0
        with self._lock:
            self._files[name] = (path, offset)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._copy_new_lines()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._copy_new_lines()

    def _copy_new_lines(self) -> None:
        with self._lock:
            items = list(self._files.items())
        width = max((len(name) for name, _ in items), default=0)
        for name, (path, offset) in items:
            try:
                with path.open("rb") as log:
                    log.seek(offset)
                    data = log.read()
            except OSError:
                continue
            complete = data[: data.rfind(b"\n") + 1]
            if not complete:
                continue
            for line in complete.decode("utf-8", errors="replace").splitlines():
                self.stream.write(f"{name:<{width}} | {line}\n")
            self.stream.flush()
            with self._lock:
                self._files[name] = (path, offset + len(complete))
