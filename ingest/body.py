"""Reading a request body once, within the configured size limit and read timeout."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic_core import from_json
from starlette.requests import Request
from starlette.types import Receive, Scope

from ingest.errors import BadRequest, PayloadTooLarge, RequestTimeout, json_type_name


async def read_body(request: Request, max_bytes: int, timeout_seconds: float) -> bytes:
    """Return the raw body; raise PayloadTooLarge once it is over ``max_bytes``.

    A declared Content-Length is checked before anything is read. A chunked body, or
    one whose Content-Length is missing, is counted while it streams in. A body that
    has not fully arrived after ``timeout_seconds`` raises RequestTimeout, so a slow or
    stalled client cannot hold a connection and a request slot indefinitely.

    The body comes straight from the ASGI ``receive`` callable: Starlette's request
    stream is an async generator, which costs more CPU per request.
    """
    declared = header_value(request.scope, b"content-length")
    if declared is not None:
        length = _parse_content_length(declared.decode("latin-1"))
        if length > max_bytes:
            raise _too_large(length, max_bytes)

    try:
        async with asyncio.timeout(timeout_seconds):
            return await _receive_body(request.receive, max_bytes)
    except TimeoutError:
        raise RequestTimeout(
            f"the request body did not arrive within {timeout_seconds:g} s "
            "(WXSTREAM_BODY_READ_TIMEOUT_SECONDS); send the whole body without pausing, "
            "with a Content-Length that matches it",
            {"Connection": "close"},
        ) from None


async def _receive_body(receive: Receive, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("the client disconnected before sending the whole body")
        chunk: bytes = message.get("body", b"")
        received += len(chunk)
        if received > max_bytes:
            raise _too_large(received, max_bytes)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    # A body usually arrives in one message, which needs no copy.
    if len(chunks) == 1:
        return chunks[0]
    return b"".join(chunks)


def header_value(scope: Scope, name: bytes) -> bytes | None:
    """Return the raw value of the first header named ``name`` (lowercase), or None.

    ASGI servers give header names in lowercase. This reads the scope's list directly,
    without building Starlette's Headers object.
    """
    for header, value in scope["headers"]:
        if header == name:
            return value
    return None


def parse_json_object(body: bytes) -> dict[str, Any]:
    """Parse a JSON object; raise BadRequest when the body is not one."""
    if not body:
        raise BadRequest("the body is empty; send a JSON object")
    try:
        document = from_json(body)
    except ValueError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BadRequest(f"the body is {json_type_name(document)}; send a JSON object")
    return document


def _parse_content_length(value: str) -> int:
    text = value.strip()
    if not text.isdigit():
        raise BadRequest(f"Content-Length {value[:40]!r} is not a non-negative integer")
    return int(text)


def _too_large(size: int, max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the body has at least {size} bytes, over the limit of {max_bytes} bytes "
        "(WXSTREAM_MAX_BODY_BYTES)"
    )
