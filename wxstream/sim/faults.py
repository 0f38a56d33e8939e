"""Injected faults: error statuses, latency, hangs, rate limits and delivery disorder.

A fault matches API requests by path (a glob, or a regular expression searched in the
path) and method, and fires on every match, on the first ``count`` matches, or with a
``probability``. Paths are matched both as received (``/v1/messages``) and relative to
the API base (``/messages``). Delivery faults match webhook callbacks by resource.
"""

from __future__ import annotations

import fnmatch
import itertools
import math
import random
import re
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

from wxstream.sim.errors import ApiError

REQUEST_KINDS = ("status", "latency", "hang", "rateLimit")
DELIVERY_KINDS = ("duplicateDelivery", "reorderDelivery")
RETRY_AFTER_FORMS = ("seconds", "date", "garbled", "absent")
RATE_LIMIT_SCOPES = ("token", "room")
GARBLED_RETRY_AFTER = "soon, maybe 5s?"

_ids = itertools.count(1)


@dataclass
class TokenBucket:
    """A bucket of ``burst`` tokens refilled at ``rate`` tokens per second."""

    rate: float
    burst: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Take one token; return 0, or the seconds until one is available."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass
class Fault:
    id: str
    kind: str
    path: str | None = None
    path_regex: re.Pattern[str] | None = None
    method: str | None = None
    count: int | None = None
    probability: float = 1.0
    status: int | None = None
    retry_after: str = "seconds"
    retry_after_seconds: int = 1
    # The ``message`` of the error body; None gives one naming the status and the fault.
    message: str | None = None
    latency_ms: float = 0.0
    hang_seconds: float | None = None
    rate: float = 0.0
    burst: float = 1.0
    scope: str = "token"
    copies: int = 2
    resource: str | None = None
    hits: int = 0
    buckets: dict[str, TokenBucket] = field(default_factory=dict)

    @property
    def remaining(self) -> int | None:
        return None if self.count is None else max(0, self.count - self.hits)

    def matches_request(self, method: str, paths: tuple[str, ...]) -> bool:
        if self.kind not in REQUEST_KINDS:
            return False
        if self.method is not None and self.method != method:
            return False
        if self.path_regex is not None:
            return any(self.path_regex.search(path) for path in paths)
        if self.path is not None:
            return any(fnmatch.fnmatchcase(path, self.path) for path in paths)
        return True

    def fires(self, rng: random.Random) -> bool:
        """Roll the dice and count the hit; False once ``count`` hits are used up."""
        if self.count is not None and self.hits >= self.count:
            return False
        if self.probability < 1.0 and rng.random() >= self.probability:
            return False
        self.hits += 1
        return True


@dataclass
class Decision:
    """What the faults do to one request: a delay, then an error response or a hang."""

    delay_seconds: float = 0.0
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    message: str = ""
    hang: bool = False
    # How long a hang lasts at most; None means until the client disconnects.
    hang_seconds: float | None = None


class FaultSet:
    """The active faults of a simulator, in the order they were added."""

    def __init__(self) -> None:
        self.faults: dict[str, Fault] = {}
        self.rng = random.Random()

    def add(self, spec: dict[str, Any]) -> Fault:
        fault = parse_fault(spec)
        if "seed" in spec:
            self.rng.seed(spec["seed"])
        self.faults[fault.id] = fault
        return fault

    def clear(self) -> None:
        self.faults.clear()

    @property
    def has_request_faults(self) -> bool:
        return any(fault.kind in REQUEST_KINDS for fault in self.faults.values())

    def needs_room(self, method: str, paths: tuple[str, ...]) -> bool:
        return any(
            fault.kind == "rateLimit"
            and fault.scope == "room"
            and fault.matches_request(method, paths)
            for fault in self.faults.values()
        )

    def decide(
        self, method: str, paths: tuple[str, ...], token_key: str, room_key: str | None
    ) -> Decision:
        decision = Decision()
        now = time.monotonic()
        for fault in self.faults.values():
            if not fault.matches_request(method, paths):
                continue
            if fault.kind == "latency":
                if fault.fires(self.rng):
                    decision.delay_seconds += fault.latency_ms / 1000
            elif decision.status is None and not decision.hang:
                self._decide_failure(fault, decision, now, token_key, room_key)
        return decision

    def _decide_failure(
        self, fault: Fault, decision: Decision, now: float, token_key: str, room_key: str | None
    ) -> None:
        if fault.kind == "rateLimit":
            key = token_key if fault.scope == "token" else room_key
            if key is None:
                return
            bucket = fault.buckets.get(key)
            if bucket is None:
                bucket = TokenBucket(fault.rate, fault.burst, fault.burst, now)
                fault.buckets[key] = bucket
            wait = bucket.take(now)
            if wait > 0:
                fault.hits += 1
                decision.status = 429
                decision.headers["Retry-After"] = str(max(1, math.ceil(wait)))
                decision.message = f"Too many requests for this {fault.scope}: retry later."
            return
        if not fault.fires(self.rng):
            return
        if fault.kind == "hang":
            decision.hang = True
            decision.hang_seconds = fault.hang_seconds
            return
        decision.status = fault.status
        decision.headers.update(retry_after_header(fault))
        decision.message = fault.message or default_fault_message(fault)

    def delivery_copies(self, resource: str) -> int:
        copies = 1
        for fault in self._delivery_faults("duplicateDelivery", resource):
            if fault.fires(self.rng):
                copies = max(copies, fault.copies)
        return copies

    def reorders(self, resource: str) -> bool:
        return any(
            fault.fires(self.rng) for fault in self._delivery_faults("reorderDelivery", resource)
        )

    def _delivery_faults(self, kind: str, resource: str) -> list[Fault]:
        return [
            fault
            for fault in self.faults.values()
            if fault.kind == kind and fault.resource in (None, resource)
        ]


