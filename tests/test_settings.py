"""Settings: every invalid value is reported with its variable, value and a valid form."""

from __future__ import annotations

import pytest

from wxstream.settings import Settings, SettingsError, load_settings, require


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("WXSTREAM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env file


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("WXSTREAM_HTTP_PORT", "eighty", "WXSTREAM_HTTP_PORT has value 'eighty'"),
        ("WXSTREAM_HTTP_PORT", "70000", "less than or equal to 65535"),
        ("WXSTREAM_KAFKA_BOOTSTRAP_SERVERS", "localhost", "server 'localhost' is not host:port"),
        ("WXSTREAM_TOPIC_PREFIX", "bad prefix!", "Expected letters, digits"),
        ("WXSTREAM_TRUSTED_USERS", "ann", "entry 'ann' is neither an email"),
        ("WXSTREAM_TRUSTED_USERS", "ann@example.com,@nodot", "entry '@nodot'"),
        ("WXSTREAM_WEBEX_API_URL", "webexapis.com/v1", "the scheme must be http or https"),
        ("WXSTREAM_PUBLIC_URL", "ftp://bot.example.com", "the scheme must be http or https"),
        ("WXSTREAM_KAFKA_BOOTSTRAP_SERVERS", "host:99999", "has port 99999, outside 1-65535"),
        ("WXSTREAM_KAFKA_DATA_DIR", "", "the folder is empty"),
        ("WXSTREAM_STATE_DIR", " ", "the folder is empty"),
        ("WXSTREAM_ALLOW_UNSIGNED_WEBHOOKS", "maybe", "WXSTREAM_ALLOW_UNSIGNED_WEBHOOKS"),
        ("WXSTREAM_KAFKA_VERSION", "3.9.0", "an Apache Kafka 4.x version"),
        ("WXSTREAM_KAFKA_HEAP", "lots", "a JVM heap size"),
        ("WXSTREAM_SENDER_MAX_IN_FLIGHT", "0", "greater than or equal to 1"),
        ("WXSTREAM_WORKER_STORE", "redis://", "WXSTREAM_WORKER_STORE has value 'redis://'"),
    ],
)
def test_settings_invalid_value_is_named(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(SettingsError) as raised:
        load_settings()

    assert variable in str(raised.value)
    assert expected in str(raised.value)


def test_settings_secret_value_is_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WXSTREAM_ZABBIX_PASSWORD", "x")
    monkeypatch.setenv("WXSTREAM_ZABBIX_TOKEN", "")
    monkeypatch.setenv("WXSTREAM_HTTP_PORT", "nope")

    with pytest.raises(SettingsError) as raised:
        load_settings()

    assert "WXSTREAM_HTTP_PORT" in str(raised.value)
    assert "'x'" not in str(raised.value)


def test_settings_several_errors_listed_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WXSTREAM_HTTP_PORT", "nope")
    monkeypatch.setenv("WXSTREAM_KAFKA_PORT", "-1")

    with pytest.raises(SettingsError) as raised:
        load_settings()

    assert "WXSTREAM_HTTP_PORT" in str(raised.value)
    assert "WXSTREAM_KAFKA_PORT" in str(raised.value)


def test_settings_trusted_users_parsed_from_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WXSTREAM_TRUSTED_USERS", " Ann@Example.com , @example.org ")

    settings = load_settings()

    assert settings.trusted_users == ["ann@example.com", "@example.org"]


def test_settings_defaults_use_local_broker() -> None:
    settings = load_settings()

    assert settings.uses_local_broker
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert settings.http_port == 8080
    assert settings.webex_api_url == "https://webexapis.com/v1"
    assert settings.topic_prefix == "wxstream."


def test_settings_read_from_env_file(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from pathlib import Path

    Path(".env").write_text("WXSTREAM_HTTP_PORT=9000\nWXSTREAM_TOPIC_PREFIX=acme.\n")

    settings = load_settings()

    assert settings.http_port == 9000
    assert settings.topic_prefix == "acme."


def test_require_names_each_missing_setting() -> None:
    settings = Settings()

    with pytest.raises(SettingsError) as raised:
        require(settings, "api_token", "webhook_secret")

    assert "WXSTREAM_API_TOKEN is not set" in str(raised.value)
    assert "WXSTREAM_WEBHOOK_SECRET is not set" in str(raised.value)
