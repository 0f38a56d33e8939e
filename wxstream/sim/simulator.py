"""The simulator's actions: what users, the bot and the control API can do, and the
webhook events each action produces."""

from __future__ import annotations

import logging
import secrets
from collections import deque
from typing import Any

from wxstream.sim import ids, views
from wxstream.sim.config import SimConfig
from wxstream.sim.delivery import Dispatcher
from wxstream.sim.errors import ApiError
from wxstream.sim.faults import FaultSet
from wxstream.sim.mentions import Segment, place_user_mentions
from wxstream.sim.messages import (
    apply_body,
    attachments_of,
    build_message,
    check_editable,
    check_parent,
    check_text_length,
    destination_of,
    files_of,
    optional_string,
)
from wxstream.sim.scenario import Scenario, default_display_name
from wxstream.sim.state import (
    AttachmentAction,
    Membership,
    Message,
    Person,
    Room,
    SimState,
    new_timestamp,
)
from wxstream.sim.webhooks import WebhookEvent

logger = logging.getLogger(__name__)


class Simulator:
    """One simulated Webex organisation with its bot, faults, and webhook dispatcher."""

    def __init__(self, config: SimConfig, scenario: Scenario | None = None) -> None:
        self.config = config
        self.scenario = scenario or Scenario()
        self.state = SimState()
        self.faults = FaultSet()
        self.dispatcher = Dispatcher(config, self.state, self.faults)
        self.requests: deque[dict[str, Any]] = deque(maxlen=config.max_recorded_requests)
        self._bot_uuid = ids.new_uuid()
        self.bot = self._load_initial_state()

    # Start-up and reset

    def _load_initial_state(self) -> Person:
        bot = self.state.add_person(
            self.config.bot_email, self.config.bot_name, "bot", self._bot_uuid, from_scenario=True
        )
        self.state.tokens[self.config.bot_token] = bot.id
        for entry in self.scenario.people:
            if entry.email.lower() == bot.email.lower():
                continue
            person = self.state.add_person(
                entry.email,
                entry.display_name,
                entry.type,
                entry.uuid,
                from_scenario=True,
            )
            if entry.token:
                self.state.tokens[entry.token] = person.id
        for room_entry in self.scenario.rooms:
            members = [self._scenario_member(reference) for reference in room_entry.members]
            room = self.state.create_room(
                room_entry.title,
                room_entry.type,
                members[0],
                room_entry.uuid,
                from_scenario=True,
            )
            for member in members:
                self.state.add_member(room, member)
        return bot

    def _scenario_member(self, reference: str) -> Person:
        if reference == "bot":
            return self.state.people[ids.encode_id(ids.PEOPLE, self._bot_uuid)]
        return self.person_or_new(reference)

    async def reset(self) -> None:
        """Return to the start state: only the bot and the scenario's people and rooms."""
        await self.dispatcher.drop_all()
        self.state.clear()
        self.faults.clear()
        self.requests.clear()
        self.dispatcher.records.clear()
        self.bot = self._load_initial_state()
        logger.info("simulator state reset")

    # People, rooms and memberships

    def person_or_new(self, email: str) -> Person:
        person = self.state.find_person(email)
        if person is not None:
            return person
        if "@" not in email:
            raise ApiError(404, f"Person {email!r} not found: use an email or a known person id.")
        return self.state.add_person(email, default_display_name(email))

    def create_person(self, body: dict[str, Any]) -> tuple[Person, str | None]:
        email = body.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise ApiError(
                400, f"email {email!r} is invalid: use an address such as ann@example.com."
            )
        person_type = body.get("type", "person")
        if person_type not in ("person", "bot"):
            raise ApiError(400, f"type {person_type!r} is invalid: use 'person' or 'bot'.")
        display_name = body.get("displayName") or default_display_name(email)
        if not isinstance(display_name, str):
            raise ApiError(400, "displayName must be a string.")
        person = self.state.add_person(email, display_name, person_type)
        token = body.get("token")
        if person_type == "bot" or token:
            token = str(token) if token else secrets.token_urlsafe(32)
            self.state.tokens[token] = person.id
        return person, token

    def create_room(self, body: dict[str, Any]) -> Room:
        room_type = body.get("type", "group")
        if room_type not in ("group", "direct"):
            raise ApiError(400, f"type {room_type!r} is invalid: use 'group' or 'direct'.")
        references = body.get("members")
        if not isinstance(references, list) or not references:
            raise ApiError(400, "members must be a non-empty list of emails or person ids.")
        members = list(dict.fromkeys(self.person_or_new(str(ref)) for ref in references))
        if room_type == "direct":
            self._check_new_direct_room(members)
        title = body.get("title") or ("Direct" if room_type == "direct" else "Room")
        creator = members[0]
        room = self.state.create_room(str(title), room_type, creator)
        for member in members:
            self._add_member_and_publish(room, member, creator)
        return room

    def _check_new_direct_room(self, members: list[Person]) -> None:
        if len(members) != 2:
            raise ApiError(400, f"A direct room has exactly two members, got {len(members)}.")
        if self.state.direct_room_between(members[0], members[1]) is not None:
            raise ApiError(409, "A direct room between these two people already exists.")

    def add_membership(self, body: dict[str, Any]) -> Membership:
        room = self._room(body.get("roomId"))
        person = self.person_or_new(str(body.get("personEmail") or body.get("personId") or ""))
        actor_reference = body.get("actorEmail")
        actor = self.person_or_new(str(actor_reference)) if actor_reference else None
        if room.type == "direct":
            raise ApiError(400, "Members cannot be added to a direct room.")
        return self._add_member_and_publish(room, person, actor or self._creator(room))

    def _add_member_and_publish(self, room: Room, person: Person, actor: Person) -> Membership:
        membership = self.state.add_member(room, person)
        data = views.membership_view(membership, self.state)
        self.dispatcher.publish(WebhookEvent("memberships", "created", actor.id, data, room=room))
        return membership

    def _creator(self, room: Room) -> Person:
        return self.state.people.get(room.creator_id) or self.bot

    def _room(self, room_id: Any) -> Room:
        room = self.state.rooms.get(room_id) if isinstance(room_id, str) else None
        if room is None:
            raise ApiError(404, f"Room {room_id!r} not found.")
        return room

    def direct_room_with(self, first: Person, second: Person, actor: Person) -> Room:
        """Return the direct room of two people, creating it (with its events) if needed."""
        room = self.state.direct_room_between(first, second)
        if room is not None:
            return room
        room = self.state.create_room(second.display_name, "direct", actor)
        self._add_member_and_publish(room, actor, actor)
        other = second if actor is first else first
        self._add_member_and_publish(room, other, actor)
        return room

    # Messages

    def send_as_api_user(self, author: Person, body: dict[str, Any]) -> Message:
        """Handle ``POST /v1/messages`` for the token's owner."""
        field, value = destination_of(body)
        text = optional_string(body, "text")
        markdown = optional_string(body, "markdown")
        for name, content in (("text", text), ("markdown", markdown)):
            if content is not None:
                check_text_length(name, content)
        files = files_of(body)
        attachments = attachments_of(body)
        if not (text or markdown or files or attachments):
            raise ApiError(400, "A message needs text, markdown, files or attachments.")
        parent_id = optional_string(body, "parentId")
        room = self._destination_room(author, field, value)
        check_parent(self.state, room, parent_id)

        message = build_message(
            self.state,
            self.config,
            room,
            author,
            text=text,
            markdown=markdown,
            files=files,
            attachments=attachments,
            parent_id=parent_id,
        )
        self._store_and_publish(message, room, author)
        return message

    def _destination_room(self, author: Person, field: str, value: str) -> Room:
        if field == "roomId":
            room = self.state.rooms.get(value)
            if room is None or author.id not in room.memberships:
                raise ApiError(404, f"Room {value} not found, or the sender is not a member.")
            return room
        if field == "toPersonId":
            recipient = self.state.find_person(value)
            if recipient is None:
                raise ApiError(404, f"Person {value} not found.")
        else:
            recipient = self.person_or_new(value)
        if recipient.id == author.id:
            raise ApiError(400, "A message cannot be sent to its own author.")
        return self.direct_room_with(author, recipient, author)

    def send_as_user(self, body: dict[str, Any]) -> Message:
        """Handle ``POST /_sim/messages``: a person writes, as in a Webex client."""
        author = self.state.find_person(str(body.get("personEmail") or ""))
        if author is None:
            raise ApiError(404, f"personEmail {body.get('personEmail')!r} is not a known person.")
        room = self._user_room(author, body.get("roomId"))
        if author.id not in room.memberships:
            raise ApiError(403, f"{author.email} is not a member of room {room.id}.")
        text = optional_string(body, "text") or ""
        check_text_length("text", text)
        files = files_of(body)
        if not text and not files:
            raise ApiError(400, "A message needs text or files.")
        parent_id = optional_string(body, "parentId")
        check_parent(self.state, room, parent_id)
        segments = self._user_segments(text, body.get("mentions"))

        # With mentions, the text Webex stores is the rendered one (a bot's first name).
        message = build_message(
            self.state,
            self.config,
            room,
            author,
            text=None if segments else text,
            segments=segments,
            files=files,
            parent_id=parent_id,
        )
        self._store_and_publish(message, room, author)
        return message

    def _user_room(self, author: Person, room_id: Any) -> Room:
        if room_id:
            return self._room(room_id)
        return self.direct_room_with(author, self.bot, author)

    def _user_segments(self, text: str, mentions: Any) -> list[Segment] | None:
        if not mentions:
            return None
        if not isinstance(mentions, list):
            raise ApiError(400, "mentions must be a list of emails, person ids or 'all'.")
        people: list[Person | None] = []
        for reference in mentions:
            if reference == "all":
                people.append(None)
                continue
            person = self.state.find_person(str(reference))
            if person is None:
                raise ApiError(400, f"mentioned person {reference!r} is not known.")
            people.append(person)
        return place_user_mentions(text, people)

    def _store_and_publish(self, message: Message, room: Room, author: Person) -> None:
        self.state.add_message(message)
        self.dispatcher.publish(self._message_event("created", message, room, author))

    def _message_event(
        self, event: str, message: Message, room: Room, actor: Person
    ) -> WebhookEvent:
        return WebhookEvent(
            "messages",
            event,
            actor.id,
            views.message_event_data(message, self.state),
            room=room,
            message=message,
            filter_fields={"hasFiles": bool(message.files)},
        )

    def edit_message(self, editor: Person, message: Message, body: dict[str, Any]) -> Message:
        room_id = body.get("roomId")
        if not room_id:
            raise ApiError(400, "roomId is required to edit a message.")
        if room_id != message.room_id:
            raise ApiError(400, f"roomId {room_id} is not the room of message {message.id}.")
        check_editable(message, editor)
        text = optional_string(body, "text")
        markdown = optional_string(body, "markdown")
        if not (text or markdown):
            raise ApiError(400, "An edit needs text or markdown.")
        for name, content in (("text", text), ("markdown", markdown)):
            if content is not None:
                check_text_length(name, content)

        apply_body(self.state, self.config, message, text=text, markdown=markdown)
        message.edits += 1
        message.updated = new_timestamp()
        return message

    def delete_message(self, actor: Person, message: Message) -> None:
        if message.person_id != actor.id:
            raise ApiError(403, "Only the author of a message can delete it.")
        room = self.state.rooms[message.room_id]
        self.state.remove_message(message)
        self.dispatcher.publish(self._message_event("deleted", message, room, actor))

    # Cards

    def submit_card(self, message_id: str, body: dict[str, Any]) -> AttachmentAction:
        message = self.state.messages.get(message_id)
        if message is None:
            raise ApiError(404, f"Message {message_id} not found.")
        if not message.attachments:
            raise ApiError(400, f"Message {message_id} has no card to submit.")
        person = self.state.find_person(str(body.get("personEmail") or ""))
        if person is None:
            raise ApiError(404, f"personEmail {body.get('personEmail')!r} is not a known person.")
        room = self.state.rooms[message.room_id]
        if person.id not in room.memberships:
            raise ApiError(403, f"{person.email} is not a member of room {room.id}.")
        inputs = body.get("inputs") or {}
        if not isinstance(inputs, dict):
            raise ApiError(400, "inputs must be an object of input ids and values.")

        action = AttachmentAction(
            id=ids.encode_id(ids.ATTACHMENT_ACTION, ids.new_uuid()),
            message_id=message.id,
            person_id=person.id,
            room_id=room.id,
            inputs=inputs,
            created=new_timestamp(),
        )
        self.state.actions[action.id] = action
        event = WebhookEvent(
            "attachmentActions",
            "created",
            person.id,
            views.action_event_data(action),
            room=room,
            audience_id=message.person_id,
            filter_fields={"personEmail": person.email},
        )
        self.dispatcher.publish(event)
        return action
