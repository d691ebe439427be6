"""Vonage SMS API signed webhooks (delivery receipts): the ``sig`` parameter, not a JWT.

Voice webhooks carry an HS256 JWT in ``Authorization`` (``signatures.verify_vonage``); SMS API
webhooks are signed differently (Vonage, "Signing messages"): every parameter but ``sig`` is sorted
by name and concatenated as ``&name=value`` (``&`` and ``=`` in a value replaced by ``_``), then

- ``md5hash``: hex MD5 of that string followed by the signature secret (the dashboard's default);
- ``md5`` / ``sha1`` / ``sha256`` / ``sha512``: hex HMAC of that string keyed with the secret
  (Vonage sends it in upper case; compared case-insensitively).

The secret is the account's signature secret (``VONAGE_SIGNATURE_SECRET``, the one Voice's JWTs are
signed with) and the method the one chosen in the dashboard (``VONAGE_SIGNATURE_METHOD``). HMAC
signatures are checked by the official SDK (``vonage_http_client.Auth.check_signature``). We also
require the signed ``timestamp`` within ``MAX_AGE_SECONDS`` of our clock and a ``nonce`` (the replay
cache keys on it), so a captured receipt cannot be played again later.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Mapping
from typing import Literal, cast

from vonage_http_client import Auth

SIGNATURE_METHODS = ("md5hash", "md5", "sha1", "sha256", "sha512")
SignatureMethod = Literal["md5hash", "md5", "sha1", "sha256", "sha512"]
MAX_AGE_SECONDS = 300


class InvalidSmsSignature(Exception):
    """The receipt is not signed the way Vonage signs SMS webhooks (the message says why)."""


def _query(params: Mapping[str, str]) -> str:
    parts = []
    for key in sorted(params):
        if key == "sig":
            continue
        value = str(params[key]).replace("&", "_").replace("=", "_")
        parts.append(f"&{key}={value}")
    return "".join(parts)


def sign_sms_params(params: Mapping[str, str], secret: str, method: str) -> str:
    """The ``sig`` Vonage computes for ``params`` (upper-case hex for HMAC, as Vonage sends it)."""
    query = _query(params)
    if method == "md5hash":
        return hashlib.md5((query + secret).encode(), usedforsecurity=False).hexdigest()
    if method not in SIGNATURE_METHODS:
        raise ValueError(f"signature method must be one of {', '.join(SIGNATURE_METHODS)}")
    return hmac.new(secret.encode(), query.encode(), getattr(hashlib, method)).hexdigest().upper()


def verify_sms_signature(params: Mapping[str, object], secret: str, method: str, *,
                         now: float | None = None) -> dict[str, str]:
    """The receipt's parameters (as strings) when ``sig`` is valid and fresh; ``InvalidSmsSignature`` otherwise."""
    if not secret:
        raise InvalidSmsSignature("signature secret is not configured")
    if method not in SIGNATURE_METHODS:
        raise InvalidSmsSignature(f"signature method {method!r} is not one Vonage offers")
    values = _signed_values(params)
    _check_fresh(values, time.time() if now is None else now)
    if not _signature_matches(values, secret, method):
        raise InvalidSmsSignature("sig does not match the parameters")
    return values


def _signed_values(params: Mapping[str, object]) -> dict[str, str]:
    """The parameters as strings, with a ``sig`` and a ``nonce``."""
    if any(not isinstance(v, str | int) or isinstance(v, bool) for v in params.values()):
        raise InvalidSmsSignature("parameters must be strings")
    values = {str(k): str(v) for k, v in params.items()}
    if not values.get("sig", ""):
        raise InvalidSmsSignature("no sig parameter")
    if not values.get("nonce"):
        raise InvalidSmsSignature("no nonce parameter")
    return values


def _check_fresh(values: Mapping[str, str], current: float) -> None:
    try:
        stamp = float(values.get("timestamp", ""))
    except ValueError:
        raise InvalidSmsSignature("no timestamp parameter") from None
    if not math.isfinite(stamp) or abs(current - stamp) > MAX_AGE_SECONDS:
        raise InvalidSmsSignature("signed outside the 5 minute window")


def _signature_matches(values: dict[str, str], secret: str, method: str) -> bool:
    given = values["sig"]
    if method == "md5hash":
        return hmac.compare_digest(given.lower().encode("utf-8", "replace"),
                                   sign_sms_params(values, secret, method).encode())
    # the SDK's check: HMAC over the same string, compared case-insensitively
    auth = Auth(api_key=values.get("api-key") or "-", signature_secret=secret,
                signature_method=cast(Literal["md5", "sha1", "sha256", "sha512"], method))
    try:
        return bool(auth.check_signature(dict(values)))
    except (TypeError, ValueError):  # compare_digest refuses a non-ASCII sig
        return False
