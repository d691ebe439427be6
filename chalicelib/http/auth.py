"""API-key authentication at the edge: the ``x-api-key`` header → the caller (401 / 403).

Keys themselves (issuing, hashing, lookup) live in ``chalicelib.partners.keys``. The caller's
partner comes from the key, never from a path or query parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC

import psycopg2.extensions

from chalicelib.http.errors import Forbidden, Unauthorized
from chalicelib.partners.keys import Principal, find_key

API_KEY_HEADER = "x-api-key"


def authenticate(conn: psycopg2.extensions.connection, headers: Mapping[str, str] | None) -> Principal:
    """The principal behind the request's ``x-api-key``; 401 when missing, unknown or revoked
    (``unauthorized``) or past its expiry (``key_expired``)."""
    key = _header(headers, API_KEY_HEADER)
    if not key:
        raise Unauthorized("missing x-api-key header")
    principal = find_key(conn, key)
    if principal is None:
        raise Unauthorized("invalid API key")
    if principal.expired:
        expired_on = principal.expires_at.astimezone(UTC).isoformat() if principal.expires_at else "its expiry"
        raise Unauthorized(f"this API key expired at {expired_on}; ask for a new key", code="key_expired")
    return principal


def require_scope(principal: Principal, scope: str) -> Principal:
    if principal.scope != scope:
        raise Forbidden(f"this route needs a {scope} key")
    return principal


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None
