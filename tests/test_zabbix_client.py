"""The Zabbix JSON-RPC client against the stand-in server: auth forms, re-login, failures."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from processors.zabbix import (
    ZabbixAuthError,
    ZabbixClient,
    ZabbixConfig,
    ZabbixNotConfigured,
    ZabbixSession,
    ZabbixUnavailable,
    ZabbixVersion,
)
from tests.zabbix_standin import ZabbixStandIn, write_self_signed_certificate
from wxstream.settings import Settings

HOST_COUNT = {"filter": {"status": 0}}


def token_config(standin: ZabbixStandIn, **overrides: object) -> ZabbixConfig:
    values: dict[str, object] = {"url": standin.url, "token": standin.token, "timeout_seconds": 5}
    return ZabbixConfig(**{**values, **overrides})  # type: ignore[arg-type]


def login_config(standin: ZabbixStandIn, **overrides: object) -> ZabbixConfig:
    values: dict[str, object] = {
        "url": standin.url,
        "user": standin.user,
        "password": standin.password,
        "timeout_seconds": 5,
    }
    return ZabbixConfig(**{**values, **overrides})  # type: ignore[arg-type]


@pytest.fixture
def standin_7_0() -> Iterator[ZabbixStandIn]:
    with ZabbixStandIn("7.0.5") as standin:
        yield standin


# --- versions ---------------------------------------------------------------------------


def test_version_parse_reads_major_minor_patch() -> None:
    assert ZabbixVersion.parse("7.0.5") == ZabbixVersion(7, 0, 5)
    assert ZabbixVersion.parse("6.4.0rc1") == ZabbixVersion(6, 4, 0)
    assert ZabbixVersion.parse("5.0") == ZabbixVersion(5, 0, 0)


def test_version_parse_rejects_garbage() -> None:
    with pytest.raises(ValueError, match=r"not major\.minor"):
        ZabbixVersion.parse("latest")


@pytest.mark.parametrize(
    ("version", "tokens", "user_parameter", "bearer"),
    [
        ("4.0.0", False, "user", False),
        ("5.0.30", False, "user", False),
        ("5.4.0", True, "username", False),
        ("6.0.0", True, "username", False),
        ("6.4.0", True, "username", True),
        ("7.0.0", True, "username", True),
        ("7.2.0", True, "username", True),
    ],
)
def test_version_auth_features(
    version: str, tokens: bool, user_parameter: str, bearer: bool
) -> None:
    parsed = ZabbixVersion.parse(version)
    assert parsed.supports_api_tokens is tokens
    assert parsed.login_user_parameter == user_parameter
    assert parsed.reads_bearer_header is bearer


# --- configuration ----------------------------------------------------------------------


def test_config_without_url_names_the_variables() -> None:
    settings = Settings(zabbix_url=None, zabbix_token=None, zabbix_user=None)
    with pytest.raises(ZabbixNotConfigured) as caught:
        ZabbixConfig.from_settings(settings)
    for variable in ("WXSTREAM_ZABBIX_URL", "WXSTREAM_ZABBIX_TOKEN", "WXSTREAM_ZABBIX_USER"):
        assert variable in caught.value.reason


def test_config_without_credentials_names_the_variables() -> None:
    settings = Settings(
        zabbix_url="https://zabbix.example.com",
        zabbix_token=None,
        zabbix_user="Admin",
        zabbix_password=None,
    )
    with pytest.raises(ZabbixNotConfigured) as caught:
        ZabbixConfig.from_settings(settings)
    assert "WXSTREAM_ZABBIX_PASSWORD" in caught.value.reason
    assert "WXSTREAM_ZABBIX_TOKEN" in caught.value.reason


def test_config_endpoint_appends_api_path() -> None:
    assert (
        ZabbixConfig(url="https://zabbix.example.com/zabbix/").endpoint
        == "https://zabbix.example.com/zabbix/api_jsonrpc.php"
    )
    assert (
        ZabbixConfig(url="https://zabbix.example.com/api_jsonrpc.php").endpoint
        == "https://zabbix.example.com/api_jsonrpc.php"
    )


def test_config_repr_hides_secrets() -> None:
    config = ZabbixConfig(url="https://z.example.com", token="tok-secret", password="pw-secret")
    assert "tok-secret" not in repr(config)
    assert "pw-secret" not in repr(config)


# --- auth forms -------------------------------------------------------------------------


async def test_client_asks_version_without_credentials(standin_7_0: ZabbixStandIn) -> None:
    async with ZabbixClient(token_config(standin_7_0)) as client:
        await client.count("host.get", HOST_COUNT)

    (version_call,) = standin_7_0.calls("apiinfo.version")
    assert not version_call.has_auth_member
    assert version_call.authorization is None


@pytest.mark.parametrize("version", ["5.4.0", "6.0.20"])
async def test_client_token_before_6_4_uses_auth_member(version: str) -> None:
    with ZabbixStandIn(version) as standin:
        async with ZabbixClient(token_config(standin)) as client:
            assert await client.count("host.get", HOST_COUNT) == 0

        (call,) = standin.calls("host.get")
        assert call.body["auth"] == standin.token
        assert call.authorization is None


@pytest.mark.parametrize("version", ["6.4.0", "7.0.5", "7.2.0"])
async def test_client_token_from_6_4_uses_bearer_header(version: str) -> None:
    with ZabbixStandIn(version) as standin:
        async with ZabbixClient(token_config(standin)) as client:
            assert await client.count("host.get", HOST_COUNT) == 0

        (call,) = standin.calls("host.get")
        assert call.authorization == f"Bearer {standin.token}"
        assert not call.has_auth_member


async def test_client_token_needs_zabbix_5_4() -> None:
    with ZabbixStandIn("5.0.30") as standin:
        async with ZabbixClient(token_config(standin)) as client:
            with pytest.raises(ZabbixNotConfigured) as caught:
                await client.count("host.get", HOST_COUNT)

        assert "5.4" in caught.value.reason
        assert "WXSTREAM_ZABBIX_USER" in caught.value.reason
        assert standin.calls("host.get") == []


async def test_client_login_before_5_4_uses_user() -> None:
    with ZabbixStandIn("5.0.30") as standin:
        async with ZabbixClient(login_config(standin)) as client:
            await client.count("host.get", HOST_COUNT)

        (login,) = standin.calls("user.login")
        assert set(login.params) == {"user", "password"}
        assert not login.has_auth_member
        (call,) = standin.calls("host.get")
        assert call.body["auth"]
        assert call.authorization is None


@pytest.mark.parametrize(
    ("version", "header"),
    [("5.4.0", False), ("6.0.20", False), ("6.4.0", True), ("7.0.5", True), ("7.2.0", True)],
)
async def test_client_login_from_5_4_sends_username(version: str, header: bool) -> None:
    with ZabbixStandIn(version) as standin:
        async with ZabbixClient(login_config(standin)) as client:
            await client.count("host.get", HOST_COUNT)

        (login,) = standin.calls("user.login")
        assert set(login.params) == {"username", "password"}
        (call,) = standin.calls("host.get")
        assert call.has_auth_member is not header
        assert (call.authorization is not None) is header


async def test_client_wrong_password_names_variables(standin_7_0: ZabbixStandIn) -> None:
    config = login_config(standin_7_0, password="wrong-password")
    async with ZabbixClient(config) as client:
        with pytest.raises(ZabbixAuthError) as caught:
            await client.count("host.get", HOST_COUNT)

    assert "WXSTREAM_ZABBIX_PASSWORD" in caught.value.reason
    assert "wrong-password" not in caught.value.reason
    assert len(standin_7_0.calls("user.login")) == 1


async def test_client_rejected_token_fails_without_retry(standin_7_0: ZabbixStandIn) -> None:
    async with ZabbixClient(token_config(standin_7_0, token="revoked-token")) as client:
        with pytest.raises(ZabbixAuthError) as caught:
            await client.count("host.get", HOST_COUNT)

    assert "WXSTREAM_ZABBIX_TOKEN" in caught.value.reason
    assert "revoked-token" not in caught.value.reason
    assert len(standin_7_0.calls("host.get")) == 1


# --- sessions ---------------------------------------------------------------------------


async def test_client_relogs_in_once_after_session_expiry(standin_7_0: ZabbixStandIn) -> None:
    session = ZabbixSession()
    async with ZabbixClient(login_config(standin_7_0), session=session) as client:
        await client.count("host.get", HOST_COUNT)
        standin_7_0.expire_sessions()
        assert await client.count("host.get", HOST_COUNT) == 0

    assert len(standin_7_0.calls("user.login")) == 2
    assert len(standin_7_0.calls("host.get")) == 3


async def test_client_fails_when_new_session_is_refused() -> None:
    with ZabbixStandIn("7.0.5", session_limit=0) as standin:
        async with ZabbixClient(login_config(standin)) as client:
            with pytest.raises(ZabbixAuthError) as caught:
                await client.count("host.get", HOST_COUNT)

        assert "again right after a new login" in caught.value.reason
        assert len(standin.calls("user.login")) == 2


async def test_client_shared_session_logs_in_once(standin_7_0: ZabbixStandIn) -> None:
    session = ZabbixSession()
    for _ in range(3):
        async with ZabbixClient(login_config(standin_7_0), session=session) as client:
            await client.count("host.get", HOST_COUNT)

    assert len(standin_7_0.calls("user.login")) == 1
    assert len(standin_7_0.calls("apiinfo.version")) == 1


async def test_client_logs_no_secrets(
    standin_7_0: ZabbixStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    session = ZabbixSession()
    async with ZabbixClient(login_config(standin_7_0), session=session) as client:
        await client.count("host.get", HOST_COUNT)
        first_session = session.session_id
        standin_7_0.expire_sessions()
        await client.count("host.get", HOST_COUNT)

    assert first_session and session.session_id
    assert "logging in again" in caplog.text
    for secret in (standin_7_0.password, first_session, session.session_id):
        assert secret not in caplog.text


# --- failures ---------------------------------------------------------------------------


async def test_client_unreachable_raises_one_line() -> None:
    standin = ZabbixStandIn("7.0.5").start()
    standin.stop()
    async with ZabbixClient(token_config(standin)) as client:
        with pytest.raises(ZabbixUnavailable) as caught:
            await client.count("host.get", HOST_COUNT)

    assert "could not be reached" in caught.value.reason
    assert "\n" not in caught.value.reason


async def test_client_bad_gateway_reports_status(standin_7_0: ZabbixStandIn) -> None:
    standin_7_0.down = True
    async with ZabbixClient(token_config(standin_7_0)) as client:
        with pytest.raises(ZabbixUnavailable, match="HTTP 502"):
            await client.count("host.get", HOST_COUNT)


async def test_client_times_out(standin_7_0: ZabbixStandIn) -> None:
    standin_7_0.delay_seconds = 2.0
    async with ZabbixClient(token_config(standin_7_0, timeout_seconds=0.2)) as client:
        with pytest.raises(
            ZabbixUnavailable, match=r"timed out: no response to apiinfo\.version within 0\.2 s"
        ):
            await client.count("host.get", HOST_COUNT)


async def test_client_api_error_carries_code(standin_7_0: ZabbixStandIn) -> None:
    async with ZabbixClient(token_config(standin_7_0)) as client:
        with pytest.raises(Exception) as caught:
            await client.call("host.get", {"no_such_parameter": True})

    assert type(caught.value).__name__ == "ZabbixApiError"
    assert caught.value.code == -32602  # type: ignore[attr-defined]
    assert "no_such_parameter" in str(caught.value)


async def test_client_unknown_method_is_api_error(standin_7_0: ZabbixStandIn) -> None:
    async with ZabbixClient(token_config(standin_7_0)) as client:
        with pytest.raises(Exception, match="Method not found"):
            await client.call("nothing.get", {})


needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@needs_openssl
async def test_client_tls_verification_failure_names_setting(tmp_path: Path) -> None:
    certfile, keyfile = write_self_signed_certificate(tmp_path)
    with ZabbixStandIn("7.0.5", certfile=certfile, keyfile=keyfile) as standin:
        async with ZabbixClient(token_config(standin)) as client:
            with pytest.raises(ZabbixUnavailable) as caught:
                await client.count("host.get", HOST_COUNT)

    assert caught.value.reason.startswith("TLS verification of https://127.0.0.1:")
    assert "WXSTREAM_ZABBIX_VERIFY_TLS=false" in caught.value.reason


@needs_openssl
async def test_client_tls_unverified_when_disabled(tmp_path: Path) -> None:
    certfile, keyfile = write_self_signed_certificate(tmp_path)
    with ZabbixStandIn("7.0.5", certfile=certfile, keyfile=keyfile) as standin:
        async with ZabbixClient(token_config(standin, verify_tls=False)) as client:
            assert await client.count("host.get", HOST_COUNT) == 0
