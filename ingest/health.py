"""``GET /healthz``, ``GET /readyz`` and ``GET /metrics``; none needs credentials."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ingest.contract import ErrorBody, RawRequestRoute
from ingest.errors import error_response, request_id_of
from ingest.state import state_of

# Readiness probes are frequent and must get a response quickly while the broker is down.
READINESS_TIMEOUT_SECONDS = 2.0

router = APIRouter(tags=["operations"], route_class=RawRequestRoute)


@router.get("/healthz", summary="Liveness: the process serves requests")
async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


@router.get(
    "/readyz",
    summary="Readiness: the Kafka broker is reachable and the ingest topics exist",
    responses={503: {"model": ErrorBody, "description": "not ready, with the reason"}},
)
async def readyz(request: Request) -> Response:
    state = state_of(request)
    timeout = min(READINESS_TIMEOUT_SECONDS, state.settings.append_timeout_seconds)
    problem = await state.check_ready(timeout)
    if problem is not None:
        return error_response(503, problem, request_id_of(request), {"Retry-After": "5"})
    return JSONResponse({"status": "ready"})


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def metrics(request: Request) -> Response:
    exposition = state_of(request).metrics
    return Response(exposition.exposition(), media_type=exposition.content_type)
