"""Settings read from ``WXSTREAM_*`` environment variables and a ``.env`` file.

Every component loads the same :class:`Settings`. A missing or invalid value raises
:class:`SettingsError`, whose message names the variable, the value it had and what a
valid value looks like. The command line prints that message and exits non-zero.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import platformdirs
from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "WXSTREAM_"
DEFAULT_WEBEX_API_URL = "https://webexapis.com/v1"


class SettingsError(Exception):
    """One or more settings are missing or invalid; the message lists each of them."""


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.replace(";", ",").split(",") if item.strip()]
    return value


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("wxstream", appauthor=False))


def default_cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("wxstream", appauthor=False))


class Settings(BaseSettings):
    """Configuration of every wxstream component."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # Kafka
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        description="host:port[,host:port] of an existing cluster; unset runs the local broker",
    )
    topic_prefix: str = Field(default="wxstream.", pattern=r"^[A-Za-z0-9._-]*$")
    topic_partitions: int = Field(default=12, ge=1, le=1000)
    topic_replication_factor: int = Field(default=1, ge=1, le=16)
    topic_retention_ms: int = Field(default=-1, ge=-1)
    kafka_version: str = Field(default="4.1.1", pattern=r"^4\.\d+\.\d+$")
    kafka_port: int = Field(default=9092, ge=1, le=65535)
    kafka_controller_port: int = Field(default=9093, ge=1, le=65535)
    kafka_data_dir: Path = Field(default_factory=lambda: default_data_dir() / "kafka")
    kafka_cache_dir: Path = Field(default_factory=lambda: default_cache_dir() / "kafka")
    kafka_heap: str = Field(default="512m", pattern=r"^\d+[mMgG]$")
    # Linger of the ingest and worker producers, the time a record waits to be batched with
    # later ones. 0 sends each record at once, for the lowest latency, and a few
    # milliseconds drain a backlog faster.
    producer_linger_ms: int = Field(default=0, ge=0, le=100)

    # Webex
    webex_token: SecretStr | None = None
    webex_api_url: str = DEFAULT_WEBEX_API_URL
    webex_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    webhook_secret: SecretStr | None = None
    allow_unsigned_webhooks: bool = False
    public_url: str | None = None
    allow_bot_messages: bool = False

    # HTTP services
    api_token: SecretStr | None = None
    admin_token: SecretStr | None = None
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)
    max_body_bytes: int = Field(default=65536, ge=1024, le=10 * 1024 * 1024)
    append_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    body_read_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    idempotency_cache_keys: int = Field(default=100_000, ge=1, le=10_000_000)

    # Bot behaviour
    trusted_users: Annotated[list[str], NoDecode] = Field(default_factory=list)
    contact: str | None = None
    sender_max_in_flight: int = Field(default=16, ge=1, le=256)
    sender_max_attempts: int = Field(default=6, ge=1, le=50)
    sender_max_seconds: float = Field(default=120.0, gt=0, le=3600)
    sender_max_pending_events: int = Field(default=1000, ge=1, le=100_000)
    sender_backoff_base_seconds: float = Field(default=0.5, gt=0, le=60)
    sender_backoff_max_seconds: float = Field(default=30.0, gt=0, le=600)
    sender_retry_after_default_seconds: float = Field(default=5.0, gt=0, le=3600)
    sender_retry_after_max_seconds: float = Field(default=120.0, gt=0, le=3600)
    sender_max_rate_limited: int = Field(default=50, ge=1, le=10_000)

    # Zabbix, for the "show issues" and "show status" commands
    zabbix_url: str | None = None
    zabbix_token: SecretStr | None = None
    zabbix_user: str | None = None
    zabbix_password: SecretStr | None = None
    zabbix_verify_tls: bool = True
    zabbix_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    # Worker
    worker_store: str = Field(default="rocksdb://", pattern=r"^(rocksdb|memory)://$")
    worker_commit_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    worker_max_pending_events: int = Field(default=1000, ge=1, le=100_000)
    worker_max_fetches: int = Field(default=16, ge=1, le=256)
    worker_stop_grace_seconds: float = Field(default=10.0, gt=0, le=600)
    # The broker accepts 6 s to 30 min by default (group.min/max.session.timeout.ms).
    worker_session_timeout_seconds: float = Field(default=15.0, ge=6, le=1800)

    # Local runtime
    sim_port: int = Field(default=8900, ge=1, le=65535)
    webhook_check_interval_seconds: float = Field(default=60.0, ge=5, le=86400)
    log_dir: Path = Field(default_factory=lambda: default_data_dir() / "logs")
    state_dir: Path = Field(default_factory=lambda: default_data_dir() / "state")

    @field_validator("trusted_users", mode="before")
    @classmethod
    def _parse_trusted_users(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("trusted_users")
    @classmethod
    def _check_trusted_users(cls, value: list[str]) -> list[str]:
        for entry in value:
            _, at, domain = entry.partition("@")
            if not at or not domain or "@" in domain or "." not in domain:
                raise ValueError(
                    f"entry {entry!r} is neither an email (user@example.com) "
                    "nor a domain entry (@example.com)"
                )
        return [entry.lower() for entry in value]

    @field_validator("kafka_data_dir", "kafka_cache_dir", "log_dir", "state_dir", mode="before")
    @classmethod
    def _reject_empty_path(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise ValueError("the folder is empty; unset the variable to use the default")
        return value

    @field_validator("webex_api_url", "public_url", "zabbix_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("the scheme must be http or https")
        return value.rstrip("/")

    @field_validator("append_timeout_seconds")
    @classmethod
    def _check_append_timeout(cls, value: float, info: ValidationInfo) -> float:
        linger_ms = info.data.get("producer_linger_ms")
        if linger_ms is not None and value * 1000 <= 2 * linger_ms:
            raise ValueError(
                f"it must be more than twice WXSTREAM_PRODUCER_LINGER_MS ({linger_ms} ms), "
                "so that a record has time to be sent after its linger. Raise it or lower "
                "WXSTREAM_PRODUCER_LINGER_MS"
            )
        return value

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _check_bootstrap(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        for server in value.split(","):
            host, colon, port = server.strip().rpartition(":")
            if not colon or not host or not port.isdigit():
                raise ValueError(f"server {server.strip()!r} is not host:port")
            if not 1 <= int(port) <= 65535:
                raise ValueError(f"server {server.strip()!r} has port {port}, outside 1-65535")
        return value.strip()

    @property
    def bootstrap_servers(self) -> str:
        """The bootstrap servers to connect to: the configured ones or the local broker."""
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.kafka_port}"

    @property
    def uses_local_broker(self) -> bool:
        return self.kafka_bootstrap_servers is None


_HINTS = {
    "kafka_bootstrap_servers": "host:port, comma-separated for several, e.g. 127.0.0.1:9092",
    "topic_prefix": "letters, digits, '.', '_' or '-', e.g. wxstream.",
    "trusted_users": (
        "comma-separated emails and @domain entries, e.g. ann@example.com,@example.org"
    ),
    "webex_api_url": "an http(s) URL such as https://webexapis.com/v1",
    "public_url": "the https URL Webex reaches this service at, e.g. https://bot.example.com",
    "zabbix_url": "the Zabbix front-end URL, e.g. https://zabbix.example.com",
    "kafka_version": "an Apache Kafka 4.x version, e.g. 4.1.1",
    "kafka_heap": "a JVM heap size such as 512m or 1g",
}


def _describe(error: dict[str, Any]) -> str:
    field = str(error["loc"][0]) if error["loc"] else "?"
    variable = ENV_PREFIX + field.upper()
    value = error.get("input")
    shown = "<hidden>" if any(word in field for word in ("token", "secret", "password")) else value
    reason = str(error["msg"]).removeprefix("Value error, ")
    hint = _HINTS.get(field)
    message = f"{variable} has value {shown!r}: {reason}."
    if hint:
        message += f" Expected {hint}."
    return message


def load_settings(**overrides: Any) -> Settings:
    """Load the settings, raising SettingsError with one line per invalid variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = [_describe(error) for error in exc.errors()]  # type: ignore[arg-type]
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None


_REQUIRED_HINTS = {
    "api_token": "a long random string that back-end clients send as 'Token' or 'Bearer'",
    "admin_token": "a long random string, different from WXSTREAM_API_TOKEN",
    "webhook_secret": "the secret the Webex webhooks were registered with",
    "webex_token": "the bot's access token from developer.webex.com",
    "public_url": "the https URL Webex reaches the ingest service at",
}


def require(settings: Settings, *fields: str) -> None:
    """Raise SettingsError naming each of ``fields`` that is unset."""
    missing = [name for name in fields if getattr(settings, name) in (None, "")]
    if missing:
        lines = [
            f"{ENV_PREFIX}{name.upper()} is not set. "
            f"Set it to {_REQUIRED_HINTS.get(name, 'a value')}."
            for name in missing
        ]
        raise SettingsError("missing settings:\n  " + "\n  ".join(lines))
