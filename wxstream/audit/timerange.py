"""Time range arguments: ISO 8601 times or durations before now such as ``2h``, ``30m``, ``7d``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"^(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>s|m|h|d|w)$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class TimeRangeError(ValueError):
    """A time argument is neither ISO 8601 nor a duration, or the range is empty."""


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """Parse an ISO 8601 time (UTC when it has no offset) or a duration before ``now``."""
    now = now or datetime.now(UTC)
    value = text.strip()
    duration = _DURATION.match(value)
    if duration is not None:
        seconds = float(duration["amount"]) * _UNIT_SECONDS[duration["unit"].lower()]
        return now - timedelta(seconds=seconds)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise TimeRangeError(
            f"time {text!r} is invalid; give an ISO 8601 time such as 2024-05-01T12:00:00Z "
            "or a duration before now such as 30m, 2h or 7d"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def to_millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_millis(timestamp_ms: int) -> datetime:
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)


@dataclass(frozen=True)
class TimeRange:
    """An inclusive range of record timestamps; an open end is None."""

    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        if self.since and self.until and self.since > self.until:
            raise TimeRangeError(
                f"--since {self.since.isoformat()} is after --until {self.until.isoformat()}; "
                "swap them"
            )

    @classmethod
    def parse(cls, since: str | None, until: str | None, now: datetime | None = None) -> TimeRange:
        now = now or datetime.now(UTC)
        return cls(
            since=parse_time(since, now) if since else None,
            until=parse_time(until, now) if until else None,
        )

    @property
    def since_ms(self) -> int | None:
        return to_millis(self.since) if self.since else None

    @property
    def until_ms(self) -> int | None:
        return to_millis(self.until) if self.until else None
