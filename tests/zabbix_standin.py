"""A Zabbix JSON-RPC API stand-in: a real HTTP server on 127.0.0.1 for the tests.

It serves ``POST /api_jsonrpc.php`` with the request and response shapes of the Zabbix API
reference, and checks credentials the way the configured version does:

- ``apiinfo.version`` and ``user.login`` must come without the ``auth`` member.
- ``user.login`` takes ``user`` before 5.4, ``user`` or ``username`` from 5.4 to 6.2,
  and only ``username`` from 6.4.
- API tokens are accepted from 5.4.
- Before 6.4 the credential is read from the ``auth`` member only. From 6.4 it is also
  read from ``Authorization: Bearer``, and from 7.2 the ``auth`` member is rejected as an
  unexpected parameter.

Fixtures (hosts, templates, items, triggers, web scenarios) are plain dataclasses; the
``*.get`` methods apply ``filter``, ``countOutput``, ``limit``, sorting and the flags that
``show issues`` and ``show status`` send, and reject parameters they do not know, as
Zabbix does. Every request is recorded in :attr:`ZabbixStandIn.requests`.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from processors.zabbix import ZabbixVersion

# --- fixtures ---------------------------------------------------------------------------


@dataclass
class Host:
    hostid: str
    host: str
    name: str = ""
    status: int = 0  # 0 monitored, 1 not monitored


@dataclass
class Template:
    templateid: str
    host: str


@dataclass
class Item:
    itemid: str
    hostid: str
    status: int = 0  # 0 enabled, 1 disabled
    state: int = 0  # 0 normal, 1 not supported
    templated: bool = False


@dataclass
class Trigger:
    triggerid: str
    description: str
    hostids: tuple[str, ...]
    priority: int = 0
    status: int = 0  # 0 enabled, 1 disabled
    value: int = 0  # 0 OK, 1 problem
    lastchange: int = 0
    acknowledged: bool = False
    dependencies: tuple[str, ...] = ()
    templated: bool = False


@dataclass
class HttpTest:
    httptestid: str
    hostid: str
    name: str = "web scenario"
    status: int = 0  # 0 enabled, 1 disabled
    templated: bool = False


@dataclass
class Fixtures:
    hosts: list[Host] = field(default_factory=list)
    templates: list[Template] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    triggers: list[Trigger] = field(default_factory=list)
    httptests: list[HttpTest] = field(default_factory=list)

    def add_problem(
        self,
        host: Host,
        description: str,
        *,
        priority: int,
        age_seconds: int,
        acknowledged: bool = False,
    ) -> Trigger:
        """Add ``host`` if missing and an enabled trigger of it in problem for ``age_seconds``."""
        if all(existing.hostid != host.hostid for existing in self.hosts):
            self.hosts.append(host)
        trigger = Trigger(
            triggerid=str(10000 + len(self.triggers)),
            description=description,
            hostids=(host.hostid,),
            priority=priority,
            value=1,
            lastchange=int(time.time()) - age_seconds,
            acknowledged=acknowledged,
        )
        self.triggers.append(trigger)
        return trigger


# --- JSON-RPC errors --------------------------------------------------------------------


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: str) -> None:
        super().__init__(data)
        self.code = code
        self.message = message
        self.data = data


def invalid_params(data: str) -> RpcError:
    return RpcError(-32602, "Invalid params.", data)


def unexpected_parameter(name: str) -> RpcError:
    return invalid_params(f'Invalid parameter "/": unexpected parameter "{name}".')


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the stand-in received it."""

    method: str
    body: dict[str, Any]
    authorization: str | None

    @property
    def params(self) -> Any:
        return self.body.get("params")

    @property
    def has_auth_member(self) -> bool:
        return "auth" in self.body


# --- object queries ---------------------------------------------------------------------

COMMON_GET_PARAMETERS = frozenset(
    {"output", "filter", "search", "countOutput", "limit", "sortfield", "sortorder", "preservekeys"}
)
GET_PARAMETERS = {
    "host.get": COMMON_GET_PARAMETERS | {"templated_hosts", "monitored_hosts"},
    "template.get": COMMON_GET_PARAMETERS,
    "item.get": COMMON_GET_PARAMETERS | {"templated", "monitored", "webitems"},
    "trigger.get": COMMON_GET_PARAMETERS
    | {
        "templated",
        "monitored",
        "active",
        "skipDependent",
        "only_true",
        "expandDescription",
        "selectHosts",
        "selectLastEvent",
    },
    "httptest.get": COMMON_GET_PARAMETERS | {"templated", "monitored"},
}


