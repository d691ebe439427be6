"""HMAC-SHA256 signatures of provider callbacks (Meta's ``X-Hub-Signature-256`` scheme).

The header value is ``sha256=<hex digest of the raw body keyed with the shared secret>``.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Hub-Signature-256"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    if not secret or not header:
        return False
    return hmac.compare_digest(sign(secret, body), header.strip())
