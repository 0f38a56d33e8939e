"""What an audit shows of a record: never a secret, and message bodies only on request.

A header or field whose name contains token, secret, authorization, signature, password,
cookie or api key is dropped wherever it appears, at any depth. The one exception is the
signature verdict (``verified`` or ``unsigned``) that the ingest service stores, which is
a verdict and not a signature value. Body fields are the top-level payload fields that
carry what people wrote or what the bot posted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

HIDDEN = "[hidden]"

_SECRET_NAME = re.compile(
    r"token|secret|authori[sz]ation|signature|password|passwd|cookie|api[-_]?key", re.IGNORECASE
)
_VERDICTS = frozenset({"verified", "unsigned"})

# Top-level payload fields that hold message content, in the payloads' JSON spelling.
BODY_FIELDS = frozenset(
    {
        "text",
        "markdown",
        "html",
        "files",
        "inputs",
        "subject",
        "message",
        "data",
        "attachments",
        "originalValue",
        "errorBody",
    }
)


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def _keep(name: str, value: object) -> bool:
    if not is_secret_name(name):
        return True
    return isinstance(value, str) and value in _VERDICTS


def strip_secrets(value: Any) -> Any:
    """Return a copy of a JSON value without any field named like a secret."""
    if isinstance(value, Mapping):
        return {
            str(name): strip_secrets(item) for name, item in value.items() if _keep(str(name), item)
        }
    if isinstance(value, list):
        return [strip_secrets(item) for item in value]
    return value


def safe_headers(headers: Iterable[tuple[str, bytes | None]]) -> dict[str, str]:
    """Return the headers as text, without any header named like a secret."""
    result: dict[str, str] = {}
    for name, raw in headers:
        text = raw.decode("utf-8", errors="replace") if raw is not None else ""
        if _keep(name, text):
            result[name] = text
    return result


def hide_bodies(payload: Mapping[str, Any], *, webhook: bool = False) -> dict[str, Any]:
    """Replace the body fields of a payload with a marker.

    A Webex webhook's ``data`` holds ids, not content, so webhooks keep it.
    """
    hidden = BODY_FIELDS - {"data"} if webhook else BODY_FIELDS
    return {name: (HIDDEN if name in hidden else value) for name, value in payload.items()}
