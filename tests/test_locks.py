"""Two processes never manage the same broker data folder or ``up`` state at once."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.kafka_harness import free_port
from tests.processes import WXSTREAM, wxstream_env
from wxstream.locks import LockBusy, exclusive_lock


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WXSTREAM, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_lock_second_holder_gets_first_pid(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"

    with exclusive_lock(path), pytest.raises(LockBusy) as raised, exclusive_lock(path):
        pass

    assert raised.value.holder_pid == os.getpid()


def test_lock_released_after_block(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"

    with exclusive_lock(path):
        pass
    with exclusive_lock(path):
        assert path.read_text().strip() == str(os.getpid())


def test_kafka_start_during_another_start_does_nothing(tmp_path: Path) -> None:
    env = wxstream_env(
        kafka_data_dir=tmp_path, kafka_port=free_port(), kafka_controller_port=free_port()
    )

    with exclusive_lock(tmp_path / "broker.lock"):
        result = run_cli(env, "kafka", "start")

    assert result.returncode == 1
    assert f"process {os.getpid()} is starting or stopping the Kafka broker" in result.stderr
    assert not (tmp_path / "broker.pid").exists()
    assert not (tmp_path / "server.properties").exists()


def test_up_while_another_up_runs_names_it(tmp_path: Path) -> None:
    env = wxstream_env(
        state_dir=tmp_path / "state",
        log_dir=tmp_path / "logs",
        kafka_data_dir=tmp_path / "kafka",
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
    )

    with exclusive_lock(tmp_path / "state" / "up.lock"):
        result = run_cli(env, "up")

    assert result.returncode == 1
    assert f"another wxstream up (pid {os.getpid()}) is running" in result.stdout
    assert not (tmp_path / "kafka" / "broker.pid").exists()
