"""Child processes: readiness, early exits, and stopping a child that never became ready."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from wxstream.supervisor import ChildFailed, ChildProcess


def _python_child(name: str, code: str, folder: Path) -> ChildProcess:
    """Return a child running ``code`` whose ready line never appears."""
    return ChildProcess(
        name,
        [sys.executable, "-c", code],
        env={"PATH": "/usr/bin:/bin"},
        log_path=folder / f"{name}.log",
        ready_line="never printed",
    )


def test_child_not_ready_is_stopped(tmp_path: Path) -> None:
    child = _python_child("sleeper", "import time; time.sleep(60)", tmp_path)

    with pytest.raises(ChildFailed, match="not ready within 1 s"):
        child.start(timeout=1)

    assert not child.running()
    assert child.exit_code() is not None


def test_child_exiting_early_reports_code(tmp_path: Path) -> None:
    child = _python_child("quitter", "print('bad setting'); raise SystemExit(3)", tmp_path)

    with pytest.raises(ChildFailed, match="exited with code 3") as failure:
        child.start(timeout=10)

    assert "bad setting" in str(failure.value)
