"""The Webex REST routes a bot uses, under the API prefix (``/v1`` by default)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from wxstream.sim import views, webhooks
from wxstream.sim.clock import parse_iso
from wxstream.sim.endpoint import (
    caller_of,
    items_response,
    json_body,
    json_response,
    no_content,
    simulator_of,
)
from wxstream.sim.errors import ApiError
from wxstream.sim.messages import can_read
from wxstream.sim.paging import max_param, next_link, offset_page
from wxstream.sim.simulator import Simulator
from wxstream.sim.state import Message, Person, Room, Webhook

router = APIRouter()

MESSAGES_DEFAULT_MAX = 50
MESSAGES_MENTIONED_MAX = 100


# People


@router.get("/people/me")
async def get_me(request: Request) -> Response:
    return json_response(views.person_view(caller_of(request), simulator_of(request).state))


@router.get("/people/{person_id}")
async def get_person(request: Request, person_id: str) -> Response:
    state = simulator_of(request).state
    person = state.people.get(person_id)
    if person is None:
        raise ApiError(404, f"Person {person_id} not found.")
    return json_response(views.person_view(person, state))


@router.get("/people")
async def list_people(request: Request) -> Response:
    state = simulator_of(request).state
    email = request.query_params.get("email")
    requested_ids = request.query_params.get("id")
    if not email and not requested_ids:
        raise ApiError(400, "Listing people needs an email or id parameter.")
    people: list[Person] = []
    if email and (person := state.find_person(email)) is not None:
        people.append(person)
    for person_id in (requested_ids or "").split(","):
        if person_id and (person := state.people.get(person_id)) is not None:
            people.append(person)
    return items_response([views.person_view(person, state) for person in people])


# Rooms and memberships


def _member_room(simulator: Simulator, caller: Person, room_id: str | None) -> Room:
    room = simulator.state.rooms.get(room_id or "")
    if room is None or caller.id not in room.memberships:
        raise ApiError(404, f"Room {room_id} not found, or the caller is not a member.")
    return room


@router.get("/rooms")
async def list_rooms(request: Request) -> Response:
    simulator = simulator_of(request)
    rooms = simulator.state.rooms_of(caller_of(request))
    room_type = request.query_params.get("type")
    if room_type is not None:
        if room_type not in ("direct", "group"):
            raise ApiError(400, f"type {room_type!r} is invalid: use direct or group.")
        rooms = [room for room in rooms if room.type == room_type]
    page, headers = offset_page(request, rooms)
    return items_response([views.room_view(room, simulator.state) for room in page], headers)


@router.get("/rooms/{room_id}")
async def get_room(request: Request, room_id: str) -> Response:
    simulator = simulator_of(request)
    room = _member_room(simulator, caller_of(request), room_id)
    return json_response(views.room_view(room, simulator.state))


@router.get("/memberships")
async def list_memberships(request: Request) -> Response:
    simulator = simulator_of(request)
    caller = caller_of(request)
    room_id = request.query_params.get("roomId")
    rooms = (
        [_member_room(simulator, caller, room_id)] if room_id else simulator.state.rooms_of(caller)
    )
    memberships = [m for room in rooms for m in room.memberships.values()]
    if not room_id:
        memberships = [m for m in memberships if m.person_id == caller.id]
    person_id = request.query_params.get("personId")
    person_email = request.query_params.get("personEmail")
    if person_id:
        memberships = [m for m in memberships if m.person_id == person_id]
    if person_email:
        person = simulator.state.find_person(person_email)
        memberships = [m for m in memberships if person is not None and m.person_id == person.id]
    page, headers = offset_page(request, memberships)
    return items_response([views.membership_view(m, simulator.state) for m in page], headers)


# Messages


@router.post("/messages")
async def create_message(request: Request) -> Response:
    simulator = simulator_of(request)
    body = await json_body(request)
    message = simulator.send_as_api_user(caller_of(request), body)
    return json_response(views.message_view(message, simulator.state))


def _readable_message(simulator: Simulator, caller: Person, message_id: str) -> Message:
    message = simulator.state.messages.get(message_id)
    if message is None or not can_read(message, caller, simulator.state):
        raise ApiError(404, f"Message {message_id} not found.")
    return message


@router.get("/messages/{message_id}")
async def get_message(request: Request, message_id: str) -> Response:
    simulator = simulator_of(request)
    message = _readable_message(simulator, caller_of(request), message_id)
    return json_response(views.message_view(message, simulator.state))


@router.put("/messages/{message_id}")
async def edit_message(request: Request, message_id: str) -> Response:
    simulator = simulator_of(request)
    caller = caller_of(request)
    body = await json_body(request)
    message = _readable_message(simulator, caller, message_id)
    simulator.edit_message(caller, message, body)
    return json_response(views.message_view(message, simulator.state))


@router.delete("/messages/{message_id}")
async def delete_message(request: Request, message_id: str) -> Response:
    simulator = simulator_of(request)
    caller = caller_of(request)
    simulator.delete_message(caller, _readable_message(simulator, caller, message_id))
    return no_content()


@router.get("/messages")
async def list_messages(request: Request) -> Response:
    simulator = simulator_of(request)
    caller = caller_of(request)
    params = request.query_params
    room_id = params.get("roomId")
    if not room_id:
        raise ApiError(400, "roomId is required to list messages.")
    room = _member_room(simulator, caller, room_id)
    mentioned_only = _mentioned_people_param(request, caller)
    if caller.type == "bot" and room.type == "group" and not mentioned_only:
        raise ApiError(403, "Bots can list messages in a group room only with mentionedPeople=me.")
    limit = MESSAGES_MENTIONED_MAX if mentioned_only else 1000
    size = max_param(request, default=MESSAGES_DEFAULT_MAX, limit=limit)

    selected = _select_messages(simulator, room, caller, request, mentioned_only)
    page = selected[:size]
    headers = {}
    if len(selected) > size:
        drop = ["mentionedPeople"] if simulator.config.next_link_drops_mentioned_people else []
        headers["Link"] = next_link(request, {"beforeMessage": page[-1].id}, drop=[*drop, "before"])
    return items_response([views.message_view(m, simulator.state) for m in page], headers)


def _mentioned_people_param(request: Request, caller: Person) -> bool:
    values = [
        item
        for raw in request.query_params.getlist("mentionedPeople")
        for item in raw.split(",")
        if item
    ]
    for value in values:
        if value not in ("me", caller.id):
            raise ApiError(
                400,
                f"mentionedPeople {value!r} is invalid: only 'me' or the caller's id is allowed.",
            )
    return bool(values)


def _select_messages(
    simulator: Simulator, room: Room, caller: Person, request: Request, mentioned_only: bool
) -> list[Message]:
    """Return the room's messages the query selects, newest first."""
    params = request.query_params
    messages = simulator.state.room_messages[room.id]
    before_sequence = _before_message_sequence(simulator, params.get("beforeMessage"))
    before_time = _before_time(params.get("before"))
    parent_id = params.get("parentId")
    selected = []
    for message in reversed(messages):
        if before_sequence is not None and message.sequence >= before_sequence:
            continue
        if before_time is not None and (parse_iso(message.created) or 0) >= before_time:
            continue
        if parent_id is not None and message.parent_id != parent_id:
            continue
        if mentioned_only and caller.id not in message.mentioned_people:
            continue
        selected.append(message)
    return selected


