"""Which senders the bot replies to: exact emails and @domain entries."""

from __future__ import annotations

from processors.trust import TrustPolicy


def test_trust_empty_list_trusts_everyone() -> None:
    policy = TrustPolicy([])
    assert policy.trusts_everyone
    assert policy.is_trusted("anyone@example.org")
    assert policy.is_trusted(None)


def test_trust_exact_email_matches_case_insensitively() -> None:
    policy = TrustPolicy(["Ann@Example.com"])
    assert policy.is_trusted("ann@example.com")
    assert policy.is_trusted("ANN@EXAMPLE.COM")
    assert not policy.is_trusted("bob@example.com")


def test_trust_domain_entry_matches_that_domain() -> None:
    policy = TrustPolicy(["@example.com"])
    assert policy.is_trusted("bob@example.com")
    assert policy.is_trusted("Bob@EXAMPLE.com")


def test_trust_domain_entry_rejects_subdomains_and_suffixes() -> None:
    policy = TrustPolicy(["@example.com"])
    assert not policy.is_trusted("bob@eu.example.com")
    assert not policy.is_trusted("bob@badexample.com")
    assert not policy.is_trusted("bob@example.com.evil.org")


def test_trust_email_entry_does_not_trust_its_domain() -> None:
    policy = TrustPolicy(["ann@example.com"])
    assert not policy.is_trusted("bob@example.com")


def test_trust_missing_email_is_untrusted_when_list_set() -> None:
    decision = TrustPolicy(["@example.com"]).decide(None)
    assert not decision.trusted
    assert decision.rule == "sender has no email"


def test_trust_decision_names_the_rule() -> None:
    policy = TrustPolicy(["ann@example.com", "@example.org"])
    assert policy.decide("ann@example.com").rule == "email ann@example.com"
    assert policy.decide("cy@example.org").rule == "domain @example.org"


def test_trust_blank_entries_are_ignored() -> None:
    policy = TrustPolicy(["", "  "])
    assert policy.trusts_everyone
