"""Helpers shared by the route modules: the simulator, the caller, JSON in and out."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from wxstream.sim.errors import ApiError
from wxstream.sim.middleware import PERSON_KEY
from wxstream.sim.simulator import Simulator
from wxstream.sim.state import Person


def simulator_of(request: Request) -> Simulator:
    simulator: Simulator = request.app.state.simulator
    return simulator


def caller_of(request: Request) -> Person:
    """Return the owner of the request's bearer token (set by the middleware)."""
    person: Person = request.scope[PERSON_KEY]
    return person


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        raise ApiError(400, "The request body is empty: send a JSON object.")
    try:
        document = json.loads(raw)
    except ValueError:
        raise ApiError(400, "The request body is not valid JSON: send a JSON object.") from None
    if not isinstance(document, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return document


def json_response(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse(content, status_code=status, headers=headers)


def items_response(items: list[Any], headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"items": items}, headers=headers)


def no_content() -> Response:
    return Response(status_code=204)
