"""An asynchronous client for the parts of the Webex REST API the bot uses.

Errors form one small tree::

    WebexError                 any failed call; carries status, tracking id and body
    ├── WebexPermanentError    400, 401, 403, 404, 410 and other 4xx: do not retry
    └── WebexTransientError    429, 423, 5xx, timeouts, connection failures: retry
        └── WebexRateLimited   429; ``retry_after`` says when the token may send again

httpx errors are translated here, once, with ``raise ... from exc``. The token is sent
only in the Authorization header and never appears in a message or a log line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

logger = logging.getLogger(__name__)

TRANSIENT_STATUSES = frozenset({408, 423, 425, 429, 500, 502, 503, 504})
# Webex's error text is kept to this many characters in reasons and log lines.
MAX_WEBEX_MESSAGE_CHARS = 300


class WebexError(Exception):
    """A Webex API call failed.

    ``webex_message`` is the ``message`` field of Webex's JSON error body, with its
    whitespace collapsed and cut to :data:`MAX_WEBEX_MESSAGE_CHARS`; None when the body
    has none.
    """

    retriable = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        tracking_id: str | None = None,
        body: str | None = None,
        retry_after: float | None = None,
        webex_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.tracking_id = tracking_id
        self.body = body
        self.retry_after = retry_after
        self.webex_message = webex_message


class WebexPermanentError(WebexError):
    """The request is invalid or not allowed, so sending it again gives the same result."""


class WebexTransientError(WebexError):
    """The call may succeed later: rate limit, server error, timeout or network failure."""

    retriable = True


class WebexRateLimited(WebexTransientError):
    """Webex returned 429 for this token."""


@dataclass(frozen=True)
class WebexResponse:
    status_code: int
    body: dict[str, Any]
    tracking_id: str | None
    latency_ms: float
    headers: httpx.Headers


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Return the seconds a ``Retry-After`` header requests, or None if absent or invalid.

    Both forms of RFC 9110 are accepted: delay-seconds and an HTTP date. A date in the
    past gives 0.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        return seconds if seconds >= 0 and seconds == seconds else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


class WebexClient:
    """Calls Webex with one bot token; every call has a timeout."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 64,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=httpx.Timeout(timeout),
            transport=transport,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> WebexClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> WebexResponse:
        """Send one request; raise a WebexError subclass unless the status is 2xx."""
        started = time.perf_counter()
        try:
            response = await self._client.request(method, path, json=json, params=params)
        except httpx.TimeoutException as exc:
            raise WebexTransientError(f"{method} {path} timed out: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise WebexTransientError(f"{method} {path} failed: {exc!r}") from exc
        latency_ms = (time.perf_counter() - started) * 1000
        tracking_id = response.headers.get("TrackingID")
        if response.is_success:
            body = _json_object(response)
            return WebexResponse(
                response.status_code, body, tracking_id, latency_ms, response.headers
            )
        raise _error_for(method, path, response, tracking_id)

    # --- people, messages, card actions -------------------------------------------

    async def get_me(self) -> dict[str, Any]:
        return (await self.request("GET", "/people/me")).body

    async def get_person(self, person_id: str) -> dict[str, Any]:
        return (await self.request("GET", f"/people/{person_id}")).body

    async def get_message(self, message_id: str) -> dict[str, Any]:
        return (await self.request("GET", f"/messages/{message_id}")).body

    async def get_attachment_action(self, action_id: str) -> dict[str, Any]:
        return (await self.request("GET", f"/attachment/actions/{action_id}")).body

    async def post_message(self, body: dict[str, Any]) -> WebexResponse:
        return await self.request("POST", "/messages", json=body)

    # --- webhooks ----------------------------------------------------------------------

    async def list_webhooks(self) -> list[dict[str, Any]]:
        return [item async for item in self._paginate("/webhooks", {"max": 100})]

    async def create_webhook(self, body: dict[str, Any]) -> dict[str, Any]:
        return (await self.request("POST", "/webhooks", json=body)).body

    async def update_webhook(self, webhook_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return (await self.request("PUT", f"/webhooks/{webhook_id}", json=body)).body

    async def delete_webhook(self, webhook_id: str) -> None:
        await self.request("DELETE", f"/webhooks/{webhook_id}")

    async def _paginate(
        self, path: str, params: dict[str, Any], max_pages: int = 100
    ) -> AsyncIterator[dict[str, Any]]:
        response = await self.request("GET", path, params=params)
        for _ in range(max_pages):
            yield_items = response.body.get("items", [])
            for item in yield_items:
                yield item
            next_url = _next_link(response.headers.get("Link"))
            if next_url is None:
                return
            response = await self.request("GET", next_url)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    if not response.content:
        return {}
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {"items": body}


def error_message_of(body: dict[str, Any]) -> str | None:
    """Return the ``message`` of a Webex error body on one line, cut to a bounded length."""
    message = body.get("message")
    if not isinstance(message, str):
        return None
    text = " ".join(message.split())
    if not text:
        return None
    if len(text) > MAX_WEBEX_MESSAGE_CHARS:
        text = text[: MAX_WEBEX_MESSAGE_CHARS - 1] + "…"
    return text


def _error_for(
    method: str, path: str, response: httpx.Response, tracking_id: str | None
) -> WebexError:
    status = response.status_code
    text = response.text[:2000]
    body = _json_object(response)
    webex_message = error_message_of(body)
    detail = webex_message if webex_message is not None else text[:200]
    tracking_id = tracking_id or body.get("trackingId")
    message = f"{method} {path} returned {status}: {detail} (tracking id {tracking_id})"
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    kwargs: dict[str, Any] = {
        "status_code": status,
        "tracking_id": tracking_id,
        "body": text,
        "retry_after": retry_after,
        "webex_message": webex_message,
    }
    if status == 429:
        return WebexRateLimited(message, **kwargs)
    if status in TRANSIENT_STATUSES or status >= 500:
        return WebexTransientError(message, **kwargs)
    return WebexPermanentError(message, **kwargs)


def _next_link(header: str | None) -> str | None:
    """Return the ``rel="next"`` URL of an RFC 8288 Link header."""
    if not header:
        return None
    for part in header.split(","):
        url, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", "") or "rel=next" in params.replace(" ", ""):
            return url.strip().strip("<>")
    return None
