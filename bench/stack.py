"""The processes of a benchmark run: broker, simulator, ingest, worker and baselines.

One :class:`Stack` owns a temporary folder, a Kafka broker on free loopback ports
(the project's :class:`LocalBroker`), one Webex simulator process and the resource
sampler. Components and baselines are :class:`ChildProcess` instances, started with
the settings of one run (a topic prefix of their own) and stopped by pid.
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import socket
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.resources import ResourceSampler
from schemas.topics import TopicCatalog
from wxstream.broker import BrokerConfig, LocalBroker
from wxstream.settings import Settings, load_settings
from wxstream.supervisor import ChildProcess
from wxstream.topics import ensure_topics

logger = logging.getLogger(__name__)

PYTHON = sys.executable
WXSTREAM = [PYTHON, "-m", "wxstream"]
HTTP_TIMEOUT_SECONDS = 30.0
BROKER = "broker"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Stack:
    """The shared broker and simulator of one benchmark, and the processes of each run."""

    def __init__(self, root: Path, heap: str = "512m") -> None:
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.defaults: Settings = load_settings()
        self.broker = LocalBroker(
            BrokerConfig(
                version=self.defaults.kafka_version,
                cache_dir=self.defaults.kafka_cache_dir,
                data_dir=root / "kafka",
                port=free_port(),
                controller_port=free_port(),
                heap=heap,
            ),
            progress=lambda line: logger.info("kafka: %s", line),
        )
        self.sampler = ResourceSampler()
        self.secret = secrets.token_urlsafe(24)
        self.api_token = secrets.token_urlsafe(24)
        self.bot_token = secrets.token_urlsafe(24)
        self.sim_port = free_port()
        self.sim: ChildProcess | None = None
        self.http = httpx.Client(timeout=HTTP_TIMEOUT_SECONDS, trust_env=False)
        self._prefixes = itertools.count(1)
        self._children: list[ChildProcess] = []

    # --- shared services ---------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        return self.broker.config.bootstrap

    @property
    def partitions(self) -> int:
        return self.defaults.topic_partitions

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    def start(self) -> None:
        self.sampler.start()
        self.start_broker()
        self.sim = self.spawn(
            "sim",
            [
                *WXSTREAM,
                "--log-level",
                "WARNING",
                "sim",
                "--port",
                str(self.sim_port),
            ],
            # The token goes in the environment: on the command line any process could
            # read it, and argparse would take a token that starts with "-" for an option.
            env={**self.env("bench-none."), "WXSTREAM_SIM_TOKEN": self.bot_token},
            ready_line="simulator ready on",
        )

    def start_broker(self) -> float:
        """Start the broker (again) on its ports and data; return once an admin client connects."""
        pid = self.broker.start(timeout=120)
        self.sampler.watch(BROKER, pid)
        return time.time()

    def stop_broker(self) -> None:
        self.broker.stop(timeout=30)

    def close(self) -> None:
        for child in reversed(self._children):
            self.stop(child)
        self.broker.stop(timeout=30)
        self.sampler.stop()
        self.http.close()

    # --- runs --------------------------------------------------------------------------

    def new_prefix(self, label: str) -> str:
        """Return a fresh topic prefix and create the catalog's topics under it."""
        prefix = f"bench{next(self._prefixes):03d}-{label}."
        catalog = TopicCatalog(prefix=prefix, partitions=self.partitions)
        ensure_topics(self.bootstrap, catalog)
        return prefix

    def env(self, prefix: str, **settings: Any) -> dict[str, str]:
        """Return the environment of one run's component: broker, prefix, secrets, simulator."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("WXSTREAM_")}
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": self.bootstrap,
            "topic_prefix": prefix,
            "api_token": self.api_token,
            "webhook_secret": self.secret,
            "webex_token": self.bot_token,
            "webex_api_url": f"{self.sim_url}/v1",
            "state_dir": self.root / "state" / prefix.rstrip("."),
            "log_dir": self.logs,
            # The baselines get this linger too, so the components receive it explicitly.
            "producer_linger_ms": self.defaults.producer_linger_ms,
            **settings,
        }
        env.update({f"WXSTREAM_{name.upper()}": str(value) for name, value in values.items()})
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def spawn(
        self,
        name: str,
        args: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        ready_line: str | None = None,
        ready_url: str | None = None,
        timeout: float = 120.0,
    ) -> ChildProcess:
        """Start a child process, wait until it is ready and watch its resources."""
        check = (
            (lambda: self.http.get(ready_url, timeout=2).status_code == 200) if ready_url else None
        )
        child = ChildProcess(
            name,
            args,
            env=env if env is not None else self.env("bench-none."),
            log_path=self.logs / f"{name}.log",
            ready_line=ready_line,
            ready_check=check,
        )
        self._children.append(child)
        child.start(timeout=timeout)
        self.sampler.watch(name, child.pid)
        return child

    def stop(self, child: ChildProcess, timeout: float = 30.0) -> None:
        if child.running():
            self.sampler.sample()
            child.stop(timeout=timeout)
        self.sampler.unwatch(child.name)
        if child in self._children:
            self._children.remove(child)

    def start_ingest(self, prefix: str, name: str = "ingest") -> tuple[ChildProcess, int]:
        port = free_port()
        child = self.spawn(
            name,
            [*WXSTREAM, "ingest", "--host", "127.0.0.1", "--port", str(port)],
            env=self.env(prefix),
            ready_url=f"http://127.0.0.1:{port}/readyz",
        )
        return child, port

    def start_worker(
        self,
        prefix: str,
        name: str = "worker",
        agents: Sequence[str] = (),
        **settings: Any,
    ) -> ChildProcess:
        """Start ``wxstream worker``; with ``agents``, only those agent modules run."""
        command = [PYTHON, "-m", "bench.agent_worker", *agents] if agents else [*WXSTREAM, "worker"]
        return self.spawn(
            name,
            command,
            env=self.env(prefix, **settings),
            ready_line="worker ready",
            timeout=180,
        )

    def start_baseline(
        self,
        name: str,
        module: str,
        args: Sequence[str],
        prefix: str = "bench-none.",
        ready_url: str | None = None,
    ) -> ChildProcess:
        """Start ``python -m bench.baselines.<module>``, ready at ``ready_url`` or on "ready"."""
        return self.spawn(
            name,
            [PYTHON, "-m", f"bench.baselines.{module}", *args],
            env=self.env(prefix),
            ready_line=None if ready_url else "ready",
            ready_url=ready_url,
        )

    # --- simulator control --------------------------------------------------------------

    def sim_control(
        self, verb: str, path: str, body: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        """Call the simulator's control API; raise RuntimeError on an error status."""
        response = self.http.request(verb, f"{self.sim_url}/_sim/{path}", json=body, params=params)
        if response.status_code >= 400:
            raise RuntimeError(
                f"simulator {verb} /_sim/{path} failed with {response.status_code}: "
                f"{response.text[:300]}"
            )
        return None if response.status_code == 204 else response.json()

    def sim_reset(self) -> None:
        self.sim_control("POST", "reset")

    def bot_messages(self) -> list[dict[str, Any]]:
        """Return every message the bot posted since the last reset."""
        return self.bot_messages_after(0)[0]

    def bot_messages_after(self, sequence: int) -> tuple[list[dict[str, Any]], int]:
        """Return the bot's messages created after ``sequence`` and the sequence to pass next.

        Sequences count every message the simulator stored, across resets.
        """
        params = {"personEmail": self.bot_email(), "afterSequence": str(sequence)}
        listing = self.sim_control("GET", "messages", params=params)
        return listing["items"], int(listing["lastSequence"])

    def bot_email(self) -> str:
        return str(self.sim_control("GET", "bot")["emails"][0])


@contextmanager
def running_stack(keep: Path | None = None) -> Iterator[Stack]:
    """Start a stack in a temporary folder (or ``keep``) and stop everything at the end."""
    with tempfile.TemporaryDirectory(prefix="wxstream-bench-") as scratch:
        stack = Stack(keep or Path(scratch))
        try:
            stack.start()
            yield stack
        finally:
            stack.close()
