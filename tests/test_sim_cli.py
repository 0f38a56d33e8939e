"""``wxstream sim`` as a subprocess: the ready line, serving, and stopping on SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

READY = re.compile(r"^simulator ready on (http://127\.0\.0\.1:\d+/v1)$")
START_TIMEOUT_SECONDS = 20


def start_sim(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "wxstream", "sim", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_until_ready(process: subprocess.Popen[str]) -> tuple[str, list[str]]:
    assert process.stdout is not None
    lines = []
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        match = READY.match(lines[-1])
        if match:
            return match.group(1), lines
    raise AssertionError(f"no ready line; output so far: {lines}")


def stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
        raise


def test_cli_prints_ready_line_and_serves() -> None:
    process = start_sim(
        "--token", "cli-token", "--bot-name", "Ops Bot", "--bot-email", "ops@webex.bot"
    )
    try:
        base_url, lines = read_until_ready(process)
        me = httpx.get(
            f"{base_url}/people/me", headers={"Authorization": "Bearer cli-token"}, timeout=5
        )
    finally:
        code = stop(process)

    assert "bot token: cli-token" in lines
    assert me.json()["displayName"] == "Ops Bot"
    assert code == 0


def test_cli_generates_and_prints_token_when_none_given() -> None:
    process = start_sim()
    try:
        base_url, lines = read_until_ready(process)
        token = next(
            line.removeprefix("bot token: ") for line in lines if line.startswith("bot token: ")
        )
        me = httpx.get(
            f"{base_url}/people/me", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
    finally:
        stop(process)

    assert me.status_code == 200


def test_cli_invalid_scenario_fails_with_message(tmp_path: Path) -> None:
    scenario = tmp_path / "broken.yaml"
    scenario.write_text("rooms: [{type: direct, members: [a@example.com]}]", encoding="utf-8")

    result = subprocess.run(
        [sys.executable, "-m", "wxstream", "sim", "--port", "0", "--scenario", str(scenario)],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 1
    assert "broken.yaml" in result.stderr
    assert "two members" in result.stderr
