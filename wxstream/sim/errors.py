"""Webex-style errors: a status, a message, and a body with ``trackingId``."""

from __future__ import annotations

import uuid
from typing import Any


class ApiError(Exception):
    """A request that Webex would reject; it becomes a response with ``status``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def new_tracking_id() -> str:
    return f"ROUTER_{uuid.uuid4()}".upper()


def error_body(message: str, tracking_id: str) -> dict[str, Any]:
    return {
        "message": message,
        "errors": [{"description": message}],
        "trackingId": tracking_id,
    }
