"""Real wxstream processes for end-to-end tests, started and stopped by pid."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from wxstream.supervisor import ChildFailed, ChildProcess

WXSTREAM = [sys.executable, "-m", "wxstream"]

ProcessFailed = ChildFailed


class ManagedProcess(ChildProcess):
    """A child process that is ready once ``ready_line`` appears in its log."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str],
        ready_line: str,
        log_path: Path,
        cwd: Path | None = None,
    ) -> None:
        super().__init__(
            Path(log_path).stem, args, env=env, log_path=log_path, ready_line=ready_line, cwd=cwd
        )

    def start(self, timeout: float = 60.0) -> ManagedProcess:  # type: ignore[override]
        super().start(timeout)
        return self

    def log_tail(self, lines: int = 60) -> str:
        return super().log_tail(lines)

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
