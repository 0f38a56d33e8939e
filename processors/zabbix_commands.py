"""The ``show issues`` and ``show status`` commands, which query the Zabbix API.

Importing this module registers both commands on the shared command registry. Nothing
here calls Zabbix before a command runs, so a worker starts while Zabbix is down.

``show issues`` asks ``trigger.get`` rather than ``problem.get``: one ``trigger.get``
request returns the host names (``selectHosts``), the severity, the time of the last
change and the acknowledgement of the last event (``selectLastEvent``), and it filters
with ``monitored`` and ``skipDependent``. ``problem.get`` returns no host names and has no
dependency filter, so it would need a second ``trigger.get`` request anyway.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from processors import commands
from processors.commands import CommandContext, CommandRegistry
from processors.zabbix import (
    ZabbixClient,
    ZabbixConfig,
    ZabbixError,
    ZabbixNotConfigured,
    ZabbixVersion,
    shared_session,
)
from wxstream.settings import Settings

logger = logging.getLogger(__name__)

DEFAULT_ISSUE_LIMIT = 10
MAX_ISSUE_LIMIT = 100
# Webex rejects ``markdown`` longer than 7439 bytes of UTF-8.
MAX_MESSAGE_BYTES = 7439
MAX_DESCRIPTION_CHARS = 200

# Trigger severities (the ``priority`` field) with the default Zabbix names.
# NOTE: Zabbix 6.0 and later let an administrator rename severities; these are the defaults.
SEVERITY_NAMES = {
    0: "Not classified",
    1: "Information",
    2: "Warning",
    3: "Average",
    4: "High",
    5: "Disaster",
}

# Triggers in the problem state that are enabled, on monitored hosts, with enabled items,
# and not hidden behind a trigger they depend on that is itself in problem.
PROBLEM_TRIGGERS: Mapping[str, Any] = {
    "filter": {"value": 1},
    "monitored": True,
    "active": True,
    "skipDependent": True,
}

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")
_DIGITS = re.compile(r"[0-9]+")


class InvalidArgument(ValueError):
    """A command argument is invalid; its message gives the valid form."""


# --- show issues ------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One trigger in the problem state, as ``show issues`` lists it."""

    hosts: tuple[str, ...]
    severity: int
    description: str
    since: int
    acknowledged: bool

    @classmethod
    def from_trigger(cls, trigger: Mapping[str, Any]) -> Problem:
        hosts = tuple(
            str(host.get("name") or host.get("host") or "?") for host in trigger.get("hosts", [])
        )
        last_event = trigger.get("lastEvent")
        acknowledged = isinstance(last_event, dict) and str(last_event.get("acknowledged")) == "1"
        return cls(
            hosts=hosts,
            severity=int(trigger.get("priority", 0)),
            description=str(trigger.get("description", "")),
            since=int(trigger.get("lastchange", 0)),
            acknowledged=acknowledged,
        )

    @property
    def severity_name(self) -> str:
        return SEVERITY_NAMES.get(self.severity, f"Severity {self.severity}")


@dataclass(frozen=True)
class ProblemPage:
    """The newest problems and how many problems exist in all."""

    problems: tuple[Problem, ...]
    total: int


def parse_issue_limit(args: str) -> int:
    """Return the number of problems ``show issues`` lists, from its argument text."""
    words = args.split()
    if not words:
        return DEFAULT_ISSUE_LIMIT
    if len(words) == 1 and _DIGITS.fullmatch(words[0]):
        limit = int(words[0])
        if 1 <= limit <= MAX_ISSUE_LIMIT:
            return limit
    quoted = args.strip() if len(args.strip()) <= 40 else args.strip()[:39] + "…"
    raise InvalidArgument(
        f"`show issues` takes one number from 1 to {MAX_ISSUE_LIMIT}, the number of problems "
        f"to list, but got {escape_markdown(quoted)}. Example: `show issues 20`."
    )


