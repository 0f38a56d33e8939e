"""The ``show issues`` and ``show status`` commands against the Zabbix stand-in server."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from processors.commands import CommandContext, CommandRegistry
from processors.zabbix_commands import (
    MAX_MESSAGE_BYTES,
    SEVERITY_NAMES,
    format_age,
    register_zabbix_commands,
)
from tests.zabbix_standin import (
    Fixtures,
    Host,
    HttpTest,
    Item,
    Trigger,
    ZabbixStandIn,
    build_fixtures,
)
from wxstream.settings import Settings

WEB01 = Host("101", "web01", "Web server 01")
DB01 = Host("102", "db01")


def standin_settings(standin: ZabbixStandIn, *, token: bool = True) -> Settings:
    return Settings(
        zabbix_url=standin.url,
        zabbix_token=SecretStr(standin.token) if token else None,
        zabbix_user=None if token else standin.user,
        zabbix_password=None if token else SecretStr(standin.password),
        zabbix_timeout_seconds=5,
    )


async def run_command(text: str, settings: Settings) -> str:
    registry = CommandRegistry()
    register_zabbix_commands(registry)
    parsed = registry.match(text)
    assert parsed is not None, f"no command matches {text!r}"
    context = CommandContext(
        name=parsed.command.name,
        args=parsed.args,
        sender_id="person-1",
        sender_email="ann@example.com",
        room_id="room-1",
        room_type="direct",
        settings=settings,
        registry=registry,
    )
    reply = await parsed.command.handler(context)
    assert isinstance(reply, str)
    return reply


def problem_lines(reply: str) -> list[str]:
    return [line for line in reply.splitlines() if line.startswith("- ")]


@pytest.fixture
def fixtures() -> Fixtures:
    return Fixtures()


@pytest.fixture
def standin(fixtures: Fixtures) -> Iterator[ZabbixStandIn]:
    with ZabbixStandIn("7.0.5", fixtures=fixtures) as server:
        yield server


# --- show issues ------------------------------------------------------------------------


async def test_show_issues_lists_newest_first(fixtures: Fixtures, standin: ZabbixStandIn) -> None:
    fixtures.add_problem(WEB01, "Disk full on /var", priority=4, age_seconds=7200)
    fixtures.add_problem(DB01, "MySQL is down", priority=5, age_seconds=60)
    fixtures.add_problem(WEB01, "High CPU load", priority=2, age_seconds=3 * 86400)

    reply = await run_command("show issues", standin_settings(standin))

    lines = problem_lines(reply)
    assert len(lines) == 3
    assert "MySQL is down" in lines[0]
    assert "Disk full on /var" in lines[1]
    assert "High CPU load" in lines[2]
    assert reply.startswith("**Zabbix problems**: 3, newest first")


async def test_show_issues_line_has_host_severity_description_age(
    fixtures: Fixtures, standin: ZabbixStandIn
) -> None:
    fixtures.add_problem(
        WEB01, "Disk full on /var", priority=4, age_seconds=3 * 3600 + 12 * 60 + 20
    )

    reply = await run_command("show issues", standin_settings(standin))

    assert problem_lines(reply) == ["- **Web server 01** · High · Disk full on /var · 3h 12m"]


async def test_show_issues_default_limit_is_ten(fixtures: Fixtures, standin: ZabbixStandIn) -> None:
    for number in range(12):
        fixtures.add_problem(WEB01, f"Problem {number}", priority=3, age_seconds=600 + number * 60)

    reply = await run_command("show issues", standin_settings(standin))

    lines = problem_lines(reply)
    assert len(lines) == 10
    assert "Problem 0 " in lines[0]
    assert "Problem 9 " in lines[9]
    assert reply.startswith("**Zabbix problems**: the newest 10 of 12")
    listing = [call for call in standin.calls("trigger.get") if not call.params.get("countOutput")]
    assert listing[0].params["limit"] == 10


async def test_show_issues_argument_sets_limit(fixtures: Fixtures, standin: ZabbixStandIn) -> None:
    for number in range(5):
        fixtures.add_problem(WEB01, f"Problem {number}", priority=3, age_seconds=600 + number * 60)

    reply = await run_command("show issues 3", standin_settings(standin))

    assert len(problem_lines(reply)) == 3
    assert reply.startswith("**Zabbix problems**: the newest 3 of 5")


async def test_show_issues_marks_acknowledged(fixtures: Fixtures, standin: ZabbixStandIn) -> None:
    fixtures.add_problem(WEB01, "Disk full", priority=4, age_seconds=120, acknowledged=True)
    fixtures.add_problem(DB01, "MySQL is down", priority=5, age_seconds=600)

    reply = await run_command("show issues", standin_settings(standin))

    acknowledged, unacknowledged = problem_lines(reply)
    assert acknowledged.endswith("· ✔ acknowledged")
    assert "acknowledged" not in unacknowledged


async def test_show_issues_names_every_severity(fixtures: Fixtures, standin: ZabbixStandIn) -> None:
    for priority in range(6):
        fixtures.add_problem(
            WEB01, f"Severity {priority}", priority=priority, age_seconds=60 * (priority + 1)
        )

    reply = await run_command("show issues", standin_settings(standin))

    lines = problem_lines(reply)
    for priority, name in SEVERITY_NAMES.items():
        (line,) = [line for line in lines if f"Severity {priority} " in line]
        assert f"· {name} ·" in line


async def test_show_issues_skips_disabled_unmonitored_and_dependent(
    fixtures: Fixtures, standin: ZabbixStandIn
) -> None:
    parked = Host("103", "parked", status=1)
    fixtures.hosts.append(parked)
    router = fixtures.add_problem(DB01, "Router unreachable", priority=5, age_seconds=300)
    behind = fixtures.add_problem(WEB01, "Web server unreachable", priority=4, age_seconds=200)
    behind.dependencies = (router.triggerid,)
    disabled = fixtures.add_problem(WEB01, "Disabled trigger", priority=4, age_seconds=100)
    disabled.status = 1
    fixtures.add_problem(parked, "On a host not monitored", priority=4, age_seconds=100)
    fixtures.triggers.append(Trigger("20001", "Trigger that is OK", ("101",), value=0))

    reply = await run_command("show issues", standin_settings(standin))

    (line,) = problem_lines(reply)
    assert "Router unreachable" in line


async def test_show_issues_sends_documented_trigger_get(
    fixtures: Fixtures, standin: ZabbixStandIn
) -> None:
    fixtures.add_problem(WEB01, "Disk full", priority=4, age_seconds=120)

    await run_command("show issues", standin_settings(standin))

    listing, count = standin.calls("trigger.get")
    assert listing.params["filter"] == {"value": 1}
    assert listing.params["monitored"] is True
    assert listing.params["skipDependent"] is True
    assert listing.params["expandDescription"] is True
    assert listing.params["sortfield"] == "lastchange"
    assert listing.params["sortorder"] == "DESC"
    assert "acknowledged" in listing.params["selectLastEvent"]
    assert count.params["countOutput"] is True


async def test_show_issues_expands_host_macro(fixtures: Fixtures, standin: ZabbixStandIn) -> None:
    fixtures.add_problem(DB01, "{HOST.NAME} is unreachable", priority=4, age_seconds=120)

    reply = await run_command("show issues", standin_settings(standin))

    assert "db01 is unreachable" in reply


async def test_show_issues_escapes_markdown(fixtures: Fixtures, standin: ZabbixStandIn) -> None:
    fixtures.add_problem(Host("104", "app_01"), "Queue *orders* > 100", priority=2, age_seconds=60)

    reply = await run_command("show issues", standin_settings(standin))

    (line,) = problem_lines(reply)
    assert "**app\\_01**" in line
    assert "Queue \\*orders\\* \\> 100" in line


async def test_show_issues_without_problems(standin: ZabbixStandIn) -> None:
    reply = await run_command("show issues", standin_settings(standin))

    assert reply == "No problems in Zabbix: every monitored trigger is OK."


async def test_show_issues_stays_under_webex_limit(
    fixtures: Fixtures, standin: ZabbixStandIn
) -> None:
    long_description = "Überlast im Rechenzentrum, Ölkühlung ausgefallen 🔥 " * 6
    for number in range(100):
        fixtures.add_problem(
            WEB01, f"{number} {long_description}", priority=5, age_seconds=60 + number
        )

    reply = await run_command("show issues 100", standin_settings(standin))

    assert len(reply.encode("utf-8")) <= MAX_MESSAGE_BYTES
    listed = len(problem_lines(reply))
    assert 10 < listed < 100
    assert reply.endswith(
        f"…and {100 - listed} more, left out to keep this message within the Webex size limit."
    )


@pytest.mark.parametrize("argument", ["0", "101", "-1", "ten", "5 6", "2.5"])
async def test_show_issues_rejects_invalid_argument(argument: str, standin: ZabbixStandIn) -> None:
    reply = await run_command(f"show issues {argument}", standin_settings(standin))

    assert reply.startswith("`show issues` takes one number from 1 to 100")
    assert "Example: `show issues 20`" in reply
    assert standin.requests == []


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0s"),
        (45, "45s"),
        (60, "1m"),
        (12 * 60 + 59, "12m"),
        (3600, "1h 0m"),
        (3 * 3600 + 12 * 60 + 5, "3h 12m"),
        (86400, "1d 0h"),
        (2 * 86400 + 4 * 3600 + 59 * 60, "2d 4h"),
        (-30, "0s"),
    ],
)
def test_format_age_two_largest_units(seconds: int, expected: str) -> None:
    assert format_age(seconds) == expected


# --- show status ------------------------------------------------------------------------


def status_fixtures() -> Fixtures:
    hosts = [Host(str(100 + n), f"host{n}", status=0 if n < 3 else 1) for n in range(4)]
    items = [
        Item("1", "100"),
        Item("2", "100"),
        Item("3", "101", state=1),
        Item("4", "101", status=1),
        Item("5", "102", status=1, state=1),
        Item("6", "900", templated=True),
    ]
    triggers = [
        Trigger("1", "ok", ("100",)),
        Trigger("2", "problem", ("100",), value=1),
        Trigger("3", "problem", ("101",), value=1),
        Trigger("4", "disabled", ("101",), status=1),
        Trigger("5", "on template", ("900",), templated=True),
    ]
    httptests = [
        HttpTest("1", "100"),
        HttpTest("2", "100", status=1),
        HttpTest("3", "101", status=1),
        HttpTest("4", "900", templated=True),
    ]
    return build_fixtures(hosts, templates=7, items=items, triggers=triggers, httptests=httptests)


EXPECTED_STATUS = """\
**Zabbix {version} status**

