"""API token checks for the back-end endpoints, compared in constant time."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from ingest.errors import Unauthorized

TOKEN_HEADER = "Token"  # noqa: S105 - a header name, not a secret
BEARER_PREFIX = "bearer "
BEARER_USAGE = "'Authorization: Bearer <token>'"
BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="wxstream"'}


def bearer_token(request: Request) -> str | None:
    value = request.headers.get("authorization")
    if value is None or value[: len(BEARER_PREFIX)].lower() != BEARER_PREFIX:
        return None
    return value[len(BEARER_PREFIX) :].strip()


def require_bearer(request: Request, expected: bytes) -> None:
    """Raise Unauthorized unless ``Authorization: Bearer`` carries the API token.

    The error for a request without a Bearer token names the header this endpoint takes,
    because the old contract's ``Token`` header works only on the alert and ping endpoints.
    """
    given = bearer_token(request)
    if given is None and request.headers.get("authorization") is not None:
        raise Unauthorized(
            f"the Authorization header does not use the Bearer scheme; send {BEARER_USAGE}",
            BEARER_CHALLENGE,
        )
    if given is None and request.headers.get(TOKEN_HEADER) is not None:
        raise Unauthorized(
            f"this endpoint takes {BEARER_USAGE}; the 'Token' header is accepted only by "
            "/api/v1/alert and /api/v1/ping",
            BEARER_CHALLENGE,
        )
    _check(given, expected, BEARER_USAGE)


def require_token_or_bearer(request: Request, expected: bytes) -> None:
    """Raise Unauthorized unless the ``Token`` header or a Bearer token is the API token.

    The ``Token`` header is the old alert contract; Bearer is accepted as well.
    """
    given = request.headers.get(TOKEN_HEADER)
    if given is None:
        given = bearer_token(request)
    _check(given, expected, "'Token: <token>' or 'Authorization: Bearer <token>'")


def _check(given: str | None, expected: bytes, usage: str) -> None:
    if not given:
        raise Unauthorized(f"missing API token; send {usage}", BEARER_CHALLENGE)
    # Starlette decodes header bytes as Latin-1, so this restores the received bytes.
    if not hmac.compare_digest(given.encode("latin-1", errors="replace"), expected):
        raise Unauthorized("invalid API token", BEARER_CHALLENGE)
