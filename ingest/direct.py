"""Serving the raw-request endpoints straight from the middleware, before routing.

FastAPI passes each request through its error, telemetry and body-limit middleware.
Starlette's router then tries the routes one by one, and the request passes the
exception middleware and FastAPI's request wrapper. For the endpoints that take the
Request and return a Response themselves (``RawRequestRoute``), that took about as
much CPU as the endpoint's own work in a py-spy profile of webhook requests.
``DirectRoutes`` sits in front of all of it: it looks such a route up by method and
exact path and calls its endpoint at once. Every other request goes on to FastAPI's
stack. The endpoint's IngestError becomes the same JSON error response as through the
router.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from ingest.contract import RawRequestRoute
from ingest.errors import IngestError, rejection_response
from ingest.rejections import RejectionLog


def direct_table(routes: Iterable[BaseRoute]) -> dict[tuple[str, str], RawRequestRoute]:
    """Map (method, path) to each raw-request route whose path has no parameters."""
    table: dict[tuple[str, str], RawRequestRoute] = {}
    for route in routes:
        if not isinstance(route, RawRequestRoute) or "{" in route.path:
            continue
        for method in route.methods or ():
            table.setdefault((method, route.path), route)
    return table


class DirectRoutes:
    """Call a raw-request route's endpoint directly when method and path match it."""

    def __init__(self, app: ASGIApp, routes: Iterable[BaseRoute], rejections: RejectionLog) -> None:
        self.app = app
        self.table = direct_table(routes)
        self.rejections = rejections

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = None
        if scope["type"] == "http":
            route = self.table.get((scope["method"], route_path(scope)))
        if route is None:
            await self.app(scope, receive, send)
            return

        scope["route"] = route
        request = Request(scope, receive, send)
        try:
            response = await route.endpoint(request)
        except IngestError as exc:
            response = rejection_response(
                self.rejections, request, exc.status, exc.message, exc.headers
            )
        await response(scope, receive, send)


def route_path(scope: Scope) -> str:
    """Return the path the router matches: the request path without the root path."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root + "/"):
        return path[len(root) :]
    return path
