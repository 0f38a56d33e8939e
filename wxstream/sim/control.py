"""The ``/_sim`` control and inspection API: act as users, look at what happened, inject faults.

It needs no token; the server binds 127.0.0.1 only.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from wxstream.sim import views
from wxstream.sim.endpoint import items_response, json_body, json_response, no_content, simulator_of
from wxstream.sim.errors import ApiError
from wxstream.sim.faults import fault_view

router = APIRouter()


def _since(request: Request) -> float | None:
    raw = request.query_params.get("since")
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ApiError(
            400, f"since {raw!r} is invalid: use epoch seconds such as 1700000000.5"
        ) from None


@router.get("/health")
async def health(request: Request) -> Response:
    return json_response({"status": "ok"})


@router.get("/bot")
async def bot(request: Request) -> Response:
    simulator = simulator_of(request)
    view = views.person_view(simulator.bot, simulator.state)
    return json_response({**view, "token": simulator.config.bot_token})


@router.post("/reset")
async def reset(request: Request) -> Response:
    await simulator_of(request).reset()
    return no_content()


# People, rooms and memberships


@router.post("/people")
async def create_person(request: Request) -> Response:
    simulator = simulator_of(request)
    person, token = simulator.create_person(await json_body(request))
    view: dict[str, Any] = views.person_view(person, simulator.state)
    if token:
        view["token"] = token
    return json_response(view)


@router.get("/people")
async def list_people(request: Request) -> Response:
    state = simulator_of(request).state
    return items_response([views.person_view(person, state) for person in state.people.values()])


@router.post("/rooms")
async def create_room(request: Request) -> Response:
    simulator = simulator_of(request)
    room = simulator.create_room(await json_body(request))
    return json_response(_room_with_members(room, simulator))


@router.get("/rooms")
async def list_rooms(request: Request) -> Response:
    simulator = simulator_of(request)
    rooms = simulator.state.rooms.values()
    return items_response([_room_with_members(room, simulator) for room in rooms])


def _room_with_members(room: Any, simulator: Any) -> dict[str, Any]:
    view: dict[str, Any] = views.room_view(room, simulator.state)
    view["members"] = [simulator.state.people[pid].email for pid in room.memberships]
    return view


@router.post("/memberships")
async def add_membership(request: Request) -> Response:
    simulator = simulator_of(request)
    membership = simulator.add_membership(await json_body(request))
    return json_response(views.membership_view(membership, simulator.state))


# Messages and cards


@router.post("/messages")
async def post_message(request: Request) -> Response:
    simulator = simulator_of(request)
    message = simulator.send_as_user(await json_body(request))
    return json_response(views.message_view(message, simulator.state))


def _after_sequence(request: Request) -> int | None:
    raw = request.query_params.get("afterSequence")
    if raw is None:
        return None
    if not re.fullmatch(r"[0-9]{1,18}", raw):
        raise ApiError(
            400,
            f"afterSequence {raw!r} is invalid: use 0 or the lastSequence of a previous listing",
        )
    return int(raw)


@router.get("/messages")
async def list_messages(request: Request) -> Response:
    """List messages, oldest first, or with ``afterSequence`` only those created since.

    ``lastSequence`` in the response is the value to pass as ``afterSequence`` next time,
    so a client that reads the messages as they arrive fetches each one once.
    """
    simulator = simulator_of(request)
    state = simulator.state
    room_id = request.query_params.get("roomId")
    email = request.query_params.get("personEmail")
    after = _after_sequence(request)
    messages = state.messages_after(after or 0)
    last = messages[-1].sequence if messages else (after or 0)
    author = state.find_person(email) if email else None
    if email and author is None:
        messages = []
    if room_id:
        messages = [m for m in messages if m.room_id == room_id]
    if author is not None:
        messages = [m for m in messages if m.person_id == author.id]
    items = [views.message_view(m, state) for m in messages]
    return json_response({"items": items, "lastSequence": last})


@router.post("/cards/{message_id}/submit")
async def submit_card(request: Request, message_id: str) -> Response:
    simulator = simulator_of(request)
    action = simulator.submit_card(message_id, await json_body(request))
    return json_response(views.action_view(action))


# Inspection


@router.get("/webhooks")
async def list_webhooks(request: Request) -> Response:
    state = simulator_of(request).state
    return items_response([views.webhook_view(w, state) for w in state.webhooks.values()])


@router.get("/deliveries")
async def list_deliveries(request: Request) -> Response:
    simulator = simulator_of(request)
    since = _since(request)
    webhook_id = request.query_params.get("webhookId")
    records = [
        record
        for record in simulator.dispatcher.records
        if (since is None or record["time"] >= since)
        and (webhook_id is None or record["webhookId"] == webhook_id)
    ]
    return json_response({"items": records, "pending": simulator.dispatcher.pending})


@router.get("/requests")
async def list_requests(request: Request) -> Response:
    simulator = simulator_of(request)
    since = _since(request)
    method = request.query_params.get("method")
    path = request.query_params.get("path")
    records = [
        record
        for record in simulator.requests
        if (since is None or record["time"] >= since)
        and (method is None or record["method"] == method.upper())
        and (path is None or record["path"] == path)
    ]
    return items_response(records)


# Faults


@router.post("/faults")
async def add_fault(request: Request) -> Response:
    fault = simulator_of(request).faults.add(await json_body(request))
    return json_response(fault_view(fault))


@router.get("/faults")
async def list_faults(request: Request) -> Response:
    faults = simulator_of(request).faults.faults.values()
    return items_response([fault_view(fault) for fault in faults])


@router.delete("/faults")
async def clear_faults(request: Request) -> Response:
    simulator_of(request).faults.clear()
    return no_content()


@router.delete("/faults/{fault_id}")
async def delete_fault(request: Request, fault_id: str) -> Response:
    faults = simulator_of(request).faults.faults
    if faults.pop(fault_id, None) is None:
        raise ApiError(404, f"Fault {fault_id} not found.")
    return no_content()
