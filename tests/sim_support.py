"""Helpers for the simulator tests: a webhook receiver, a bot client and an OpenAPI check."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jsonschema
from referencing import Registry, Resource

from wxstream.sim.server import SimulatorServer

SPEC_SUBSET = Path(__file__).parent / "data" / "webex_messaging_subset.json"


def bot_client(sim: SimulatorServer, timeout: float = 5.0) -> httpx.Client:
    """An HTTP client for the Webex API with the bot's token."""
    return httpx.Client(
        base_url=sim.base_url,
        headers={"Authorization": f"Bearer {sim.bot_token}"},
        timeout=timeout,
        trust_env=False,
    )


def hmac_sha1(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


@dataclass
class Callback:
    path: str
    headers: dict[str, str]
    body: bytes
    received: float

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 that records each POST it gets, byte for byte.

    ``status`` is the response status it sends, after waiting ``delay`` seconds.
    """

    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        self.status = status
        self.delay = delay
        self.callbacks: list[Callback] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                callback = Callback(self.path, dict(self.headers.items()), body, time.time())
                with receiver._lock:
                    receiver.callbacks.append(callback)
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Callback]:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                received = list(self.callbacks)
            if len(received) >= count:
                return received
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"expected {count} callbacks within {timeout} s, got {len(received)}"
                )
            time.sleep(0.01)

    def settle(self, quiet: float = 0.2) -> list[Callback]:
        """Wait until no callback has arrived for ``quiet`` seconds; return all of them."""
        seen = -1
        while True:
            with self._lock:
                count = len(self.callbacks)
            if count == seen:
                return list(self.callbacks)
            seen = count
            time.sleep(quiet)


def register_webhook(
    sim: SimulatorServer, target_url: str, resource: str = "all", event: str = "all", **extra: Any
) -> dict[str, Any]:
    with bot_client(sim) as client:
        body = {
            "name": f"{resource}-{event}",
            "targetUrl": target_url,
            "resource": resource,
            "event": event,
        }
        response = client.post("/webhooks", json={**body, **extra})
    assert response.status_code == 200, response.text
    return dict(response.json())


# OpenAPI checks


@cache
def _spec() -> dict[str, Any]:
    return dict(json.loads(SPEC_SUBSET.read_text(encoding="utf-8")))


# Objects whose keys are chosen by users, such as a card's input ids.
FREE_FORM_PROPERTIES = {"inputs"}


def _forbid_unknown_properties(node: Any, free_form: bool = False) -> Any:
    """Copy a schema so objects with declared properties reject undeclared ones."""
    if isinstance(node, dict):
        result = {
            key: _forbid_unknown_properties(value, key in FREE_FORM_PROPERTIES)
            for key, value in node.items()
        }
        if free_form:
            return result
        if result.get("type") == "object" and "properties" in result:
            result.setdefault("additionalProperties", False)
        return result
    if isinstance(node, list):
        return [_forbid_unknown_properties(item) for item in node]
    return node


def _validator(schema: dict[str, Any], strict: bool) -> jsonschema.Draft7Validator:
    document = copy.deepcopy(_spec())
    if strict:
        document = _forbid_unknown_properties(document)
        schema = _forbid_unknown_properties(schema)
    registry: Registry = Registry().with_resource("urn:webex", Resource.opaque(document))
    rooted = json.loads(json.dumps(schema).replace('"#/components', '"urn:webex#/components'))
    return jsonschema.Draft7Validator(rooted, registry=registry)


def check_response(path: str, method: str, body: Any, strict: bool = True) -> None:
    """Validate a response body against the 200 response schema of ``method path``.

    With ``strict``, a field the spec does not declare is an error too.
    """
    schema = _spec()["paths"][path][method]["responseSchema"]
    errors = sorted(_validator(schema, strict).iter_errors(body), key=str)
    assert not errors, [f"{list(error.absolute_path)}: {error.message}" for error in errors]


def check_request(path: str, method: str, body: Any) -> None:
    schema = _spec()["paths"][path][method]["requestSchema"]
    errors = sorted(_validator(schema, True).iter_errors(body), key=str)
    assert not errors, [f"{list(error.absolute_path)}: {error.message}" for error in errors]
