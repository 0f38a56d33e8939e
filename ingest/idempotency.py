"""Idempotency keys: one request per ``Idempotency-Key`` and endpoint in this process.

An :class:`IdempotencyCache` maps ``(endpoint, key)`` to the fingerprint of the request
that first used the key and to the id it was given. A repeat of the same request
returns that id without appending again, once the broker acknowledged the first
append. A different request with a used key is rejected with 409, so within this
process one key cannot post two different messages.

The cache is a bounded LRU in the memory of one process: it covers the keys this
process has seen since it started, up to ``WXSTREAM_IDEMPOTENCY_CACHE_KEYS``. A key
that was evicted, or that another ingest process received, is not checked here. Such a
repeat is appended again with the same id. The worker deduplicates ids only within one
conversation (one partition), so a repeat with another destination is posted again.

A key costs about 280 bytes besides its own string: 100,000 keys took 28 MB plus the
key strings (measured with tracemalloc on CPython 3.11).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ingest.contract import IDEMPOTENCY_KEY_HEADER
from ingest.errors import Conflict


@dataclass(frozen=True)
class IdempotentRequest:
    """A request that may carry an idempotency key: its endpoint, body and event id."""

    endpoint: str
    key: str | None
    document: dict[str, Any]
    event_id: str


def request_fingerprint(document: dict[str, Any]) -> bytes:
    """Return the SHA-256 of the request body as canonical JSON (sorted keys, no spaces).

    Key order and whitespace do not change the fingerprint, so a client that re-serialises
    the same request on a retry is still recognised.
    """
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).digest()


@dataclass(slots=True)
class _Claim:
    """The request that first used a key: its fingerprint, its id and its append in flight."""

    fingerprint: bytes
    event_id: str
    # Set when the append ends either way. None once the broker acknowledged it: a claim
    # whose append failed is removed, so every claim without an event is acknowledged.
    in_flight: asyncio.Event | None = field(default_factory=asyncio.Event)


class IdempotencyCache:
    """Appends at most one record per ``(endpoint, key)`` among the keys it stores."""

    def __init__(self, max_keys: int) -> None:
        if max_keys < 1:
            raise ValueError(f"max_keys is {max_keys}; it must be at least 1")
        self.max_keys = max_keys
        self._claims: OrderedDict[tuple[str, str], _Claim] = OrderedDict()

    def __len__(self) -> int:
        return len(self._claims)

    async def append_once(
        self,
        endpoint: str,
        key: str,
        fingerprint: bytes,
        event_id: str,
        append: Callable[[], Awaitable[object]],
    ) -> str:
        """Run ``append`` unless the key was already used for this request; return the id.

        Raises Conflict when the key was used for a different request, even one whose
        append is still in flight. A repeat that arrives while the first append is in flight waits
        for it, and runs ``append`` itself when that one failed. A failed append releases
        the key, so the client can retry, and its error propagates.
        """
        while True:
            claim = self._lookup(endpoint, key)
            if claim is None:
                return await self._append_first(endpoint, key, fingerprint, event_id, append)
            if claim.fingerprint != fingerprint:
                raise _conflict(endpoint, key)
            if claim.in_flight is None:
                return claim.event_id
            await claim.in_flight.wait()

    async def _append_first(
        self,
        endpoint: str,
        key: str,
        fingerprint: bytes,
        event_id: str,
        append: Callable[[], Awaitable[object]],
    ) -> str:
        claim = _Claim(fingerprint, event_id)
        self._store((endpoint, key), claim)
        try:
            await append()
        except BaseException:
            if self._claims.get((endpoint, key)) is claim:
                del self._claims[(endpoint, key)]
            raise
        finally:
            in_flight, claim.in_flight = claim.in_flight, None
            if in_flight is not None:
                in_flight.set()
        return event_id

    def _lookup(self, endpoint: str, key: str) -> _Claim | None:
        claim = self._claims.get((endpoint, key))
        if claim is not None:
            self._claims.move_to_end((endpoint, key))
        return claim

    def _store(self, cache_key: tuple[str, str], claim: _Claim) -> None:
        self._claims[cache_key] = claim
        while len(self._claims) > self.max_keys:
            self._claims.popitem(last=False)


def _conflict(endpoint: str, key: str) -> Conflict:
    return Conflict(
        f"{IDEMPOTENCY_KEY_HEADER} {key!r} was already used for a different request to "
        f"{endpoint}; send a new {IDEMPOTENCY_KEY_HEADER} for a new request, and reuse a "
        "key only to retry the identical request"
    )
