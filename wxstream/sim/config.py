"""Settings of one simulator instance."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Literal

MentionIdFormat = Literal["uuid", "rest"]

DEFAULT_BOT_NAME = "wxstream bot"
DEFAULT_BOT_EMAIL = "wxstream@webex.bot"


@dataclass
class SimConfig:
    """What a simulator starts with; every threshold is a field so tests can shrink it."""

    bot_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    bot_name: str = DEFAULT_BOT_NAME
    bot_email: str = DEFAULT_BOT_EMAIL
    # Path of the Webex API on this server; the control API is always under /_sim.
    api_prefix: str = "/v1"
    # The id inside <spark-mention data-object-id="...">: Webex has been observed to put
    # the raw UUID there, not the base64 REST id.
    mention_id_format: MentionIdFormat = "uuid"
    # Webex has been observed to drop mentionedPeople from a "next" Link of GET /messages.
    next_link_drops_mentioned_people: bool = False
    # A webhook whose deliveries fail this many times within the window becomes inactive.
    disable_after_failures: int = 100
    failure_window_seconds: float = 300.0
    delivery_timeout_seconds: float = 5.0
    delivery_concurrency: int = 32
    # How long a delivery held back by a reorder fault waits for the next one.
    reorder_hold_seconds: float = 1.0
    # Upper bound of a "hang" fault when the client never gives up.
    max_hang_seconds: float = 300.0
    max_recorded_requests: int = 200_000
    max_recorded_deliveries: int = 200_000

    def __post_init__(self) -> None:
        if self.mention_id_format not in ("uuid", "rest"):
            raise ValueError(
                f"mention_id_format {self.mention_id_format!r} is invalid: use 'uuid' or 'rest'"
            )
        if self.disable_after_failures < 1:
            raise ValueError("disable_after_failures must be at least 1")
        if self.delivery_concurrency < 1:
            raise ValueError("delivery_concurrency must be at least 1")
        if not self.api_prefix.startswith("/") or self.api_prefix.endswith("/"):
            raise ValueError(f"api_prefix {self.api_prefix!r} is invalid: use a path like /v1")
        if not self.bot_token:
            raise ValueError("bot_token must not be empty")
