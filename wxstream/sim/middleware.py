"""The ASGI layer in front of the routes: tracking ids, bearer tokens, faults, request log.

Every response gets a ``TrackingID`` header. Requests under the API prefix must carry a
known bearer token (the owner is put in the scope under ``PERSON_KEY``), pass the active
faults, and are recorded in the simulator's request log with their status.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from wxstream.sim.clock import iso_from_epoch
from wxstream.sim.errors import error_body, new_tracking_id
from wxstream.sim.faults import Decision
from wxstream.sim.simulator import Simulator
from wxstream.sim.state import Person

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PERSON_KEY = "wxsim.person"
TRACKING_KEY = "wxsim.tracking_id"
UNAUTHORIZED = "The request requires a valid access token set in the Authorization request header."


class WebexMiddleware:
    def __init__(self, app: ASGIApp, simulator: Simulator) -> None:
        self.app = app
        self.sim = simulator
        self.prefix = simulator.config.api_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracking_id = new_tracking_id()
        scope[TRACKING_KEY] = tracking_id
        path: str = scope["path"]
        if path == self.prefix or path.startswith(self.prefix + "/"):
            await self._api_request(scope, receive, send, tracking_id)
        else:
            await self.app(scope, receive, _with_tracking_id(send, tracking_id, {}))

    async def _api_request(
        self, scope: Scope, receive: Receive, send: Send, tracking_id: str
    ) -> None:
        started = time.time()
        outcome: dict[str, Any] = {"status": None}
        send = _with_tracking_id(send, tracking_id, outcome)
        person = self._authenticate(scope)
        try:
            if person is None:
                await _send_error(send, 401, UNAUTHORIZED, tracking_id)
                return
            scope[PERSON_KEY] = person
            channel = await self._apply_faults(scope, receive, send, person, tracking_id)
            if channel is not None:
                await self.app(scope, channel, send)
        finally:
            self._record(scope, person, outcome["status"], started, tracking_id)

    def _authenticate(self, scope: Scope) -> Person | None:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer":
                    return None
                return self.sim.state.person_of_token(token.strip())
        return None

    async def _apply_faults(
        self, scope: Scope, receive: Receive, send: Send, person: Person, tracking_id: str
    ) -> Receive | None:
        """Apply matching faults; return the receive channel to continue with, or None if done."""
        faults = self.sim.faults
        if not faults.has_request_faults:
            return receive
        method: str = scope["method"]
        path: str = scope["path"]
        paths = (path, path[len(self.prefix) :] or "/")
        room_id = _query_value(scope, "roomId")
        if room_id is None and method in ("POST", "PUT") and faults.needs_room(method, paths):
            body = await _read_body(receive)
            room_id = _json_room_id(body)
            receive = _replay(body, receive)
        decision = faults.decide(method, paths, person.id, room_id)
        return await self._enact(decision, receive, send, tracking_id)

    async def _enact(
        self, decision: Decision, receive: Receive, send: Send, tracking_id: str
    ) -> Receive | None:
        if decision.delay_seconds:
            await asyncio.sleep(decision.delay_seconds)
        if decision.status is not None:
            await _send_error(
                send, decision.status, decision.message, tracking_id, decision.headers
            )
            return None
        if decision.hang:
            body = await _read_body(receive)
            limit = decision.hang_seconds or self.sim.config.max_hang_seconds
            if await _wait_for_disconnect(receive, limit):
                return None
            return _replay(body, receive)
        return receive

    def _record(
        self,
        scope: Scope,
        person: Person | None,
        status: int | None,
        started: float,
        tracking_id: str,
    ) -> None:
        self.sim.requests.append(
            {
                "method": scope["method"],
                "path": scope["path"],
                "query": scope["query_string"].decode("latin-1"),
                "status": status,
                "time": started,
                "timeIso": iso_from_epoch(started),
                "latencyMs": round((time.time() - started) * 1000, 3),
                "tokenOwner": person.email if person else None,
                "personId": person.id if person else None,
                "trackingId": tracking_id,
            }
        )


def _with_tracking_id(send: Send, tracking_id: str, outcome: dict[str, Any]) -> Send:
    header = (b"trackingid", tracking_id.encode("ascii"))

    async def send_with_header(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), header]
            outcome["status"] = message["status"]
        await send(message)

    return send_with_header


async def _send_error(
    send: Send, status: int, text: str, tracking_id: str, headers: dict[str, str] | None = None
) -> None:
    body = json.dumps(error_body(text, tracking_id), separators=(",", ":")).encode("utf-8")
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
    ]
    raw_headers.extend(
        (key.lower().encode("latin-1"), value.encode("latin-1"))
        for key, value in (headers or {}).items()
    )
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def _query_value(scope: Scope, name: str) -> str | None:
    query = scope["query_string"].decode("latin-1")
    if name not in query:
        return None
    values = parse_qs(query).get(name)
    return values[0] if values else None


def _json_room_id(body: bytes) -> str | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    room_id = document.get("roomId") if isinstance(document, dict) else None
    return room_id if isinstance(room_id, str) else None


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, live: Receive) -> Receive:
    """Return a receive channel that yields the already read ``body``, then the live one."""
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await live()

    return receive


async def _wait_for_disconnect(receive: Receive, limit: float) -> bool:
    """Wait until the client disconnects (True) or ``limit`` seconds pass (False)."""

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(disconnected(), limit)
    except TimeoutError:
        return False
    return True
