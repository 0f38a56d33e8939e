"""Scenario files: the bot, people and rooms a simulator starts with (JSON or YAML).

Example::

    bot: {displayName: "Zabbix Alert Bot", email: zabbix@webex.bot, token: dev-token}
    people:
      - {email: ann@example.com, displayName: Ann Lee}
    rooms:
      - {title: Ops, type: group, members: [ann@example.com, zabbix@webex.bot]}

A room's first member is its creator. Every object gets its id when the file is loaded,
so a reset recreates the same ids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

from wxstream.sim import ids
from wxstream.sim.state import PersonType, RoomType


class ScenarioError(ValueError):
    """A scenario file that cannot be read or has an invalid entry."""


@dataclass
class ScenarioPerson:
    email: str
    display_name: str
    type: PersonType = "person"
    token: str | None = None
    uuid: str = field(default_factory=ids.new_uuid)


@dataclass
class ScenarioRoom:
    title: str
    type: RoomType
    members: list[str]
    uuid: str = field(default_factory=ids.new_uuid)


@dataclass
class Scenario:
    bot: dict[str, str] = field(default_factory=dict)
    people: list[ScenarioPerson] = field(default_factory=list)
    rooms: list[ScenarioRoom] = field(default_factory=list)


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario file, raising ScenarioError naming the file and the bad entry."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario file {source}: {exc.strerror}") from None
    try:
        document = json.loads(text) if source.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ScenarioError(f"scenario file {source} is not valid JSON or YAML: {exc}") from None
    return parse_scenario(document or {}, str(source))


def parse_scenario(document: Any, origin: str = "scenario") -> Scenario:
    if not isinstance(document, dict):
        raise ScenarioError(f"{origin}: expected a mapping with bot, people and rooms")
    return Scenario(
        bot=_parse_bot(document.get("bot") or {}, origin),
        people=[_parse_person(entry, origin) for entry in document.get("people") or []],
        rooms=[_parse_room(entry, origin) for entry in document.get("rooms") or []],
    )


def _parse_bot(entry: Any, origin: str) -> dict[str, str]:
    if not isinstance(entry, dict):
        raise ScenarioError(f"{origin}: bot must be a mapping of displayName, email, token")
    bot = {key: entry[key] for key in ("displayName", "email", "token") if entry.get(key)}
    for key, value in bot.items():
        if not isinstance(value, str):
            raise ScenarioError(f"{origin}: bot.{key} must be a string, got {value!r}")
    return bot


def _parse_person(entry: Any, origin: str) -> ScenarioPerson:
    if not isinstance(entry, dict) or not isinstance(entry.get("email"), str):
        raise ScenarioError(f"{origin}: person {entry!r} needs an email")
    person_type = entry.get("type", "person")
    if person_type not in ("person", "bot"):
        raise ScenarioError(
            f"{origin}: person {entry['email']} has type {person_type!r}: use person or bot"
        )
    display_name = entry.get("displayName") or default_display_name(entry["email"])
    return ScenarioPerson(
        email=entry["email"],
        display_name=str(display_name),
        type=cast(PersonType, person_type),
        token=entry.get("token"),
    )


def _parse_room(entry: Any, origin: str) -> ScenarioRoom:
    if not isinstance(entry, dict):
        raise ScenarioError(f"{origin}: room {entry!r} must be a mapping")
    room_type = entry.get("type", "group")
    members = entry.get("members") or []
    if room_type not in ("group", "direct"):
        raise ScenarioError(f"{origin}: room {entry!r} has type {room_type!r}: use group or direct")
    if not isinstance(members, list) or not members:
        raise ScenarioError(f"{origin}: room {entry!r} needs a list of member emails")
    if room_type == "direct" and len(members) != 2:
        raise ScenarioError(f"{origin}: direct room {entry!r} needs exactly two members")
    title = entry.get("title") or ("Direct" if room_type == "direct" else "Room")
    return ScenarioRoom(
        title=str(title), type=cast(RoomType, room_type), members=[str(m) for m in members]
    )


def default_display_name(email: str) -> str:
    """Derive a display name from an email's local part: ann.lee@x -> Ann Lee."""
    local = email.split("@", 1)[0]
    words = local.replace(".", " ").replace("_", " ").replace("-", " ").split()
    return " ".join(word.capitalize() for word in words) or email
