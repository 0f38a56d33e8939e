"""The ASGI application of one simulator: Webex routes, control routes, error bodies."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from wxstream.sim import control, webex_api
from wxstream.sim.errors import ApiError, error_body, new_tracking_id
from wxstream.sim.middleware import TRACKING_KEY, WebexMiddleware
from wxstream.sim.simulator import Simulator

logger = logging.getLogger(__name__)


def _tracking_id(request: Request) -> str:
    return str(request.scope.get(TRACKING_KEY) or new_tracking_id())


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    body = error_body(exc.message, _tracking_id(request))
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    if exc.status_code == 404:
        message = f"The requested resource {request.url.path} could not be found."
    body = error_body(message, _tracking_id(request))
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


# Not an HTTP status: nginx's code for a request whose client closed the connection.
CLIENT_CLOSED_REQUEST = 499


async def _client_disconnect(request: Request, exc: Exception) -> Response:
    """Log a request whose client went away, such as a killed worker, in one line.

    The response is never read; its status is what the request log records.
    """
    logger.info(
        "client closed the connection during %s %s before the request body arrived",
        request.method,
        request.url.path,
    )
    return Response(status_code=CLIENT_CLOSED_REQUEST)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    logger.error("simulator bug on %s %s", request.method, request.url.path, exc_info=exc)
    body = error_body(f"Internal simulator error: {type(exc).__name__}.", _tracking_id(request))
    return JSONResponse(body, status_code=500)


def create_app(simulator: Simulator) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await simulator.dispatcher.start()
        try:
            yield
        finally:
            await simulator.dispatcher.stop()

    app = FastAPI(
        title="wxstream Webex simulator",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/_sim/openapi.json",
    )
    app.state.simulator = simulator
    app.include_router(webex_api.router, prefix=simulator.config.api_prefix)
    app.include_router(control.router, prefix="/_sim")
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(ClientDisconnect, _client_disconnect)
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_middleware(WebexMiddleware, simulator=simulator)
    return app