async def fetch_problems(client: ZabbixClient, limit: int) -> ProblemPage:
    """Fetch the ``limit`` problems that changed last, and the number of all problems."""
    triggers = await client.call(
        "trigger.get",
        {
            **PROBLEM_TRIGGERS,
            "output": ["triggerid", "description", "priority", "lastchange"],
            "expandDescription": True,
            "selectHosts": ["hostid", "host", "name"],
            "selectLastEvent": ["eventid", "clock", "acknowledged"],
            "sortfield": "lastchange",
            "sortorder": "DESC",
            "limit": limit,
        },
    )
    total = await client.count("trigger.get", PROBLEM_TRIGGERS)
    problems = tuple(Problem.from_trigger(trigger) for trigger in triggers)
    return ProblemPage(problems, max(total, len(problems)))


def format_age(seconds: float) -> str:
    """Format a duration as its two largest units: ``45s``, ``12m``, ``3h 12m``, ``2d 4h``."""
    whole = max(0, int(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def format_problem(problem: Problem, now: float) -> str:
    description = problem.description
    if len(description) > MAX_DESCRIPTION_CHARS:
        description = description[: MAX_DESCRIPTION_CHARS - 1] + "…"
    hosts = ", ".join(problem.hosts) or "(no host)"
    line = (
        f"- **{escape_markdown(hosts)}** · {problem.severity_name} · "
        f"{escape_markdown(description)} · {format_age(now - problem.since)}"
    )
    if problem.acknowledged:
        line += " · ✔ acknowledged"
    return line


def format_problems(page: ProblemPage, now: float) -> str:
    """Format problems as a markdown list that stays under the Webex size limit."""
    if not page.problems:
        return "No problems in Zabbix: every monitored trigger is OK."
    listed = len(page.problems)
    if listed < page.total:
        header = f"**Zabbix problems**: the newest {listed} of {page.total}"
    else:
        header = f"**Zabbix problems**: {listed}, newest first"

    lines = [header, ""]
    size = _byte_length("\n".join(lines))
    for index, problem in enumerate(page.problems):
        line = format_problem(problem, now)
        footer = _size_footer(page.total - index)
        if size + _byte_length("\n" + line) + _byte_length("\n\n" + footer) > MAX_MESSAGE_BYTES:
            return "\n".join([*lines, "", footer])
        lines.append(line)
        size += _byte_length("\n" + line)
    return "\n".join(lines)


def _size_footer(remaining: int) -> str:
    return f"…and {remaining} more, left out to keep this message within the Webex size limit."


# --- show status ------------------------------------------------------------------------


# Each count is one ``countOutput`` request. Hosts have status 0 (monitored) or 1 (not
# monitored), and host.get returns no templates. Items, triggers and web scenarios have
# status 0 (enabled) or 1 (disabled); ``templated: False`` leaves out those of templates.
# An item that Zabbix cannot collect has state 1 (not supported), which needs Zabbix 2.2
# or later; a trigger in problem has value 1. These fields are the same in Zabbix 5.0 to 7.x.
STATUS_QUERIES: Mapping[str, tuple[str, Mapping[str, Any]]] = {
    "hosts_enabled": ("host.get", {"filter": {"status": 0}}),
    "hosts_disabled": ("host.get", {"filter": {"status": 1}}),
    "templates": ("template.get", {}),
    "items_enabled": ("item.get", {"templated": False, "filter": {"status": 0}}),
    "items_disabled": ("item.get", {"templated": False, "filter": {"status": 1}}),
    "items_not_supported": (
        "item.get",
        {"templated": False, "filter": {"status": 0, "state": 1}},
    ),
    "triggers_enabled": ("trigger.get", {"templated": False, "filter": {"status": 0}}),
    "triggers_disabled": ("trigger.get", {"templated": False, "filter": {"status": 1}}),
    "triggers_problem": ("trigger.get", {"templated": False, "filter": {"status": 0, "value": 1}}),
    "triggers_ok": ("trigger.get", {"templated": False, "filter": {"status": 0, "value": 0}}),
    "web_enabled": ("httptest.get", {"templated": False, "filter": {"status": 0}}),
    "web_disabled": ("httptest.get", {"templated": False, "filter": {"status": 1}}),
}


@dataclass(frozen=True)
class StatusCounts:
    """Counts of Zabbix objects by state, and the server version."""

    version: ZabbixVersion
    hosts_enabled: int
    hosts_disabled: int
    templates: int
    items_enabled: int
    items_disabled: int
    items_not_supported: int
    triggers_enabled: int
    triggers_disabled: int
    triggers_problem: int
    triggers_ok: int
    web_enabled: int
    web_disabled: int


async def fetch_status(client: ZabbixClient) -> StatusCounts:
    """Count hosts, templates, items, triggers and web scenarios, one request per count."""
    version = await client.version()
    counts = await asyncio.gather(
        *(client.count(method, params) for method, params in STATUS_QUERIES.values())
    )
    return StatusCounts(version, **dict(zip(STATUS_QUERIES, counts, strict=True)))


def format_status(status: StatusCounts) -> str:
    """Format the counts as a markdown list with a total per kind of object."""
    hosts = status.hosts_enabled + status.hosts_disabled
    items = status.items_enabled + status.items_disabled
    triggers = status.triggers_enabled + status.triggers_disabled
    web = status.web_enabled + status.web_disabled
    return "\n".join(
        [
            f"**Zabbix {status.version} status**",
            "",
            f"- **Hosts**: {hosts:,} ({status.hosts_enabled:,} enabled, "
            f"{status.hosts_disabled:,} disabled)",
            f"- **Templates**: {status.templates:,}",
            f"- **Items**: {items:,} ({status.items_enabled:,} enabled, "
            f"{status.items_disabled:,} disabled, "
            f"{status.items_not_supported:,} not supported)",
            f"- **Triggers**: {triggers:,} ({status.triggers_enabled:,} enabled, "
            f"{status.triggers_disabled:,} disabled); of the enabled, "
            f"{status.triggers_problem:,} in problem, {status.triggers_ok:,} OK",
            f"- **Web scenarios**: {web:,} ({status.web_enabled:,} enabled, "
            f"{status.web_disabled:,} disabled)",
        ]
    )


# --- commands ---------------------------------------------------------------------------


async def show_issues(context: CommandContext) -> str:
    try:
        limit = parse_issue_limit(context.args)
    except InvalidArgument as exc:
        return str(exc)

    async def answer(client: ZabbixClient) -> str:
        return format_problems(await fetch_problems(client, limit), time.time())

    return await run_with_zabbix(context.settings, "show issues", answer)


async def show_status(context: CommandContext) -> str:
    async def answer(client: ZabbixClient) -> str:
        return format_status(await fetch_status(client))

    return await run_with_zabbix(context.settings, "show status", answer)


async def run_with_zabbix(
    settings: Settings, command_name: str, answer: Callable[[ZabbixClient], Awaitable[str]]
) -> str:
    """Run ``answer`` with a Zabbix client; any Zabbix failure becomes a one-message reply."""
    try:
        config = ZabbixConfig.from_settings(settings)
    except ZabbixNotConfigured as exc:
        return exc.reason

    try:
        async with ZabbixClient(config, session=shared_session(config)) as client:
            return await answer(client)
    except ZabbixError as exc:
        logger.warning("%s failed: %s", command_name, exc.reason)
        return f"`{command_name}` failed: {exc.reason}"


def register_zabbix_commands(registry: CommandRegistry) -> None:
    """Register ``show issues`` and ``show status`` on ``registry``."""
    registry.register(
        "show issues",
        show_issues,
        arguments="[N]",
        help=(
            f"List the N newest Zabbix problems (default {DEFAULT_ISSUE_LIMIT}, "
            f"at most {MAX_ISSUE_LIMIT})."
        ),
    )
    registry.register(
        "show status",
        show_status,
        help="Count Zabbix hosts, templates, items, triggers and web scenarios by state.",
    )


def escape_markdown(text: str) -> str:
    """Backslash-escape the characters that Webex markdown would read as markup."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _byte_length(text: str) -> int:
    return len(text.encode("utf-8"))


register_zabbix_commands(commands.registry)