- **Hosts**: 4 (3 enabled, 1 disabled)
- **Templates**: 7
- **Items**: 5 (3 enabled, 2 disabled, 1 not supported)
- **Triggers**: 4 (3 enabled, 1 disabled); of the enabled, 2 in problem, 1 OK
- **Web scenarios**: 3 (1 enabled, 2 disabled)"""


@pytest.mark.parametrize(
    ("version", "token"),
    [("5.0.30", False), ("6.0.20", True), ("6.0.20", False), ("7.0.5", True), ("7.0.5", False)],
)
async def test_show_status_counts_per_version(version: str, token: bool) -> None:
    with ZabbixStandIn(version, fixtures=status_fixtures()) as standin:
        reply = await run_command("show status", standin_settings(standin, token=token))

    assert reply == EXPECTED_STATUS.format(version=version)


async def test_show_status_counts_with_count_output(standin: ZabbixStandIn) -> None:
    await run_command("show status", standin_settings(standin))

    counted = [call for call in standin.requests if call.method.endswith(".get")]
    assert len(counted) == 12
    assert all(call.params["countOutput"] is True for call in counted)
    assert {call.method for call in counted} == {
        "host.get",
        "template.get",
        "item.get",
        "trigger.get",
        "httptest.get",
    }
    (not_supported,) = [
        call for call in standin.calls("item.get") if call.params["filter"].get("state") == 1
    ]
    assert not_supported.params["filter"] == {"status": 0, "state": 1}


async def test_show_status_relogs_in_once_after_session_expiry() -> None:
    with ZabbixStandIn("7.0.5", fixtures=status_fixtures()) as standin:
        settings = standin_settings(standin, token=False)
        await run_command("show status", settings)
        standin.expire_sessions()

        reply = await run_command("show status", settings)

        assert reply == EXPECTED_STATUS.format(version="7.0.5")
        assert len(standin.calls("user.login")) == 2


# --- failures and configuration ---------------------------------------------------------


@pytest.mark.parametrize("command", ["show issues", "show status"])
async def test_commands_name_variables_when_not_configured(command: str) -> None:
    settings = Settings(zabbix_url=None, zabbix_token=None, zabbix_user=None)

    reply = await run_command(command, settings)

    assert reply.startswith("Zabbix is not configured.")
    for variable in (
        "WXSTREAM_ZABBIX_URL",
        "WXSTREAM_ZABBIX_TOKEN",
        "WXSTREAM_ZABBIX_USER",
        "WXSTREAM_ZABBIX_PASSWORD",
    ):
        assert variable in reply


@pytest.mark.parametrize("command", ["show issues", "show status"])
async def test_commands_report_zabbix_down_in_one_message(command: str) -> None:
    standin = ZabbixStandIn("7.0.5").start()
    standin.stop()

    reply = await run_command(command, standin_settings(standin))

    assert re.fullmatch(
        rf"`{command}` failed: Zabbix at http://127\.0\.0\.1:\d+/zabbix/api_jsonrpc\.php "
        r"could not be reached: .+",
        reply,
    )
    assert "\n" not in reply


async def test_commands_report_refused_session_once() -> None:
    with ZabbixStandIn("7.0.5", session_limit=0) as standin:
        reply = await run_command("show issues", standin_settings(standin, token=False))

        assert reply.startswith("`show issues` failed: Zabbix rejected trigger.get again")
        assert len(standin.calls("user.login")) == 2


async def test_commands_report_bad_gateway(standin: ZabbixStandIn) -> None:
    standin.down = True

    reply = await run_command("show status", standin_settings(standin))

    assert reply.startswith("`show status` failed: Zabbix at ")
    assert reply.endswith("returned HTTP 502 for apiinfo.version")


def test_register_adds_both_commands_with_help() -> None:
    registry = CommandRegistry()

    register_zabbix_commands(registry)

    issues = registry.get("show issues")
    status = registry.get("show status")
    assert issues is not None
    assert status is not None
    assert issues.usage == "show issues [N]"
    assert "default 10" in issues.help
    assert "hosts" in status.help
