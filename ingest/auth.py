"""API token checks for the back-end endpoints, compared in constant time."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from ingest.errors import Unauthorized

TOKEN_HEADER = "Token"  # noqa: S105 - a header name, not a secret
BEARER_PREFIX = "bearer "
BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="wxstream"'}


def bearer_token(request: Request) -> str | None:
    value = request.headers.get("authorization")
    if value is None or value[: len(BEARER_PREFIX)].lower() != BEARER_PREFIX:
        return None
    return value[len(BEARER_PREFIX) :].strip()


def require_bearer(request: Request, expected: bytes) -> None:
    """Raise Unauthorized unless ``Authorization: Bearer`` carries the API token."""
    _check(bearer_token(request), expected, "Authorization: Bearer")


def require_token_or_bearer(request: Request, expected: bytes) -> None:
    """Raise Unauthorized unless the ``Token`` header or a Bearer token is the API token.

    The ``Token`` header is the old alert contract; Bearer is accepted as well.
    """
    given = request.headers.get(TOKEN_HEADER)
    if given is None:
        given = bearer_token(request)
    _check(given, expected, "Token or Authorization: Bearer")


def _check(given: str | None, expected: bytes, scheme: str) -> None:
    if not given:
        raise Unauthorized(f"missing API token; send it in the {scheme} header", BEARER_CHALLENGE)
    # Starlette decodes header bytes as Latin-1, so this restores the received bytes.
    if not hmac.compare_digest(given.encode("latin-1", errors="replace"), expected):
        raise Unauthorized("invalid API token", BEARER_CHALLENGE)
