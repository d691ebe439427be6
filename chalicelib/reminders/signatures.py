"""Webhook signatures, each the way its provider defines it.

- Meta (WhatsApp Cloud API): ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``
  keyed with the app secret (``WHATSAPP_APP_SECRET``).
- Vonage (Voice API signed webhooks): ``Authorization: Bearer <JWT>``, HS256 keyed with the
  account's signature secret (``VONAGE_SIGNATURE_SECRET``). Claims: ``iat``, ``jti``, ``iss``
  (``Vonage``), ``payload_hash`` (hex SHA-256 of the raw body), ``api_key``, ``application_id``.
  We require a valid signature, ``payload_hash`` equal to the body's hash, and ``iat`` within
  ``VONAGE_MAX_AGE_SECONDS`` (5 minutes) of now, either way (replay window, clock skew).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
import uuid
from typing import Any

import jwt

SIGNATURE_HEADER = "X-Hub-Signature-256"
VONAGE_MAX_AGE_SECONDS = 300


class InvalidSignature(Exception):
    """The webhook is not signed the way its provider signs it (the message says why)."""


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the body's signature. Any header value is an answer, never an error:
    compared as bytes (``compare_digest`` raises on a ``str`` with non-ASCII characters)."""
    if not secret or not header:
        return False
    given = header.strip().encode("utf-8", "replace")
    return hmac.compare_digest(sign(secret, body).encode(), given)


def require(valid: bool) -> bool:
    """``valid``, or ``InvalidSignature`` (for a check that answers True/False)."""
    if not valid:
        raise InvalidSignature("signature does not match")
    return True


def payload_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def vonage_webhook_token(secret: str, body: bytes, *, iat: int | None = None, api_key: str = "local",
                         application_id: str = "") -> str:
    """A Vonage-style signed-webhook JWT for ``body`` (what Vonage puts after ``Bearer``)."""
    claims = {"iat": int(time.time()) if iat is None else iat, "jti": str(uuid.uuid4()), "iss": "Vonage",
              "payload_hash": payload_hash(body), "api_key": api_key, "application_id": application_id}
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_vonage(secret: str, body: bytes, authorization: str | None, *, now: float | None = None) -> dict[str, Any]:
    """The claims of a valid Vonage webhook JWT for ``body``; ``InvalidSignature`` otherwise."""
    if not secret:
        raise InvalidSignature("signature secret is not configured")
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise InvalidSignature("missing Authorization: Bearer token")
    try:
        # as bytes: a header value with characters UTF-8 cannot encode is a bad token, not an error
        raw_token = token.strip().encode("utf-8", "replace")
        claims: dict[str, Any] = jwt.decode(raw_token, secret, algorithms=["HS256"], options={
            "require": ["iat", "jti", "payload_hash"], "verify_iat": False})
    except jwt.PyJWTError as exc:
        raise InvalidSignature(f"invalid token: {type(exc).__name__}") from exc
    iat = claims["iat"]
    current = time.time() if now is None else now
    if (isinstance(iat, bool) or not isinstance(iat, int | float) or not math.isfinite(iat)
            or abs(current - iat) > VONAGE_MAX_AGE_SECONDS):
        raise InvalidSignature("token issued outside the 5 minute window")
    if not isinstance(claims["jti"], str) or not claims["jti"]:
        raise InvalidSignature("token without a jti")
    given = claims["payload_hash"]
    if not isinstance(given, str) or not hmac.compare_digest(given.lower().encode("utf-8", "replace"),
                                                             payload_hash(body).encode()):
        raise InvalidSignature("payload_hash does not match the body")
    return claims
