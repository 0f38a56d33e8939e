"""Which senders the bot replies to: exact emails and ``@domain`` entries.

An empty list trusts everyone. Entries and emails compare case-insensitively. A domain
entry matches that domain only, not its subdomains: ``@example.com`` trusts
``ann@example.com`` but not ``ann@eu.example.com``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class TrustDecision:
    """Whether a sender is trusted, and the rule that decided it (for the log)."""

    trusted: bool
    rule: str


class TrustPolicy:
    """The trusted-users list, split into exact emails and domains."""

    def __init__(self, entries: Iterable[str]) -> None:
        cleaned = [entry.strip().lower() for entry in entries if entry.strip()]
        self.emails = frozenset(entry for entry in cleaned if not entry.startswith("@"))
        self.domains = frozenset(entry[1:] for entry in cleaned if entry.startswith("@"))

    @property
    def trusts_everyone(self) -> bool:
        return not self.emails and not self.domains

    def decide(self, email: str | None) -> TrustDecision:
        """Decide whether the sender with ``email`` may use the bot."""
        if self.trusts_everyone:
            return TrustDecision(True, "no trusted users configured")
        if not email:
            return TrustDecision(False, "sender has no email")
        address = email.strip().lower()
        if address in self.emails:
            return TrustDecision(True, f"email {address}")
        _, at, domain = address.rpartition("@")
        if at and domain in self.domains:
            return TrustDecision(True, f"domain @{domain}")
        return TrustDecision(False, "email and domain not in the trusted users")

    def is_trusted(self, email: str | None) -> bool:
        return self.decide(email).trusted
