"""List paging as Webex does it: ``max`` per page and an RFC 5988 ``Link`` to the next one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.requests import Request

from wxstream.sim.errors import ApiError

T = TypeVar("T")

DEFAULT_MAX = 100
LIMIT_MAX = 1000
CURSOR_PARAM = "cursor"


def max_param(request: Request, default: int = DEFAULT_MAX, limit: int = LIMIT_MAX) -> int:
    raw = request.query_params.get("max")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(
            400, f"max {raw!r} is invalid: use a whole number from 1 to {limit}."
        ) from None
    if not 1 <= value <= limit:
        raise ApiError(400, f"max {value} is invalid: use a whole number from 1 to {limit}.")
    return value


def next_link(request: Request, replace: dict[str, str], drop: Sequence[str] = ()) -> str:
    """Return a ``Link`` header value pointing at the same URL with changed parameters."""
    params = [
        (key, value)
        for key, value in request.query_params.multi_items()
        if key not in replace and key not in drop
    ]
    params.extend(replace.items())
    url = request.url.replace(query=urlencode(params))
    return f'<{url}>; rel="next"'


def offset_page(request: Request, items: Sequence[T]) -> tuple[Sequence[T], dict[str, Any]]:
    """Return one page of ``items`` and the headers for it, with an offset cursor."""
    size = max_param(request)
    raw_cursor = request.query_params.get(CURSOR_PARAM, "0")
    if not raw_cursor.isdigit():
        raise ApiError(400, f"cursor {raw_cursor!r} is invalid: follow the Link header as given.")
    start = int(raw_cursor)
    page = items[start : start + size]
    headers: dict[str, Any] = {}
    if start + size < len(items):
        headers["Link"] = next_link(request, {CURSOR_PARAM: str(start + size)})
    return page, headers