def _before_message_sequence(simulator: Simulator, message_id: str | None) -> int | None:
    if message_id is None:
        return None
    message = simulator.state.messages.get(message_id)
    if message is None:
        raise ApiError(404, f"beforeMessage {message_id} not found.")
    return message.sequence


def _before_time(value: str | None) -> float | None:
    if value is None:
        return None
    epoch = parse_iso(value)
    if epoch is None:
        raise ApiError(400, f"before {value!r} is invalid: use an ISO 8601 time.")
    return epoch


# Webhooks


def _own_webhook(simulator: Simulator, caller: Person, webhook_id: str) -> Webhook:
    webhook = simulator.state.webhooks.get(webhook_id)
    if webhook is None or webhook.owner_id != caller.id:
        raise ApiError(404, f"Webhook {webhook_id} not found.")
    return webhook


@router.get("/webhooks")
async def list_webhooks(request: Request) -> Response:
    simulator = simulator_of(request)
    caller = caller_of(request)
    own = [w for w in simulator.state.webhooks.values() if w.owner_id == caller.id]
    page, headers = offset_page(request, own)
    return items_response([views.webhook_view(w, simulator.state) for w in page], headers)


@router.post("/webhooks")
async def create_webhook(request: Request) -> Response:
    simulator = simulator_of(request)
    webhook = webhooks.create_webhook(await json_body(request), caller_of(request))
    simulator.state.webhooks[webhook.id] = webhook
    return json_response(views.webhook_view(webhook, simulator.state))


@router.get("/webhooks/{webhook_id}")
async def get_webhook(request: Request, webhook_id: str) -> Response:
    simulator = simulator_of(request)
    webhook = _own_webhook(simulator, caller_of(request), webhook_id)
    return json_response(views.webhook_view(webhook, simulator.state))


@router.put("/webhooks/{webhook_id}")
async def update_webhook(request: Request, webhook_id: str) -> Response:
    simulator = simulator_of(request)
    body = await json_body(request)
    webhook = _own_webhook(simulator, caller_of(request), webhook_id)
    webhooks.update_webhook(webhook, body)
    return json_response(views.webhook_view(webhook, simulator.state))


@router.delete("/webhooks/{webhook_id}")
async def delete_webhook(request: Request, webhook_id: str) -> Response:
    simulator = simulator_of(request)
    webhook = _own_webhook(simulator, caller_of(request), webhook_id)
    del simulator.state.webhooks[webhook.id]
    simulator.dispatcher.forget(webhook.id)
    return no_content()


# Attachment actions


@router.get("/attachment/actions/{action_id}")
async def get_attachment_action(request: Request, action_id: str) -> Response:
    simulator = simulator_of(request)
    caller = caller_of(request)
    action = simulator.state.actions.get(action_id)
    message = simulator.state.messages.get(action.message_id) if action else None
    allowed = action is not None and (
        action.person_id == caller.id or (message is not None and message.person_id == caller.id)
    )
    if action is None or not allowed:
        raise ApiError(404, f"Attachment action {action_id} not found.")
    return json_response(views.action_view(action))