def matches_filter(row: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    for name, wanted in filters.items():
        if name not in row:
            raise invalid_params(f'Invalid parameter "/filter": unexpected parameter "{name}".')
        allowed = wanted if isinstance(wanted, list) else [wanted]
        if str(row[name]) not in {str(value) for value in allowed}:
            return False
    return True


def select_output(row: Mapping[str, Any], output: Any) -> dict[str, Any]:
    if output in (None, "extend"):
        return dict(row)
    return {name: row[name] for name in output if name in row}


def flag(params: Mapping[str, Any], name: str) -> bool:
    """Zabbix ``flag`` parameters count as set when present with any value but null."""
    return params.get(name) is not None


def answer_get(params: Mapping[str, Any], rows: list[dict[str, Any]]) -> Any:
    """Apply filter, sorting, limit and output; return a count string for countOutput."""
    selected = [row for row in rows if matches_filter(row, params.get("filter") or {})]
    if params.get("countOutput"):
        return str(len(selected))
    sortfield = params.get("sortfield")
    if sortfield:
        descending = str(params.get("sortorder", "ASC")).upper() == "DESC"
        selected.sort(key=lambda row: int(row[sortfield]), reverse=descending)
    if params.get("limit") is not None:
        selected = selected[: int(params["limit"])]
    return [select_output(row, params.get("output")) for row in selected]


def templated_choice(params: Mapping[str, Any], templated: bool) -> bool:
    wanted = params.get("templated")
    return wanted is None or bool(wanted) == templated


# --- the server -------------------------------------------------------------------------


class ZabbixStandIn:
    """A Zabbix API stand-in served by uvicorn in a daemon thread."""

    def __init__(
        self,
        version: str = "7.0.0",
        *,
        fixtures: Fixtures | None = None,
        token: str = "standin-api-token",
        user: str = "Admin",
        password: str = "standin-password",
        session_limit: int | None = None,
        certfile: Path | None = None,
        keyfile: Path | None = None,
    ) -> None:
        self.version_text = version
        self.version = ZabbixVersion.parse(version)
        self.fixtures = fixtures or Fixtures()
        self.token = token
        self.user = user
        self.password = password
        # Authenticated requests a session may make before it expires; None never expires.
        self.session_limit = session_limit
        # When set, every request gets 502 with an HTML page, like a proxy whose PHP is down.
        self.down = False
        # Seconds the stand-in waits before it responds, to make clients time out.
        self.delay_seconds = 0.0
        self.requests: list[RecordedRequest] = []
        self._sessions: dict[str, int] = {}
        self._expired: set[str] = set()
        self._lock = threading.Lock()
        self._certfile = certfile
        self._keyfile = keyfile
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        scheme = "https" if self._certfile else "http"
        return f"{scheme}://127.0.0.1:{self.port}/zabbix"

    def start(self, timeout: float = 10.0) -> ZabbixStandIn:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        app = Starlette(routes=[Route("/zabbix/api_jsonrpc.php", self._endpoint, methods=["POST"])])
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            ssl_certfile=str(self._certfile) if self._certfile else None,
            ssl_keyfile=str(self._keyfile) if self._keyfile else None,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="zabbix-standin", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the Zabbix stand-in did not start within {timeout} s")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> ZabbixStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- control ------------------------------------------------------------------------

    def expire_sessions(self) -> None:
        """End every ``user.login`` session, as Zabbix does after the session timeout."""
        with self._lock:
            self._expired.update(self._sessions)
            self._sessions.clear()

    def calls(self, method: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.method == method]

    # --- HTTP ---------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if self.down:
            return HTMLResponse("<html><body>502 Bad Gateway</body></html>", status_code=502)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return self._error(None, RpcError(-32700, "Parse error.", "Invalid JSON."))
        if not isinstance(body, dict) or body.get("jsonrpc") != "2.0" or "method" not in body:
            return self._error(None, RpcError(-32600, "Invalid request.", "Invalid JSON-RPC."))

        authorization = request.headers.get("authorization")
        self.requests.append(RecordedRequest(str(body["method"]), body, authorization))
        try:
            result = self._dispatch(body, authorization)
        except RpcError as exc:
            return self._error(body.get("id"), exc)
        return JSONResponse({"jsonrpc": "2.0", "result": result, "id": body.get("id")})

    def _error(self, request_id: Any, error: RpcError) -> Response:
        payload = {"code": error.code, "message": error.message, "data": error.data}
        return JSONResponse({"jsonrpc": "2.0", "error": payload, "id": request_id})

    def _dispatch(self, body: dict[str, Any], authorization: str | None) -> Any:
        method = str(body["method"])
        params = body.get("params", {})
        if "auth" in body and self.version >= ZabbixVersion(7, 2):
            raise RpcError(
                -32600, "Invalid request.", 'Invalid parameter "/": unexpected parameter "auth".'
            )

        if method in ("apiinfo.version", "user.login"):
            if body.get("auth") is not None:
                raise invalid_params(
                    f'The "{method}" method must be called without the "auth" parameter.'
                )
            if method == "apiinfo.version":
                return self.version_text
            return self._login(params)

        self._authenticate(body, authorization)
        handler = self._handlers().get(method)
        if handler is None:
            raise RpcError(-32601, "Method not found.", f'Incorrect method "{method}".')
        if not isinstance(params, dict):
            raise invalid_params('Invalid parameter "/": an array is expected.')
        for name in params:
            if name not in GET_PARAMETERS[method]:
                raise unexpected_parameter(name)
        return handler(params)

    # --- authentication -----------------------------------------------------------------

    def _login(self, params: Any) -> str:
        if not isinstance(params, dict):
            raise invalid_params('Invalid parameter "/": an array is expected.')
        accepted = {"user"} if self.version < ZabbixVersion(5, 4) else {"username"}
        if ZabbixVersion(5, 4) <= self.version < ZabbixVersion(6, 4):
            accepted = {"user", "username"}
        for name in params:
            if name not in accepted | {"password", "userData"}:
                raise unexpected_parameter(name)
        name = next((params[key] for key in accepted if key in params), None)
        if name != self.user or params.get("password") != self.password:
            raise invalid_params(
                "Incorrect user name or password or account is temporarily blocked."
            )
        session_id = secrets.token_hex(16)
        with self._lock:
            self._sessions[session_id] = 0
        return session_id

    def _credential(self, body: dict[str, Any], authorization: str | None) -> str | None:
        if self.version >= ZabbixVersion(6, 4) and authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer" and value:
                return value
        member = body.get("auth")
        return member if isinstance(member, str) else None

    def _authenticate(self, body: dict[str, Any], authorization: str | None) -> None:
        credential = self._credential(body, authorization)
        not_authorized = (
            "Not authorized." if self.version >= ZabbixVersion(6, 0) else "Not authorised."
        )
        if credential is None:
            raise invalid_params(not_authorized)
        if credential == self.token and self.version >= ZabbixVersion(5, 4):
            return
        with self._lock:
            if credential in self._expired:
                raise invalid_params("Session terminated, re-login, please.")
            if credential not in self._sessions:
                raise invalid_params(not_authorized)
            self._sessions[credential] += 1
            if self.session_limit is not None and self._sessions[credential] > self.session_limit:
                del self._sessions[credential]
                self._expired.add(credential)
                raise invalid_params("Session terminated, re-login, please.")

    # --- methods ------------------------------------------------------------------------

    def _handlers(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {
            "host.get": self._host_get,
            "template.get": self._template_get,
            "item.get": self._item_get,
            "trigger.get": self._trigger_get,
            "httptest.get": self._httptest_get,
        }

    def _host_get(self, params: dict[str, Any]) -> Any:
        rows = [
            {"hostid": h.hostid, "host": h.host, "name": h.name or h.host, "status": str(h.status)}
            for h in self.fixtures.hosts
        ]
        return answer_get(params, rows)

    def _template_get(self, params: dict[str, Any]) -> Any:
        rows = [{"templateid": t.templateid, "host": t.host} for t in self.fixtures.templates]
        return answer_get(params, rows)

    def _item_get(self, params: dict[str, Any]) -> Any:
        rows = [
            {"itemid": i.itemid, "hostid": i.hostid, "status": str(i.status), "state": str(i.state)}
            for i in self.fixtures.items
            if templated_choice(params, i.templated)
        ]
        return answer_get(params, rows)

    def _httptest_get(self, params: dict[str, Any]) -> Any:
        rows = [
            {
                "httptestid": t.httptestid,
                "hostid": t.hostid,
                "name": t.name,
                "status": str(t.status),
            }
            for t in self.fixtures.httptests
            if templated_choice(params, t.templated)
        ]
        return answer_get(params, rows)

    def _trigger_get(self, params: dict[str, Any]) -> Any:
        triggers = [
            trigger
            for trigger in self.fixtures.triggers
            if templated_choice(params, trigger.templated)
            and not (
                (flag(params, "monitored") or flag(params, "active"))
                and not self._is_active(trigger)
            )
            and not (flag(params, "skipDependent") and self._depends_on_problem(trigger))
        ]
        rows = [self._trigger_row(trigger, params) for trigger in triggers]
        result = answer_get(params, rows)
        if isinstance(result, list):
            by_id = {trigger.triggerid: trigger for trigger in triggers}
            for row in result:
                self._add_selects(row, by_id[row["triggerid"]], params)
        return result

    def _hosts_of(self, trigger: Trigger) -> list[Host]:
        return [host for host in self.fixtures.hosts if host.hostid in trigger.hostids]

    def _is_active(self, trigger: Trigger) -> bool:
        return trigger.status == 0 and all(host.status == 0 for host in self._hosts_of(trigger))

    def _depends_on_problem(self, trigger: Trigger) -> bool:
        others = {other.triggerid: other for other in self.fixtures.triggers}
        return any(
            others[dependency].value == 1 and self._is_active(others[dependency])
            for dependency in trigger.dependencies
            if dependency in others
        )

    def _trigger_row(self, trigger: Trigger, params: Mapping[str, Any]) -> dict[str, Any]:
        description = trigger.description
        if flag(params, "expandDescription"):
            hosts = self._hosts_of(trigger)
            if hosts:
                description = description.replace("{HOST.NAME}", hosts[0].name or hosts[0].host)
                description = description.replace("{HOST.HOST}", hosts[0].host)
        return {
            "triggerid": trigger.triggerid,
            "description": description,
            "priority": str(trigger.priority),
            "status": str(trigger.status),
            "value": str(trigger.value),
            "lastchange": str(trigger.lastchange),
        }

    def _add_selects(
        self, row: dict[str, Any], trigger: Trigger, params: Mapping[str, Any]
    ) -> None:
        if params.get("selectHosts") is not None:
            hosts = [
                {"hostid": h.hostid, "host": h.host, "name": h.name or h.host}
                for h in self._hosts_of(trigger)
            ]
            row["hosts"] = [select_output(host, params["selectHosts"]) for host in hosts]
        if params.get("selectLastEvent") is not None:
            event = {
                "eventid": str(int(trigger.triggerid) * 10),
                "source": "0",
                "object": "0",
                "objectid": trigger.triggerid,
                "clock": str(trigger.lastchange),
                "value": str(trigger.value),
                "acknowledged": "1" if trigger.acknowledged else "0",
                "severity": str(trigger.priority),
            }
            row["lastEvent"] = select_output(event, params["selectLastEvent"])


def write_self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for 127.0.0.1 with the ``openssl`` command."""
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(keyfile),
            "-out",
            str(certfile),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return certfile, keyfile


def build_fixtures(
    hosts: Iterable[Host] = (),
    templates: int = 0,
    items: Iterable[Item] = (),
    triggers: Iterable[Trigger] = (),
    httptests: Iterable[HttpTest] = (),
) -> Fixtures:
    return Fixtures(
        hosts=list(hosts),
        templates=[Template(str(50000 + n), f"Template {n}") for n in range(templates)],
        items=list(items),
        triggers=list(triggers),
        httptests=list(httptests),
    )
