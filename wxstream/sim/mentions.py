"""Mentions: parsing them from markdown or a user's text, and rendering text and html.

A message body is a list of segments: plain strings and :class:`Mention` objects. The plain
``text`` shows a mention as its visible name; the ``html`` wraps it in a ``<spark-mention>``
element as Webex clients receive it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from wxstream.sim.state import Person

GROUP_ALL = "all"

# <@personEmail:ann@example.com|Ann>, <@personId:ID|Ann>, <@personEmail:ann@example.com>, <@all>
_MARKDOWN_MENTION = re.compile(r"<@(?:(personEmail|personId):([^|>]+)(?:\|([^>]*))?|(all))>")


@dataclass(frozen=True)
class Mention:
    """One mention: a person, or the ``all`` group when ``person`` is None."""

    person: Person | None
    shown: str


Segment = str | Mention


@dataclass(frozen=True)
class RenderedBody:
    text: str
    html: str
    mentioned_people: list[str]
    mentioned_groups: list[str]


def parse_markdown(markdown: str, find_person: Callable[[str], Person | None]) -> list[Segment]:
    """Split markdown into text and mentions; a mention of an unknown person stays text."""
    segments: list[Segment] = []
    position = 0
    for match in _MARKDOWN_MENTION.finditer(markdown):
        mention = _markdown_mention(match, find_person)
        if mention is None:
            continue
        segments.append(markdown[position : match.start()])
        segments.append(mention)
        position = match.end()
    segments.append(markdown[position:])
    return [segment for segment in segments if segment != ""]


def _markdown_mention(
    match: re.Match[str], find_person: Callable[[str], Person | None]
) -> Mention | None:
    if match.group(4):
        return Mention(person=None, shown="All")
    person = find_person(match.group(2).strip())
    if person is None:
        return None
    shown = match.group(3) if match.group(3) else person.display_name
    return Mention(person=person, shown=shown)


def place_user_mentions(text: str, mentioned: Sequence[Person | None]) -> list[Segment]:
    """Turn ``@Name`` in a user's text into mentions of the ``mentioned`` people.

    Each person is looked for as ``@`` plus the display name, then ``@`` plus the first
    name, by plain substring search. A person not written in the text is mentioned at the
    start. A mentioned bot shows only its first name, as Webex does. None is the ``all``
    group, written ``@all`` or ``@All``.
    """
    segments: list[Segment] = [text]
    for person in mentioned:
        segments = _place_one(segments, person)
    return [segment for segment in segments if segment != ""]


def _place_one(segments: list[Segment], person: Person | None) -> list[Segment]:
    for written in _written_forms(person):
        for index, segment in enumerate(segments):
            if isinstance(segment, Mention):
                continue
            start = segment.find(written)
            if start < 0:
                continue
            mention = Mention(person=person, shown=_shown_name(person, written[1:]))
            end = start + len(written)
            return [
                *segments[:index],
                segment[:start],
                mention,
                segment[end:],
                *segments[index + 1 :],
            ]
    default = Mention(person=person, shown=_shown_name(person, None))
    return [default, " ", *segments]


def _written_forms(person: Person | None) -> list[str]:
    if person is None:
        return ["@all", "@All"]
    forms = ["@" + person.display_name, "@" + person.first_name]
    return [form for form in dict.fromkeys(forms) if len(form) > 1]


def _shown_name(person: Person | None, written: str | None) -> str:
    if person is None:
        return "All"
    if person.type == "bot":
        return person.first_name
    return written or person.display_name


def render(segments: Sequence[Segment], mention_id: Callable[[Person], str]) -> RenderedBody:
    """Render segments to plain text and html, and list who and which groups are mentioned."""
    text_parts: list[str] = []
    html_parts: list[str] = []
    people: list[str] = []
    groups: list[str] = []
    for segment in segments:
        if isinstance(segment, str):
            text_parts.append(segment)
            html_parts.append(html.escape(segment, quote=False))
            continue
        text_parts.append(segment.shown)
        html_parts.append(_spark_mention(segment, mention_id))
        if segment.person is None:
            groups.append(GROUP_ALL)
        else:
            people.append(segment.person.id)
    return RenderedBody(
        text="".join(text_parts),
        html="<p>" + "".join(html_parts) + "</p>",
        mentioned_people=list(dict.fromkeys(people)),
        mentioned_groups=list(dict.fromkeys(groups)),
    )


def _spark_mention(mention: Mention, mention_id: Callable[[Person], str]) -> str:
    shown = html.escape(mention.shown, quote=False)
    if mention.person is None:
        return (
            '<spark-mention data-object-type="groupMention" data-group-type="all">'
            f"{shown}</spark-mention>"
        )
    object_id = html.escape(mention_id(mention.person), quote=True)
    return (
        f'<spark-mention data-object-type="person" data-object-id="{object_id}">'
        f"{shown}</spark-mention>"
    )
