"""In-memory Webex objects: people, rooms, memberships, messages, webhooks, card actions.

All access happens on the server's event loop, so no locking is needed.
"""

from __future__ import annotations

import bisect
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from wxstream.sim import ids
from wxstream.sim.clock import iso_from_epoch
from wxstream.sim.errors import ApiError

PersonType = Literal["person", "bot"]
RoomType = Literal["group", "direct"]

_sequence = itertools.count(1)


def _sequence_of(message: Message) -> int:
    return message.sequence


@dataclass(eq=False)
class Person:
    uuid: str
    email: str
    display_name: str
    type: PersonType
    created: str
    from_scenario: bool = False

    @property
    def id(self) -> str:
        return ids.encode_id(ids.PEOPLE, self.uuid)

    @property
    def first_name(self) -> str:
        return self.display_name.split()[0] if self.display_name.split() else self.display_name

    @property
    def last_name(self) -> str:
        parts = self.display_name.split(maxsplit=1)
        return parts[1] if len(parts) > 1 else ""


@dataclass(eq=False)
class Membership:
    id: str
    room_id: str
    person_id: str
    created: str
    is_moderator: bool = False


@dataclass(eq=False)
class Room:
    uuid: str
    title: str
    type: RoomType
    creator_id: str
    created: str
    last_activity: str
    memberships: dict[str, Membership] = field(default_factory=dict)
    from_scenario: bool = False

    @property
    def id(self) -> str:
        return ids.encode_id(ids.ROOM, self.uuid)


@dataclass(eq=False)
class Message:
    id: str
    room_id: str
    room_type: RoomType
    person_id: str
    created: str
    text: str | None = None
    markdown: str | None = None
    html: str | None = None
    files: list[str] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    parent_id: str | None = None
    mentioned_people: list[str] = field(default_factory=list)
    mentioned_groups: list[str] = field(default_factory=list)
    updated: str | None = None
    edits: int = 0
    sequence: int = field(default_factory=lambda: next(_sequence))


@dataclass(eq=False)
class Webhook:
    id: str
    owner_id: str
    name: str
    target_url: str
    resource: str
    event: str
    filter: str | None
    filter_pairs: dict[str, str]
    secret: str | None
    created: str
    status: str = "active"
    failures: deque[float] = field(default_factory=deque)


@dataclass(eq=False)
class AttachmentAction:
    id: str
    message_id: str
    person_id: str
    room_id: str
    inputs: dict[str, Any]
    created: str


def new_timestamp() -> str:
    return iso_from_epoch(time.time())


class SimState:
    """Every object of one simulated Webex organisation, with the indexes routes need."""

    def __init__(self) -> None:
        self.org_id = ids.encode_id(ids.ORGANIZATION, ids.new_uuid())
        self.app_id = ids.encode_id(ids.APPLICATION, ids.new_uuid())
        self.clear()

    def clear(self) -> None:
        """Remove every object; the organisation and application ids stay."""
        self.people: dict[str, Person] = {}
        self.people_by_email: dict[str, Person] = {}
        self.people_by_uuid: dict[str, Person] = {}
        self.tokens: dict[str, str] = {}
        self.rooms: dict[str, Room] = {}
        self.direct_rooms: dict[frozenset[str], str] = {}
        self.messages: dict[str, Message] = {}
        # Every stored message, sorted by sequence: a message is numbered and stored in one
        # synchronous step, so the log can be searched by sequence with bisect.
        self.message_log: list[Message] = []
        self.room_messages: dict[str, list[Message]] = {}
        self.webhooks: dict[str, Webhook] = {}
        self.actions: dict[str, AttachmentAction] = {}

    # People

    def add_person(
        self,
        email: str,
        display_name: str,
        person_type: PersonType = "person",
        person_uuid: str | None = None,
        from_scenario: bool = False,
    ) -> Person:
        key = email.strip().lower()
        if key in self.people_by_email:
            raise ApiError(409, f"A person with email {email!r} already exists.")
        person = Person(
            uuid=person_uuid or ids.new_uuid(),
            email=email.strip(),
            display_name=display_name,
            type=person_type,
            created=new_timestamp(),
            from_scenario=from_scenario,
        )
        self.people[person.id] = person
        self.people_by_email[key] = person
        self.people_by_uuid[person.uuid] = person
        return person

    def find_person(self, reference: str) -> Person | None:
        """Return the person with this email, REST id or raw UUID, if any."""
        if "@" in reference:
            return self.people_by_email.get(reference.strip().lower())
        return self.people.get(reference) or self.people_by_uuid.get(reference)

    def person_of_token(self, token: str) -> Person | None:
        person_id = self.tokens.get(token)
        return self.people.get(person_id) if person_id else None

    # Rooms and memberships

    def create_room(
        self,
        title: str,
        room_type: RoomType,
        creator: Person,
        room_uuid: str | None = None,
        from_scenario: bool = False,
    ) -> Room:
        stamp = new_timestamp()
        room = Room(
            uuid=room_uuid or ids.new_uuid(),
            title=title,
            type=room_type,
            creator_id=creator.id,
            created=stamp,
            last_activity=stamp,
            from_scenario=from_scenario,
        )
        self.rooms[room.id] = room
        self.room_messages[room.id] = []
        return room

    def add_member(self, room: Room, person: Person) -> Membership:
        if person.id in room.memberships:
            raise ApiError(409, f"{person.email} is already a member of room {room.id}.")
        if room.type == "direct" and len(room.memberships) >= 2:
            raise ApiError(409, f"Direct room {room.id} already has two members.")
        membership_id = ids.encode_id(ids.MEMBERSHIP, f"{person.uuid}:{room.uuid}")
        membership = Membership(
            id=membership_id,
            room_id=room.id,
            person_id=person.id,
            created=new_timestamp(),
            is_moderator=False,
        )
        room.memberships[person.id] = membership
        if room.type == "direct" and len(room.memberships) == 2:
            self.direct_rooms[frozenset(room.memberships)] = room.id
        return membership

    def direct_room_between(self, first: Person, second: Person) -> Room | None:
        room_id = self.direct_rooms.get(frozenset((first.id, second.id)))
        return self.rooms.get(room_id) if room_id else None

    def rooms_of(self, person: Person) -> list[Room]:
        return [room for room in self.rooms.values() if person.id in room.memberships]

    # Messages

    def add_message(self, message: Message) -> None:
        self.messages[message.id] = message
        self.message_log.append(message)
        self.room_messages[message.room_id].append(message)
        self.rooms[message.room_id].last_activity = message.created

    def remove_message(self, message: Message) -> None:
        del self.messages[message.id]
        index = bisect.bisect_left(self.message_log, message.sequence, key=_sequence_of)
        if index < len(self.message_log) and self.message_log[index] is message:
            del self.message_log[index]
        self.room_messages[message.room_id].remove(message)

    def messages_after(self, sequence: int) -> list[Message]:
        """Return the stored messages created after the one numbered ``sequence``, oldest first."""
        start = bisect.bisect_right(self.message_log, sequence, key=_sequence_of)
        return self.message_log[start:]
