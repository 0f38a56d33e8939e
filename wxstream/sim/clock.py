"""Timestamps in the form Webex returns: ISO 8601 UTC with milliseconds and ``Z``."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def iso_from_epoch(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def now_iso() -> str:
    return iso_from_epoch(time.time())


def parse_iso(value: str) -> float | None:
    """Return the epoch seconds of an ISO 8601 timestamp, or None when it is not one."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
