"""``wxstream up`` end to end: real broker, simulator, ingest and worker processes.

The old bot's clients keep working: the Zabbix alert script posts alerts for a room and
for a person, a simulated user says hello in a group room, and ``show issues`` answers
from a Zabbix JSON-RPC stand-in. SIGTERM then stops every process.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.kafka_harness import free_port
from tests.processes import WXSTREAM, ManagedProcess, wxstream_env
from tests.zabbix_standin import Fixtures, Host, ZabbixStandIn
from wxstream.settings import default_cache_dir

ROOT = Path(__file__).resolve().parent.parent
ALERT_SCRIPT = ROOT / "contrib" / "wxstream-alert.sh"
USER = "carol@example.com"
STOP_LIMIT_SECONDS = 60


@dataclass
class Installation:
    process: ManagedProcess
    env: dict[str, str]
    ingest_url: str
    control_url: str
    secrets_file: Path
    zabbix: ZabbixStandIn

    def control(
        self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any
    ) -> Any:
        response = httpx.request(
            method, f"{self.control_url}/{path}", json=body, params=params or None, timeout=10
        )
        response.raise_for_status()
        return response.json()

    def api_token(self) -> str:
        for line in self.secrets_file.read_text().splitlines():
            if line.startswith("WXSTREAM_API_TOKEN="):
                return line.split("=", 1)[1]
        raise AssertionError(f"no API token in {self.secrets_file}")

    def wait_for_bot_message(
        self, room_id: str, contains: str, timeout: float = 60, after_id: str | None = None
    ) -> dict[str, Any]:
        """Wait for a bot message in the room, posted after ``after_id`` when given."""
        deadline = time.monotonic() + timeout
        messages: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            messages = self.control("GET", "messages", roomId=room_id)["items"]
            ids = [message["id"] for message in messages]
            start = ids.index(after_id) + 1 if after_id in ids else 0
            for message in messages[start:]:
                text = (message.get("markdown") or "") + (message.get("text") or "")
                if message.get("personEmail", "").endswith("@webex.bot") and contains in text:
                    return message
            time.sleep(0.3)
        raise AssertionError(f"no bot message containing {contains!r} in {room_id}: {messages}")


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    root = tmp_path_factory.mktemp("up")
    fixtures = Fixtures()
    fixtures.add_problem(
        Host("101", "db1", "db1"), "Disk full on /var", priority=4, age_seconds=600
    )
    fixtures.add_problem(
        Host("102", "web1", "web1"),
        "HTTP check failed",
        priority=3,
        age_seconds=60,
        acknowledged=True,
    )
    zabbix = ZabbixStandIn("7.0.0", fixtures=fixtures).start()
    http_port, sim_port = free_port(), free_port()
    env = wxstream_env(
        kafka_data_dir=root / "kafka",
        kafka_cache_dir=os.environ.get("WXSTREAM_KAFKA_CACHE_DIR", default_cache_dir() / "kafka"),
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        kafka_heap="384m",
        topic_partitions=3,
        http_port=http_port,
        sim_port=sim_port,
        state_dir=root / "state",
        log_dir=root / "logs",
        zabbix_url=zabbix.url,
        zabbix_token=zabbix.token,
    )
    process = ManagedProcess(
        [*WXSTREAM, "up"], env=env, ready_line="Press Ctrl-C to stop.", log_path=root / "up.log"
    )
    try:
        process.start(timeout=240)
        yield Installation(
            process=process,
            env=env,
            ingest_url=f"http://127.0.0.1:{http_port}",
            control_url=f"http://127.0.0.1:{sim_port}/_sim",
            secrets_file=root / "state" / "local-secrets.env",
            zabbix=zabbix,
        )
    finally:
        process.stop(timeout=STOP_LIMIT_SECONDS)
        zabbix.stop()


def run_alert_script(installation: Installation, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **installation.env,
        "WXSTREAM_URL": installation.ingest_url,
        "WXSTREAM_API_TOKEN": installation.api_token(),
    }
    return subprocess.run(
        ["sh", str(ALERT_SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def group_room(installation: Installation) -> dict[str, Any]:
    installation.control(
        "POST", "people", {"email": USER, "displayName": "Carol Jones", "type": "person"}
    )
    bot_email = installation.control("GET", "bot")["emails"][0]
    return dict(
        installation.control(
            "POST", "rooms", {"title": "ops", "type": "group", "members": [USER, bot_email]}
        )
    )


def test_up_prints_how_to_talk_to_bot(installation: Installation) -> None:
    output = installation.process.log_since_start()

    assert "running against the Webex simulator" in output
    assert "curl -s -X POST" in output
    assert f"{installation.control_url}/messages?roomId=" in output
    for component in ("kafka", "sim", "ingest", "worker"):
        assert re.search(rf"^{component}\s+ready .*\(pid \d+", output, re.MULTILINE), component


def test_up_alert_script_reaches_room(
    installation: Installation, group_room: dict[str, Any]
) -> None:
    result = run_alert_script(installation, group_room["id"], "Disk full", "db1: /var at 99%")

    assert result.returncode == 0, result.stderr
    message = installation.wait_for_bot_message(group_room["id"], "Disk full")
    assert "db1: /var at 99%" in (message.get("markdown") or message.get("text") or "")


def test_up_alert_script_reaches_person(
    installation: Installation, group_room: dict[str, Any]
) -> None:
    result = run_alert_script(installation, USER, "Backup failed", "nightly job exit 3")

    assert result.returncode == 0, result.stderr
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rooms = installation.control("GET", "rooms")["items"]
        direct = [
            room for room in rooms if room["type"] == "direct" and USER in room.get("members", [])
        ]
        if direct:
            break
        time.sleep(0.3)
    assert direct, "no direct room with the alert's recipient"
    installation.wait_for_bot_message(direct[0]["id"], "Backup failed")


def test_up_alert_script_fails_on_bad_token(installation: Installation) -> None:
    env = {
        **installation.env,
        "WXSTREAM_URL": installation.ingest_url,
        "WXSTREAM_API_TOKEN": "wrong",
    }

    result = subprocess.run(
        ["sh", str(ALERT_SCRIPT), USER, "subject", "message"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert "HTTP 401" in result.stderr


def test_up_group_hello_mentions_caller(
    installation: Installation, group_room: dict[str, Any]
) -> None:
    bot = installation.control("GET", "bot")
    first_name = bot["displayName"].split()[0]

    question = installation.control(
        "POST",
        "messages",
        {
            "roomId": group_room["id"],
            "personEmail": USER,
            "text": f"@{first_name} hello",
            "mentions": [bot["id"]],
        },
    )

    reply = installation.wait_for_bot_message(
        group_room["id"], "show issues", after_id=question["id"]
    )
    person = installation.control("GET", "people")["items"]
    carol = next(p for p in person if USER in p["emails"])
    assert carol["id"] in reply.get("mentionedPeople", [])


def test_up_show_issues_lists_zabbix_problems(
    installation: Installation, group_room: dict[str, Any]
) -> None:
    bot = installation.control("GET", "bot")
    first_name = bot["displayName"].split()[0]

    installation.control(
        "POST",
        "messages",
        {
            "roomId": group_room["id"],
            "personEmail": USER,
            "text": f"@{first_name} show issues",
            "mentions": [bot["id"]],
        },
    )

    reply = installation.wait_for_bot_message(group_room["id"], "Disk full on /var")
    body = reply.get("markdown") or reply.get("text") or ""
    assert "HTTP check failed" in body
    assert body.index("HTTP check failed") < body.index("Disk full on /var")


def test_up_sigterm_stops_every_process(installation: Installation) -> None:
    output = installation.process.log_since_start()
    pids = [int(pid) for pid in re.findall(r"ready .*?\(pid (\d+)", output)]
    assert len(pids) == 4

    started = time.monotonic()
    os.kill(installation.process.pid, signal.SIGTERM)
    installation.process.process.wait(timeout=STOP_LIMIT_SECONDS)  # type: ignore[union-attr]

    assert time.monotonic() - started < STOP_LIMIT_SECONDS
    assert installation.process.exit_code() == 0
    alive = [
        pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
    ]
    assert alive == []
    assert "kafka    stopped" in installation.process.log_since_start()
