"""``wxstream sim`` as a subprocess: the ready line, serving, and stopping on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from wxstream.cli import build_parser, main

READY = re.compile(r"^simulator ready on (http://127\.0\.0\.1:\d+/v1)$")
START_TIMEOUT_SECONDS = 20


def start_sim(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    base = {name: value for name, value in os.environ.items() if name != "WXSTREAM_SIM_TOKEN"}
    return subprocess.Popen(
        [sys.executable, "-m", "wxstream", "sim", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**base, **(env or {})},
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

    assert "bot token: as given" in lines
    assert not any("cli-token" in line for line in lines)
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


def test_cli_reads_token_from_environment_and_hides_it() -> None:
    process = start_sim(env={"WXSTREAM_SIM_TOKEN": "env-token-1234"})
    try:
        base_url, lines = read_until_ready(process)
        me = httpx.get(
            f"{base_url}/people/me", headers={"Authorization": "Bearer env-token-1234"}, timeout=5
        )
    finally:
        stop(process)
    _, stderr = process.communicate(timeout=10)

    assert me.status_code == 200
    assert "bot token: as given" in lines
    assert not any("env-token-1234" in line for line in lines)
    assert "env-token-1234" not in stderr


def test_cli_token_option_wins_over_environment() -> None:
    process = start_sim("--token", "option-token", env={"WXSTREAM_SIM_TOKEN": "env-token"})
    try:
        base_url, _ = read_until_ready(process)
        option = httpx.get(
            f"{base_url}/people/me", headers={"Authorization": "Bearer option-token"}, timeout=5
        )
        env = httpx.get(
            f"{base_url}/people/me", headers={"Authorization": "Bearer env-token"}, timeout=5
        )
    finally:
        stop(process)

    assert option.status_code == 200
    assert env.status_code == 401


def test_cli_help_documents_token_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["sim", "--help"])

    text = " ".join(capsys.readouterr().out.split())

    assert "WXSTREAM_SIM_TOKEN" in text
    assert "(default: 8900)" in text


def test_cli_default_port_is_up_sim_port() -> None:
    args = build_parser().parse_args(["sim"])

    assert args.port == 8900


def test_cli_client_cut_logs_one_line_without_traceback() -> None:
    process = start_sim("--token", "cut-token")
    try:
        base_url, _ = read_until_ready(process)
        port = int(base_url.rsplit(":", 1)[1].removesuffix("/v1"))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.sendall(
                b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Authorization: Bearer cut-token\r\nContent-Type: application/json\r\n"
                b'Content-Length: 100\r\n\r\n{"roomId": '
            )
            time.sleep(0.3)
        control = base_url.removesuffix("/v1") + "/_sim/requests"
        deadline = time.monotonic() + 10
        statuses: list[object] = []
        while time.monotonic() < deadline and not statuses:
            items = httpx.get(control, timeout=5).json()["items"]
            statuses = [item["status"] for item in items if item["path"] == "/v1/messages"]
            time.sleep(0.1)
    finally:
        stop(process)
    _, stderr = process.communicate(timeout=10)

    assert statuses == [499]
    assert "Traceback" not in stderr
    assert "ERROR" not in stderr
    assert stderr.count("closed the connection") == 1
