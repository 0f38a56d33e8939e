"""Delivery status and admin endpoints: ``GET /api/v1/messages/{id}`` and ``/api/v1/admin/*``.

``GET /api/v1/messages/{id}`` takes the API token and reads the local copy of the
worker's status view (:mod:`ingest.message_status`). The admin endpoints take their own
token, ``WXSTREAM_ADMIN_TOKEN`` (Bearer); they answer 403 while it is unset. They run the
same audit and replay code as ``wxstream audit`` and ``wxstream replay``, reading Kafka in
a worker thread, so a long read does not block other requests.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ingest.auth import BEARER_CHALLENGE, bearer_token, require_bearer
from ingest.body import parse_json_object, read_body
from ingest.contract import security
from ingest.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    Unauthorized,
    Unavailable,
    describe_validation_errors,
)
from ingest.message_status import StatusView
from ingest.state import IngestState, state_of
from wxstream.audit.logreader import LogReader, LogReadError
from wxstream.audit.replay import (
    ReplayError,
    ReplayRequest,
    ReplayResult,
    redrive_dead_letters,
    replay_deliveries,
)
from wxstream.audit.status import status_changelog_topic
from wxstream.audit.timeline import AuditError, AuditQuery, Selector, build_timeline
from wxstream.audit.timerange import TimeRange, TimeRangeError
from wxstream.audit.writer import ReplayWriteError, ReplayWriter

logger = logging.getLogger(__name__)

DEFAULT_OPERATOR = "admin-api"
ADMIN_READ_TIMEOUT_SECONDS = 30.0
ADMIN_MAX_ENTRIES = 10_000


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Follow the worker's status changelog for as long as the service runs."""
    state: IngestState = app.state.ingest
    settings = state.settings
    view = StatusView(
        settings.bootstrap_servers,
        status_changelog_topic(settings.topic_prefix),
        settings.state_dir / "ingest",
    )
    view.start()
    app.state.message_status = view
    try:
        yield
    finally:
        await asyncio.to_thread(view.stop)


router = APIRouter(prefix="/api/v1", lifespan=lifespan)


# --- delivery status ---------------------------------------------------------------------


@router.get(
    "/messages/{message_id}",
    tags=["outbound messages"],
    summary="Delivery status and attempts of one outbound message",
    description=(
        "status is pending, failed (attempts failed, still retrying), delivered (with the "
        "Webex message ids) or dead-lettered (with the reason). The view follows the log "
        "a moment behind, so a message requested just now can still be unknown."
    ),
    openapi_extra=security("BearerAuth"),
)
async def message_status(message_id: str, request: Request) -> JSONResponse:
    state = state_of(request)
    require_bearer(request, state.api_token)
    view: StatusView = request.app.state.message_status
    status = view.get(message_id)
    if status is None:
        hint = "" if view.caught_up else " (the status view is still loading)"
        raise NotFound(
            f"message {message_id!r} is unknown{hint}: no outbound message with this id has "
            "been processed by the worker; check the id, or retry in a moment if it was "
            "requested just now"
        )
    return JSONResponse(status.to_json())


# --- admin ---------------------------------------------------------------------------------


def require_admin(request: Request) -> IngestState:
    """Check the admin Bearer token in constant time; 403 while no admin token is set."""
    state = state_of(request)
    token = state.settings.admin_token
    expected = token.get_secret_value().encode() if token is not None else b""
    if not expected:
        raise Forbidden("the admin API is disabled; set WXSTREAM_ADMIN_TOKEN to enable it")
    given = bearer_token(request)
    if not given:
        raise Unauthorized(
            "missing admin token; send it as Authorization: Bearer", BEARER_CHALLENGE
        )
    if not hmac.compare_digest(given.encode("latin-1", errors="replace"), expected):
        raise Unauthorized("invalid admin token", BEARER_CHALLENGE)
    return state


