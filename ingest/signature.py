"""Webex webhook signatures: ``X-Spark-Signature`` is the lowercase hex HMAC-SHA1 of
the raw request body, keyed with the webhook's secret.

The signature covers the exact bytes received, so it is checked before the body is
parsed and the same bytes are appended to Kafka.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Spark-Signature"

VERIFIED = "verified"
UNSIGNED = "unsigned"


def sign(secret: bytes, body: bytes) -> str:
    """Return the ``X-Spark-Signature`` value Webex sends for ``body``."""
    return hmac.new(secret, body, hashlib.sha1).hexdigest()


def signature_matches(secret: bytes, body: bytes, header: bytes | str | None) -> bool:
    """Compare ``header`` (raw bytes, or decoded as Latin-1) with the body's signature.

    The comparison takes constant time.
    """
    if not header:
        return False
    expected = sign(secret, body).encode("ascii")
    # Starlette decodes header bytes as Latin-1, so this restores the received bytes.
    received = header.encode("latin-1") if isinstance(header, str) else header
    return hmac.compare_digest(expected, received.strip())
