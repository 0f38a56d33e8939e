"""Real wxstream processes for end-to-end tests, started and stopped by pid.

A :class:`ManagedProcess` runs a command in its own session with its output in a log
file, waits for a readiness line, and stops with SIGTERM (then SIGKILL after a
timeout) sent to its pid only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

WXSTREAM = [sys.executable, "-m", "wxstream"]


class ProcessFailed(RuntimeError):
    """A managed process exited early or did not become ready in time."""


class ManagedProcess:
    """One child process with a log file and a readiness line."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str],
        ready_line: str,
        log_path: Path,
        cwd: Path | None = None,
    ) -> None:
        self.args = list(args)
        self.env = dict(env)
        self.ready_line = ready_line
        self.log_path = log_path
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("process not started")
        return self.process.pid

    def start(self, timeout: float = 60.0) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
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
        self._wait_for_line(offset, timeout)
        return self

    def _wait_for_line(self, offset: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready_line in self._log_since(offset):
                return
            if self.process is not None and self.process.poll() is not None:
                raise ProcessFailed(
                    f"{self.args} exited with code {self.process.returncode} before printing "
                    f"{self.ready_line!r}:\n{self.log_tail()}"
                )
            time.sleep(0.2)
        raise ProcessFailed(
            f"{self.args} did not print {self.ready_line!r} within {timeout} s:\n{self.log_tail()}"
        )

    def _log_since(self, offset: int) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return log.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self._log_since(0).splitlines()[-lines:])

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        """Send SIGTERM to the pid, SIGKILL after ``timeout``; return the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL the pid at once, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def __enter__(self) -> ManagedProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def wxstream_env(**settings: str | int | Path) -> dict[str, str]:
    """The current environment plus ``WXSTREAM_<NAME>`` for each keyword argument."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("WXSTREAM_")}
    for name, value in settings.items():
        env[f"WXSTREAM_{name.upper()}"] = str(value)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def worker_process(env: Mapping[str, str], log_path: Path) -> ManagedProcess:
    """A ``wxstream worker`` process; call ``start()`` to run it until it is ready."""
    return ManagedProcess(
        [*WXSTREAM, "worker"], env=env, ready_line="worker ready", log_path=log_path
    )