class Selection(BaseModel):
    """The records an admin operation covers, as the options of ``wxstream audit`` select."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    room: list[str] = Field(default_factory=list)
    person: list[str] = Field(default_factory=list)
    correlation_id: str | None = Field(default=None, alias="correlationId")
    message_id: str | None = Field(default=None, alias="messageId")
    since: str | None = None
    until: str | None = None

    def selector(self, *, allow_everything: bool) -> Selector:
        return Selector.build(
            rooms=self.room,
            persons=self.person,
            correlation_id=self.correlation_id,
            message_id=self.message_id,
            allow_everything=allow_everything,
        )

    def time_range(self) -> TimeRange:
        return TimeRange.parse(self.since, self.until)


class ReplayBody(Selection):
    """A replay request: the selection plus the replay options."""

    dry_run: bool = Field(default=False, alias="dryRun")
    operator: str | None = Field(default=None, max_length=200)
    status: Literal["all", "pending", "failed", "dead-lettered", "delivered"] = "all"
    force: bool = False
    kind: Literal["all", "inbound", "outbound"] = "all"


def _reader(state: IngestState) -> LogReader:
    return LogReader(
        state.settings.bootstrap_servers, state.catalog, timeout=ADMIN_READ_TIMEOUT_SECONDS
    )


def _query_selection(request: Request) -> Selection:
    params = request.query_params
    try:
        return Selection(
            room=params.getlist("room"),
            person=params.getlist("person"),
            correlationId=params.get("correlationId"),
            messageId=params.get("messageId"),
            since=params.get("since"),
            until=params.get("until"),
        )
    except ValidationError as exc:
        raise BadRequest(describe_validation_errors(exc.errors())) from None


@router.get(
    "/admin/audit",
    tags=["admin"],
    summary="The audit timeline of a conversation, chain or outbound message",
    description=(
        "Query parameters: room and person (repeatable), correlationId, messageId, since, "
        "until (ISO 8601 or 30m, 2h, 7d), includeBodies (true to show message content)."
    ),
    openapi_extra=security("BearerAuth"),
)
async def admin_audit(request: Request) -> JSONResponse:
    state = require_admin(request)
    selection = _query_selection(request)
    include_bodies = request.query_params.get("includeBodies", "false").lower() == "true"
    try:
        query = AuditQuery(
            selection.selector(allow_everything=False),
            selection.time_range(),
            include_bodies,
            ADMIN_MAX_ENTRIES,
        )
    except (AuditError, TimeRangeError) as exc:
        raise BadRequest(str(exc)) from None

    reader = _reader(state)
    try:
        entries = await asyncio.to_thread(build_timeline, reader, query)
    except AuditError as exc:
        raise BadRequest(str(exc)) from None
    except LogReadError as exc:
        raise Unavailable(str(exc)) from None
    return JSONResponse(
        {
            "entries": [entry.to_json() for entry in entries],
            "recordsRead": reader.stats.read,
            "partitions": reader.stats.partitions,
        }
    )


async def _replay_body(request: Request, state: IngestState) -> ReplayBody:
    body = await read_body(
        request, state.settings.max_body_bytes, state.settings.body_read_timeout_seconds
    )
    try:
        return ReplayBody.model_validate(parse_json_object(body))
    except ValidationError as exc:
        raise BadRequest(describe_validation_errors(exc.errors())) from None


def _replay_request(body: ReplayBody) -> ReplayRequest:
    try:
        selector = body.selector(allow_everything=True)
        time_range = body.time_range()
    except (AuditError, TimeRangeError) as exc:
        raise BadRequest(str(exc)) from None
    if selector.selects_everything and time_range.since is None:
        raise BadRequest("no selection: give since, room, person, correlationId or messageId")
    if body.status == "delivered" and not body.force:
        raise BadRequest("status 'delivered' selects messages Webex accepted; set force")
    return ReplayRequest(
        selector=selector,
        time_range=time_range,
        operator=body.operator or DEFAULT_OPERATOR,
        dry_run=body.dry_run,
        status_filter=body.status,
        force=body.force,
        dead_letter_kind=body.kind,
    )


async def _run_replay(state: IngestState, request: ReplayRequest, operation: Any) -> JSONResponse:
    reader = _reader(state)
    writer = None
    if not request.dry_run:
        writer = ReplayWriter(state.settings.bootstrap_servers, state.catalog)
    try:
        result: ReplayResult = await asyncio.to_thread(operation, reader, writer, request)
    except ReplayError as exc:
        raise BadRequest(str(exc)) from None
    except (LogReadError, ReplayWriteError) as exc:
        raise Unavailable(str(exc)) from None
    logger.info(
        "admin replay %s by %r: %d selected, %d sent%s",
        result.replay_id,
        result.operator,
        len(result.items),
        len(result.written),
        " (dry run)" if result.dry_run else "",
    )
    return JSONResponse(result.to_json())


@router.post(
    "/admin/replay/deliveries",
    tags=["admin"],
    summary="Re-enqueue outbound messages that were not delivered",
    description=(
        "Body: the audit selection (room, person, correlationId, messageId, since, until) "
        "and status (all, pending, failed, dead-lettered, delivered), force, dryRun, "
        "operator. Delivered messages are skipped unless force is true."
    ),
    openapi_extra=security("BearerAuth"),
)
async def admin_replay_deliveries(request: Request) -> JSONResponse:
    state = require_admin(request)
    body = await _replay_body(request, state)
    return await _run_replay(state, _replay_request(body), replay_deliveries)


@router.post(
    "/admin/replay/dead-letter",
    tags=["admin"],
    summary="Redrive dead letters to the topic they came from",
    description=(
        "Body: the audit selection, kind (all, inbound, outbound), dryRun and operator. "
        "Outbound dead letters go back to outbound.messages unless delivered since."
    ),
    openapi_extra=security("BearerAuth"),
)
async def admin_replay_dead_letter(request: Request) -> JSONResponse:
    state = require_admin(request)
    body = await _replay_body(request, state)
    return await _run_replay(state, _replay_request(body), redrive_dead_letters)
