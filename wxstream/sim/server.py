"""Running a simulator: in a background thread of this process, for tests and ``wxstream up``.

Example::

    with SimulatorServer(token="dev-token", bot_name="Zabbix Bot") as sim:
        httpx.get(f"{sim.base_url}/people/me", headers={"Authorization": f"Bearer {sim.bot_token}"})
        sim.post_message(room_id, "ann@example.com", "hello", mentions=[sim.bot["id"]])
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from dataclasses import fields
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from wxstream.sim.app import create_app
from wxstream.sim.config import SimConfig
from wxstream.sim.scenario import Scenario, load_scenario, parse_scenario
from wxstream.sim.simulator import Simulator

CONTROL_TIMEOUT_SECONDS = 10.0


class SimulatorError(Exception):
    """The simulator could not start, or a control call failed."""


def build_config(
    token: str | None = None,
    bot_name: str | None = None,
    bot_email: str | None = None,
    scenario: Scenario | None = None,
    **settings: Any,
) -> SimConfig:
    """Merge the settings: explicit arguments win over the scenario's bot, then defaults."""
    known = {field.name for field in fields(SimConfig)}
    unknown = set(settings) - known
    if unknown:
        raise TypeError(f"unknown simulator settings: {', '.join(sorted(unknown))}")
    bot = scenario.bot if scenario else {}
    values: dict[str, Any] = {
        "bot_token": token or bot.get("token"),
        "bot_name": bot_name or bot.get("displayName"),
        "bot_email": bot_email or bot.get("email"),
    }
    values.update(settings)
    return SimConfig(**{key: value for key, value in values.items() if value is not None})


def resolve_scenario(scenario: str | Path | Scenario | dict[str, Any] | None) -> Scenario | None:
    if scenario is None or isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, dict):
        return parse_scenario(scenario)
    return load_scenario(scenario)


def check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SimulatorError(
            f"host {host!r} is not a loopback address: the control API has no authentication, "
            "so bind 127.0.0.1 (or ::1)."
        )


class SimulatorServer:
    """A simulator served by uvicorn in a daemon thread; a context manager starts and stops it."""

    def __init__(
        self,
        token: str | None = None,
        bot_name: str | None = None,
        bot_email: str | None = None,
        scenario: str | Path | Scenario | dict[str, Any] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        **settings: Any,
    ) -> None:
        check_loopback(host)
        loaded = resolve_scenario(scenario)
        self.config = build_config(token, bot_name, bot_email, loaded, **settings)
        # False when the simulator made up the bot token, which is then safe to print.
        self.token_given = bool(token or (loaded is not None and loaded.bot.get("token")))
        self.simulator = Simulator(self.config, loaded)
        self.host = host
        self.requested_port = port
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._client: httpx.Client | None = None

    # Lifecycle

    def start(self, timeout: float = 10.0) -> SimulatorServer:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.requested_port))
        except OSError as exc:
            sock.close()
            raise SimulatorError(
                f"cannot bind {self.host}:{self.requested_port}: {exc.strerror}; "
                "choose another port or 0 for a free one"
            ) from None
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.simulator),
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="webex-simulator", daemon=True
        )
        self._thread.start()
        self._wait_started(timeout)
        self._client = httpx.Client(timeout=CONTROL_TIMEOUT_SECONDS, trust_env=False)
        return self

    def _wait_started(self, timeout: float) -> None:
        assert self._server is not None and self._thread is not None
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise SimulatorError("the simulator server stopped during start-up; see its log")
            if time.monotonic() > deadline:
                self.stop()
                raise SimulatorError(f"the simulator did not start within {timeout} s")
            time.sleep(0.01)

    def stop(self, timeout: float = 10.0) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # Addresses and the bot

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + self.config.api_prefix

    @property
    def control_url(self) -> str:
        return self.url + "/_sim"

    @property
    def bot_token(self) -> str:
        return self.config.bot_token

    @property
    def bot(self) -> dict[str, Any]:
        bot = self.simulator.bot
        return {"id": bot.id, "emails": [bot.email], "displayName": bot.display_name, "type": "bot"}

    # Control API helpers

    def control(
        self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any
    ) -> Any:
        """Call ``/_sim/<path>`` and return the decoded JSON (None for 204)."""
        if self._client is None:
            raise SimulatorError("the simulator is not running: call start() first")
        response = self._client.request(
            method, f"{self.control_url}/{path.lstrip('/')}", json=body, params=params or None
        )
        if response.status_code >= 400:
            raise SimulatorError(
                f"{method} {response.url.path} failed with {response.status_code}: {response.text}"
            )
        return None if response.status_code == 204 else response.json()

    def create_person(
        self, email: str, display_name: str | None = None, type: str = "person"
    ) -> dict[str, Any]:
        body = {"email": email, "displayName": display_name, "type": type}
        return dict(self.control("POST", "people", body))

    def create_room(self, title: str, members: list[str], type: str = "group") -> dict[str, Any]:
        return dict(
            self.control("POST", "rooms", {"title": title, "type": type, "members": members})
        )

    def post_message(
        self,
        room_id: str | None,
        person_email: str,
        text: str,
        mentions: list[str] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        body = {
            "roomId": room_id,
            "personEmail": person_email,
            "text": text,
            "mentions": mentions or [],
        }
        return dict(self.control("POST", "messages", {**body, **extra}))

    def submit_card(
        self, message_id: str, person_email: str, inputs: dict[str, Any]
    ) -> dict[str, Any]:
        body = {"personEmail": person_email, "inputs": inputs}
        return dict(self.control("POST", f"cards/{message_id}/submit", body))

    def add_fault(self, **spec: Any) -> str:
        return str(self.control("POST", "faults", spec)["id"])

    def clear_faults(self) -> None:
        self.control("DELETE", "faults")

    def reset(self) -> None:
        self.control("POST", "reset")

    def deliveries(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "deliveries")["items"])

    def requests(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "requests")["items"])

    def wait_for_deliveries(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Poll until at least ``count`` deliveries are recorded; raise on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.deliveries()
            if len(records) >= count:
                return records
            if time.monotonic() > deadline:
                raise SimulatorError(
                    f"expected {count} webhook deliveries within {timeout} s, got {len(records)}"
                )
            time.sleep(0.01)
