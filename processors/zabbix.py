"""An asynchronous client for the Zabbix JSON-RPC API, Zabbix 5.0 to 7.x.

Errors form one small tree::

    ZabbixError               any failure; ``reason`` is one line, fit for a chat reply
    ├── ZabbixNotConfigured   no URL or no credentials in the settings
    ├── ZabbixUnavailable     connection refused, timeout, TLS failure, HTTP error, not JSON-RPC
    └── ZabbixApiError        the API returned a JSON-RPC error object
        └── ZabbixAuthError   login refused, API token rejected, session expired

How a request carries its credential depends on the server version, which
``apiinfo.version`` returns without credentials:

- API tokens exist since Zabbix 5.4. ``user.login`` takes ``username`` since 5.4 and
  ``user`` before; 6.4 removed ``user``.
- Zabbix 6.4 reads the credential from the ``Authorization: Bearer`` header and deprecates
  the ``auth`` request member, which 7.2 removed. Older versions read only ``auth``.

httpx errors are translated here, once, with ``raise ... from exc``. The API token, the
password and the session id never appear in a message or a log line.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from wxstream.settings import Settings

logger = logging.getLogger(__name__)

API_PATH = "/api_jsonrpc.php"
CONTENT_TYPE = "application/json-rpc"

# Words of the JSON-RPC error ``data`` that mean the session or token is not accepted.
# Zabbix has spelled "Not authorised." and "Not authorized." in different versions.
_AUTH_ERROR_MARKERS = ("session terminated", "not authorised", "not authorized", "re-login")

NOT_CONFIGURED_HINT = (
    "Set WXSTREAM_ZABBIX_URL to the Zabbix front-end URL (e.g. https://zabbix.example.com), "
    "and either WXSTREAM_ZABBIX_TOKEN to an API token (Zabbix 5.4 or later) or "
    "WXSTREAM_ZABBIX_USER and WXSTREAM_ZABBIX_PASSWORD."
)


class ZabbixError(Exception):
    """A Zabbix call failed; ``reason`` is the cause, in one line."""

    retriable = False

    def __init__(self, reason: str) -> None:
        self.reason = " ".join(reason.split())
        super().__init__(self.reason)


class ZabbixNotConfigured(ZabbixError):
    """The settings name no Zabbix URL or no way to authenticate."""


class ZabbixUnavailable(ZabbixError):
    """Zabbix could not be reached or did not respond with JSON-RPC."""

    retriable = True


class ZabbixApiError(ZabbixError):
    """The API returned a JSON-RPC error object for a call."""

    def __init__(self, reason: str, *, method: str, code: int | None, data: str) -> None:
        super().__init__(reason)
        self.method = method
        self.code = code
        self.data = data


class ZabbixAuthError(ZabbixApiError):
    """Zabbix refused the login, the API token or the session id."""


@dataclass(frozen=True, order=True)
class ZabbixVersion:
    """A Zabbix server version as ``apiinfo.version`` returns it, e.g. ``7.0.3``."""

    major: int
    minor: int
    patch: int = 0

    @classmethod
    def parse(cls, text: str) -> ZabbixVersion:
        match = re.match(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?", text)
        if match is None:
            raise ValueError(f"version {text!r} is not major.minor[.patch]")
        major, minor, patch = match.groups()
        return cls(int(major), int(minor), int(patch or 0))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @property
    def supports_api_tokens(self) -> bool:
        return (self.major, self.minor) >= (5, 4)

    @property
    def login_user_parameter(self) -> str:
        """The ``user.login`` parameter that carries the user name."""
        return "username" if (self.major, self.minor) >= (5, 4) else "user"

    @property
    def reads_bearer_header(self) -> bool:
        """Whether the server takes the credential from ``Authorization: Bearer``."""
        return (self.major, self.minor) >= (6, 4)


@dataclass(frozen=True)
class ZabbixConfig:
    """Location of the Zabbix API and its credentials.

    An API token takes precedence over the user and password.
    """

    url: str
    token: str | None = field(default=None, repr=False)
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    verify_tls: bool = True
    timeout_seconds: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ZabbixConfig:
        """Build the config, raising ZabbixNotConfigured naming the variables to set."""
        if not settings.zabbix_url:
            raise ZabbixNotConfigured(f"Zabbix is not configured. {NOT_CONFIGURED_HINT}")
        token = settings.zabbix_token.get_secret_value() if settings.zabbix_token else None
        password = settings.zabbix_password.get_secret_value() if settings.zabbix_password else None
        if not token and not (settings.zabbix_user and password):
            raise ZabbixNotConfigured(
                f"Zabbix credentials are not configured for {settings.zabbix_url}. "
                "Set WXSTREAM_ZABBIX_TOKEN to an API token (Zabbix 5.4 or later), or "
                "WXSTREAM_ZABBIX_USER and WXSTREAM_ZABBIX_PASSWORD."
            )
        return cls(
            url=settings.zabbix_url,
            token=token or None,
            user=settings.zabbix_user,
            password=password,
            verify_tls=settings.zabbix_verify_tls,
            timeout_seconds=settings.zabbix_timeout_seconds,
        )

    @property
    def endpoint(self) -> str:
        """The JSON-RPC endpoint: the front-end URL followed by ``/api_jsonrpc.php``."""
        base = self.url.rstrip("/")
        return base if base.endswith(API_PATH) else base + API_PATH


@dataclass
class ZabbixSession:
    """State that outlives one client: the server version and the ``user.login`` session id.

    Sharing one session between clients keeps a process to one Zabbix login instead of
    one per command.
    """

    version: ZabbixVersion | None = None
    session_id: str | None = field(default=None, repr=False)


_shared_sessions: dict[ZabbixConfig, ZabbixSession] = {}


def shared_session(config: ZabbixConfig) -> ZabbixSession:
    """Return the process-wide session for ``config``, creating it on first use."""
    return _shared_sessions.setdefault(config, ZabbixSession())


class ZabbixClient:
    """Calls the Zabbix API; every request has a timeout.

    Use it as an async context manager. A call whose session expired logs in again once
    and is sent once more; a second rejection raises ZabbixAuthError.
    """

    def __init__(
        self,
        config: ZabbixConfig,
        *,
        session: ZabbixSession | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.session = session if session is not None else ZabbixSession()
        self._ids = itertools.count(1)
        self._login_lock = asyncio.Lock()
        self._http = httpx.AsyncClient(
            headers={"Content-Type": CONTENT_TYPE, "Accept": "application/json"},
            timeout=httpx.Timeout(config.timeout_seconds),
            verify=config.verify_tls,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> ZabbixClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def version(self) -> ZabbixVersion:
        """Return the server version, asking ``apiinfo.version`` once per session."""
        if self.session.version is None:
            text = await self._send("apiinfo.version", [], credential=None)
            try:
                self.session.version = ZabbixVersion.parse(str(text))
            except ValueError as exc:
                raise ZabbixUnavailable(
                    f"Zabbix at {self.config.endpoint} returned version {text!r}, "
                    "which is not major.minor.patch"
                ) from exc
        return self.session.version

    async def call(self, method: str, params: Mapping[str, Any] | Sequence[Any]) -> Any:
        """Call an authenticated API method and return its ``result``."""
        credential = await self._credential(failed=None)
        try:
            return await self._send(method, params, credential=credential)
        except ZabbixAuthError as exc:
            if self.config.token:
                raise ZabbixAuthError(
                    f"Zabbix rejected the API token ({exc.data}). Check that "
                    "WXSTREAM_ZABBIX_TOKEN is a valid, enabled API token.",
                    method=method,
                    code=exc.code,
                    data=exc.data,
                ) from exc
            logger.warning(
                "zabbix rejected the session of user %s (%s); logging in again",
                self.config.user,
                exc.data,
            )
        credential = await self._credential(failed=credential)
        try:
            return await self._send(method, params, credential=credential)
        except ZabbixAuthError as exc:
            raise ZabbixAuthError(
                f"Zabbix rejected {method} again right after a new login ({exc.data}). "
                f"Check that user {self.config.user!r} may use the API.",
                method=method,
                code=exc.code,
                data=exc.data,
            ) from exc

    async def count(self, method: str, params: Mapping[str, Any]) -> int:
        """Return the number of objects a ``*.get`` method matches, using ``countOutput``."""
        result = await self.call(method, {**params, "countOutput": True})
        try:
            return int(result)
        except (TypeError, ValueError) as exc:
            raise ZabbixUnavailable(
                f"Zabbix returned {result!r} for {method} with countOutput, not a number"
            ) from exc

    # --- authentication -----------------------------------------------------------------

    async def _credential(self, *, failed: str | None) -> str:
        """Return the API token, or a session id that is not the ``failed`` one."""
        version = await self.version()
        if self.config.token:
            if not version.supports_api_tokens:
                raise ZabbixNotConfigured(
                    f"Zabbix at {self.config.endpoint} runs {version}, and API tokens need "
                    "Zabbix 5.4 or later. Unset WXSTREAM_ZABBIX_TOKEN and set "
                    "WXSTREAM_ZABBIX_USER and WXSTREAM_ZABBIX_PASSWORD."
                )
            return self.config.token

        async with self._login_lock:
            current = self.session.session_id
            if current is not None and current != failed:
                return current
            self.session.session_id = await self._login(version)
            return self.session.session_id

    async def _login(self, version: ZabbixVersion) -> str:
        params = {version.login_user_parameter: self.config.user, "password": self.config.password}
        try:
            session_id = await self._send("user.login", params, credential=None)
        except ZabbixApiError as exc:
            raise ZabbixAuthError(
                f"Zabbix login as {self.config.user!r} failed: {exc.data or exc.reason} "
                "Check WXSTREAM_ZABBIX_USER and WXSTREAM_ZABBIX_PASSWORD.",
                method="user.login",
                code=exc.code,
                data=exc.data,
            ) from exc
        if not isinstance(session_id, str) or not session_id:
            raise ZabbixUnavailable(
                f"Zabbix at {self.config.endpoint} returned no session id for user.login"
            )
        logger.info("zabbix %s: logged in as %s", version, self.config.user)
        return session_id

    # --- transport ----------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        params: Mapping[str, Any] | Sequence[Any],
        *,
        credential: str | None,
    ) -> Any:
        body: dict[str, Any] = {
            "jsonrpc": "2.0",
            "method": method,
            "params": params,
            "id": next(self._ids),
        }
        headers: dict[str, str] = {}
        if credential is not None:
            version = await self.version()
            if version.reads_bearer_header:
                headers["Authorization"] = f"Bearer {credential}"
            else:
                body["auth"] = credential

        started = time.perf_counter()
        response = await self._post(method, body, headers)
        logger.debug(
            "zabbix %s returned in %.0f ms", method, (time.perf_counter() - started) * 1000
        )
        return self._result(method, response)

    async def _post(
        self, method: str, body: dict[str, Any], headers: dict[str, str]
    ) -> httpx.Response:
        endpoint = self.config.endpoint
        try:
            response = await self._http.post(endpoint, json=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise ZabbixUnavailable(
                f"Zabbix at {endpoint} timed out: no response to {method} within "
                f"{self.config.timeout_seconds:g} s ({type(exc).__name__})"
            ) from exc
        except httpx.HTTPError as exc:
            tls_error = _ssl_error_of(exc)
            if tls_error is not None:
                raise ZabbixUnavailable(
                    f"TLS verification of {endpoint} failed: {_first_line(tls_error)}. "
                    "Install the CA certificate of the Zabbix server, or set "
                    "WXSTREAM_ZABBIX_VERIFY_TLS=false"
                ) from exc
            raise ZabbixUnavailable(
                f"Zabbix at {endpoint} could not be reached: {_first_line(exc)}"
            ) from exc

        if response.status_code != 200:
            raise ZabbixUnavailable(
                f"Zabbix at {endpoint} returned HTTP {response.status_code} for {method}"
            )
        return response

    def _result(self, method: str, response: httpx.Response) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not ("result" in body or "error" in body):
            raise ZabbixUnavailable(
                f"{self.config.endpoint} returned no JSON-RPC response for {method}. Check that "
                "WXSTREAM_ZABBIX_URL is the Zabbix front-end URL"
            )
        if "error" in body:
            raise _api_error(method, body["error"])
        return body["result"]


def _api_error(method: str, error: Any) -> ZabbixApiError:
    """Translate a JSON-RPC error object into ZabbixApiError or ZabbixAuthError."""
    details = error if isinstance(error, dict) else {}
    code = details.get("code") if isinstance(details.get("code"), int) else None
    message = str(details.get("message") or "unknown error")
    data = str(details.get("data") or "")
    reason = f"Zabbix {method} failed: {message} {data}".strip()
    lowered = f"{message} {data}".lower()
    if any(marker in lowered for marker in _AUTH_ERROR_MARKERS):
        return ZabbixAuthError(reason, method=method, code=code, data=data or message)
    return ZabbixApiError(reason, method=method, code=code, data=data or message)


def _ssl_error_of(exc: BaseException) -> ssl.SSLError | None:
    """Return the ssl.SSLError behind an httpx error, if there is one."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return first or type(exc).__name__
