"""Message rules: what a valid message is, who may read, list and edit it."""

from __future__ import annotations

from typing import Any

from wxstream.sim import ids
from wxstream.sim.config import SimConfig
from wxstream.sim.errors import ApiError
from wxstream.sim.mentions import Segment, parse_markdown, render
from wxstream.sim.state import Message, Person, Room, SimState, new_timestamp

MAX_TEXT_BYTES = 7439
MAX_EDITS = 10
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
DESTINATION_FIELDS = ("roomId", "toPersonId", "toPersonEmail")


def check_text_length(field: str, value: str) -> None:
    size = len(value.encode("utf-8"))
    if size > MAX_TEXT_BYTES:
        raise ApiError(
            400,
            f"Message length exceeded maximum allowed: {field} is {size} bytes, "
            f"the maximum is {MAX_TEXT_BYTES} bytes. Split the message or send a file.",
        )


def optional_string(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"{field} must be a string, got {type(value).__name__}.")
    return value


def destination_of(body: dict[str, Any]) -> tuple[str, str]:
    """Return the one destination field and its value; none or several is a 400."""
    given = [field for field in DESTINATION_FIELDS if body.get(field) not in (None, "")]
    if not given:
        raise ApiError(400, "A destination is required: set roomId, toPersonId or toPersonEmail.")
    if len(given) > 1:
        raise ApiError(
            400, f"Only one destination is allowed, got {', '.join(given)}. Keep exactly one."
        )
    value = body[given[0]]
    if not isinstance(value, str):
        raise ApiError(400, f"{given[0]} must be a string.")
    return given[0], value


def files_of(body: dict[str, Any]) -> list[str]:
    # NOTE: only public URLs are accepted; multipart/form-data uploads of local files,
    # which Webex also accepts, are not supported.
    files = body.get("files")
    if files is None:
        return []
    if isinstance(files, str):
        files = [files]
    if not isinstance(files, list) or not all(isinstance(item, str) for item in files):
        raise ApiError(400, "files must be a list with one URL.")
    if len(files) > 1:
        raise ApiError(400, f"Only one file per message is allowed, got {len(files)}.")
    return files


def attachments_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    attachments = body.get("attachments")
    if attachments is None:
        return []
    if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
        raise ApiError(400, "attachments must be a list with one card object.")
    if len(attachments) > 1:
        raise ApiError(400, f"Only one attachment per message is allowed, got {len(attachments)}.")
    for attachment in attachments:
        if attachment.get("contentType") != CARD_CONTENT_TYPE:
            raise ApiError(
                400,
                f"attachments[0].contentType {attachment.get('contentType')!r} is invalid: "
                f"use {CARD_CONTENT_TYPE!r}.",
            )
        content = attachment.get("content")
        if not isinstance(content, dict) or content.get("type") != "AdaptiveCard":
            raise ApiError(400, "attachments[0].content must be an AdaptiveCard object.")
    return attachments


def mention_id_function(config: SimConfig) -> Any:
    if config.mention_id_format == "rest":
        return lambda person: person.id
    return lambda person: person.uuid


def check_parent(state: SimState, room: Room, parent_id: str | None) -> None:
    if parent_id is None:
        return
    parent = state.messages.get(parent_id)
    if parent is None or parent.room_id != room.id:
        raise ApiError(400, f"parentId {parent_id} is not a message in room {room.id}.")
    if parent.parent_id is not None:
        raise ApiError(400, f"parentId {parent_id} is itself a reply: reply to its parent.")


def build_message(
    state: SimState,
    config: SimConfig,
    room: Room,
    author: Person,
    *,
    text: str | None,
    markdown: str | None = None,
    segments: list[Segment] | None = None,
    files: list[str] | None = None,
    attachments: list[dict[str, Any]] | None = None,
    parent_id: str | None = None,
) -> Message:
    """Create a message; mentions come from ``segments`` or from the markdown."""
    message = Message(
        id=ids.encode_id(ids.MESSAGE, ids.new_uuid()),
        room_id=room.id,
        room_type=room.type,
        person_id=author.id,
        created=new_timestamp(),
        files=files or [],
        attachments=attachments or [],
        parent_id=parent_id,
    )
    apply_body(state, config, message, text=text, markdown=markdown, segments=segments)
    return message


def apply_body(
    state: SimState,
    config: SimConfig,
    message: Message,
    *,
    text: str | None,
    markdown: str | None,
    segments: list[Segment] | None = None,
) -> None:
    """Set text, markdown, html and mentions of a new or edited message."""
    # NOTE: markdown other than mentions is not rendered. The html wraps the escaped
    # markdown and a derived text keeps its markup, where Webex renders and strips it.
    if segments is None and markdown is not None:
        segments = parse_markdown(markdown, state.find_person)
    message.markdown = markdown
    if segments is None:
        message.text = text if text else None
        message.html = None
        message.mentioned_people = []
        message.mentioned_groups = []
        return
    rendered = render(segments, mention_id_function(config))
    message.text = text if text else (rendered.text or None)
    message.html = rendered.html
    message.mentioned_people = rendered.mentioned_people
    message.mentioned_groups = rendered.mentioned_groups


def can_read(message: Message, reader: Person, state: SimState) -> bool:
    """Return whether ``reader`` may fetch the message; a bot sees only what concerns it."""
    room = state.rooms.get(message.room_id)
    if room is None or reader.id not in room.memberships:
        return False
    if reader.type != "bot" or room.type == "direct":
        return True
    return message.person_id == reader.id or reader.id in message.mentioned_people


def check_editable(message: Message, editor: Person) -> None:
    if message.person_id != editor.id:
        raise ApiError(403, "Only the author of a message can edit it.")
    if message.files or message.attachments:
        raise ApiError(400, "Messages with files or cards cannot be edited.")
    if message.edits >= MAX_EDITS:
        raise ApiError(400, f"A message can be edited at most {MAX_EDITS} times.")