def default_fault_message(fault: Fault) -> str:
    """Return a Webex-style error text naming the status and the fault that injected it."""
    status = fault.status or 500
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return f"{phrase}: the request could not be processed (injected fault {fault.id})."


def retry_after_header(fault: Fault) -> dict[str, str]:
    if fault.status not in (429, 423, 503) or fault.retry_after == "absent":
        return {}
    if fault.retry_after == "date":
        return {"Retry-After": formatdate(time.time() + fault.retry_after_seconds, usegmt=True)}
    if fault.retry_after == "garbled":
        return {"Retry-After": GARBLED_RETRY_AFTER}
    return {"Retry-After": str(fault.retry_after_seconds)}


def parse_fault(spec: dict[str, Any]) -> Fault:
    """Build a fault from its JSON form, raising ApiError 400 naming any invalid field."""
    kind = spec.get("kind")
    if kind not in REQUEST_KINDS + DELIVERY_KINDS:
        raise ApiError(
            400,
            f"kind {kind!r} is invalid: use one of {', '.join(REQUEST_KINDS + DELIVERY_KINDS)}.",
        )
    fault = Fault(id=f"fault-{next(_ids)}", kind=kind)
    _parse_matching(fault, spec)
    _parse_effect(fault, spec)
    return fault


def _parse_matching(fault: Fault, spec: dict[str, Any]) -> None:
    fault.path = _optional(spec, "path", str)
    regex = _optional(spec, "pathRegex", str)
    if regex is not None:
        try:
            fault.path_regex = re.compile(regex)
        except re.error as exc:
            raise ApiError(400, f"pathRegex {regex!r} is invalid: {exc}.") from None
    method = _optional(spec, "method", str)
    fault.method = method.upper() if method else None
    fault.count = _optional(spec, "count", int)
    if fault.count is not None and fault.count < 1:
        raise ApiError(400, f"count {fault.count} is invalid: use 1 or more, or leave it out.")
    probability = _optional(spec, "probability", (int, float))
    if probability is not None:
        if not 0 < probability <= 1:
            raise ApiError(400, f"probability {probability} is invalid: use a value in (0, 1].")
        fault.probability = float(probability)
    fault.resource = _optional(spec, "resource", str)


def _parse_effect(fault: Fault, spec: dict[str, Any]) -> None:
    if fault.kind == "status":
        status = _optional(spec, "status", int)
        if status is None or not 400 <= status <= 599:
            raise ApiError(
                400, f"status {status!r} is invalid: use an HTTP error such as 429 or 503."
            )
        fault.status = status
        form = _optional(spec, "retryAfter", str) or "seconds"
        if form not in RETRY_AFTER_FORMS:
            raise ApiError(
                400, f"retryAfter {form!r} is invalid: use {', '.join(RETRY_AFTER_FORMS)}."
            )
        fault.retry_after = form
        fault.retry_after_seconds = _optional(spec, "retryAfterSeconds", int) or 1
        fault.message = _optional(spec, "message", str) or None
    elif fault.kind == "latency":
        latency = _optional(spec, "latencyMs", (int, float))
        if latency is None or latency < 0:
            raise ApiError(400, f"latencyMs {latency!r} is invalid: use milliseconds >= 0.")
        fault.latency_ms = float(latency)
    elif fault.kind == "hang":
        hang = _optional(spec, "hangSeconds", (int, float))
        fault.hang_seconds = float(hang) if hang is not None else None
    elif fault.kind == "rateLimit":
        _parse_rate_limit(fault, spec)
    elif fault.kind == "duplicateDelivery":
        fault.copies = _optional(spec, "copies", int) or 2
        if fault.copies < 2:
            raise ApiError(400, f"copies {fault.copies} is invalid: use 2 or more.")


def _parse_rate_limit(fault: Fault, spec: dict[str, Any]) -> None:
    rate = _optional(spec, "rate", (int, float))
    if rate is None or rate <= 0:
        raise ApiError(400, f"rate {rate!r} is invalid: use requests per second > 0.")
    burst = _optional(spec, "burst", (int, float)) or 1
    if burst < 1:
        raise ApiError(400, f"burst {burst} is invalid: use 1 or more.")
    scope = _optional(spec, "scope", str) or "token"
    if scope not in RATE_LIMIT_SCOPES:
        raise ApiError(400, f"scope {scope!r} is invalid: use 'token' or 'room'.")
    fault.rate, fault.burst, fault.scope = float(rate), float(burst), scope


def _optional(spec: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = spec.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ApiError(400, f"{name} {value!r} has the wrong type.")
    return value


def fault_view(fault: Fault) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": fault.id,
        "kind": fault.kind,
        "path": fault.path,
        "pathRegex": fault.path_regex.pattern if fault.path_regex else None,
        "method": fault.method,
        "resource": fault.resource,
        "count": fault.count,
        "remaining": fault.remaining,
        "probability": fault.probability,
        "hits": fault.hits,
    }
    effect: dict[str, dict[str, Any]] = {
        "status": {
            "status": fault.status,
            "retryAfter": fault.retry_after,
            "retryAfterSeconds": fault.retry_after_seconds,
            "message": fault.message,
        },
        "latency": {"latencyMs": fault.latency_ms},
        "hang": {"hangSeconds": fault.hang_seconds},
        "rateLimit": {"rate": fault.rate, "burst": fault.burst, "scope": fault.scope},
        "duplicateDelivery": {"copies": fault.copies},
        "reorderDelivery": {},
    }
    view.update(effect[fault.kind])
    return view
