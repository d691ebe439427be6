"""API-key authentication for the HTTP API.

Keys are random (``secrets.token_urlsafe``), shown once at creation, stored only as their
SHA-256 hash, and compared in constant time. The caller's partner comes from the key,
never from a path or query parameter.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import psycopg2.extensions

from chalicelib.http.errors import Forbidden, Unauthorized

API_KEY_HEADER = "x-api-key"
KEY_PREFIX_LEN = 8
# What new_key() produces (and a little slack); anything else is rejected before any SQL.
KEY_SHAPE = re.compile(r"[A-Za-z0-9_\-]{11,128}")

FIND_KEY_BY_PREFIX = """
SELECT api_key_id, partner_id, scope, key_hash
FROM partner_api_key
WHERE key_prefix = %s AND revoked_at IS NULL
"""
INSERT_KEY = """
INSERT INTO partner_api_key (partner_id, scope, key_prefix, key_hash)
VALUES (%s, %s, %s, %s) RETURNING api_key_id
"""


@dataclass(frozen=True)
class Principal:
    api_key_id: int
    scope: str  # 'partner' | 'staff'
    partner_id: int | None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return "jk_" + secrets.token_urlsafe(32)


def create_key(conn: psycopg2.extensions.connection, *, scope: str, partner_id: int | None = None) -> str:
    """Store a new key's hash and return the plain key (the only time it exists)."""
    if scope not in ("partner", "staff"):
        raise ValueError("scope must be 'partner' or 'staff'")
    if (scope == "partner") != (partner_id is not None):
        raise ValueError("a partner key needs a partner_id; a staff key must not have one")
    key = new_key()
    with conn.cursor() as cur:
        cur.execute(INSERT_KEY, (partner_id, scope, key[:KEY_PREFIX_LEN + 3], hash_key(key)))
    return key


def authenticate(conn: psycopg2.extensions.connection, headers: dict[str, str] | None) -> Principal:
    """The principal behind the request's ``x-api-key``; 401 when missing or unknown."""
    key = _header(headers, API_KEY_HEADER)
    if not key:
        raise Unauthorized("missing x-api-key header")
    if not KEY_SHAPE.fullmatch(key):
        raise Unauthorized("invalid API key")
    digest = hash_key(key)
    with conn.cursor() as cur:
        cur.execute(FIND_KEY_BY_PREFIX, (key[:KEY_PREFIX_LEN + 3],))
        rows = cur.fetchall()
    match = None
    for api_key_id, partner_id, scope, stored in rows:
        if hmac.compare_digest(stored, digest):
            match = Principal(api_key_id, scope, partner_id)
    if match is None:
        raise Unauthorized("invalid API key")
    return match


def require_scope(principal: Principal, scope: str) -> Principal:
    if principal.scope != scope:
        raise Forbidden(f"this route needs a {scope} key")
    return principal


def _header(headers: dict[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None
