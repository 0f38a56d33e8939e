"""The JSON shapes Webex returns for each object."""

from __future__ import annotations

from typing import Any

from wxstream.sim.state import (
    AttachmentAction,
    Membership,
    Message,
    Person,
    Room,
    SimState,
    Webhook,
)


def person_view(person: Person, state: SimState) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": person.id,
        "emails": [person.email],
        "phoneNumbers": [],
        "displayName": person.display_name,
        "nickName": person.first_name,
        "firstName": person.first_name,
        "orgId": state.org_id,
        "created": person.created,
        "type": person.type,
    }
    if person.last_name:
        view["lastName"] = person.last_name
    return view


def room_view(room: Room, state: SimState) -> dict[str, Any]:
    return {
        "id": room.id,
        "title": room.title,
        "type": room.type,
        "isLocked": False,
        "lastActivity": room.last_activity,
        "creatorId": room.creator_id,
        "created": room.created,
        "ownerId": state.org_id,
        "isPublic": False,
        "isReadOnly": False,
    }


def membership_view(membership: Membership, state: SimState) -> dict[str, Any]:
    person = state.people[membership.person_id]
    room = state.rooms[membership.room_id]
    return {
        "id": membership.id,
        "roomId": membership.room_id,
        "personId": person.id,
        "personEmail": person.email,
        "personDisplayName": person.display_name,
        "personOrgId": state.org_id,
        "isModerator": membership.is_moderator,
        "isMonitor": False,
        "isRoomHidden": False,
        "roomType": room.type,
        "created": membership.created,
    }


def message_view(message: Message, state: SimState) -> dict[str, Any]:
    """The message as ``GET /messages/{id}`` returns it; absent parts have no key."""
    view: dict[str, Any] = {"id": message.id}
    if message.parent_id:
        view["parentId"] = message.parent_id
    view["roomId"] = message.room_id
    view["roomType"] = message.room_type
    optional = {
        "text": message.text,
        "markdown": message.markdown,
        "html": message.html,
        "files": message.files,
        "attachments": message.attachments,
        "mentionedPeople": message.mentioned_people,
        "mentionedGroups": message.mentioned_groups,
    }
    view.update({key: value for key, value in optional.items() if value})
    author = state.people[message.person_id]
    view["personId"] = author.id
    view["personEmail"] = author.email
    view["created"] = message.created
    if message.updated:
        view["updated"] = message.updated
    view["isVoiceClip"] = False
    return view


def message_event_data(message: Message, state: SimState) -> dict[str, Any]:
    """The ``data`` of a ``messages`` callback: no text, html or card content."""
    author = state.people[message.person_id]
    data: dict[str, Any] = {
        "id": message.id,
        "roomId": message.room_id,
        "roomType": message.room_type,
        "personId": author.id,
        "personEmail": author.email,
    }
    if message.parent_id:
        data["parentId"] = message.parent_id
    if message.mentioned_people:
        data["mentionedPeople"] = message.mentioned_people
    if message.mentioned_groups:
        data["mentionedGroups"] = message.mentioned_groups
    if message.files:
        data["files"] = message.files
    data["created"] = message.created
    return data


def webhook_view(webhook: Webhook, state: SimState) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": webhook.id,
        "name": webhook.name,
        "targetUrl": webhook.target_url,
        "resource": webhook.resource,
        "event": webhook.event,
    }
    if webhook.filter:
        view["filter"] = webhook.filter
    if webhook.secret:
        view["secret"] = webhook.secret
    view.update(
        {
            "orgId": state.org_id,
            "createdBy": webhook.owner_id,
            "appId": state.app_id,
            "ownedBy": "creator",
            "status": webhook.status,
            "created": webhook.created,
        }
    )
    return view


def action_view(action: AttachmentAction) -> dict[str, Any]:
    return {
        "id": action.id,
        "type": "submit",
        "messageId": action.message_id,
        "inputs": action.inputs,
        "personId": action.person_id,
        "roomId": action.room_id,
        "created": action.created,
    }


def action_event_data(action: AttachmentAction) -> dict[str, Any]:
    """The ``data`` of an ``attachmentActions`` callback: everything except the inputs."""
    view = action_view(action)
    del view["inputs"]
    return view
