"""API keys for the HTTP API: issuing, finding and revoking them.

Keys are random (``secrets.token_urlsafe``), returned once at creation, stored only as their
SHA-256 hash, and compared in constant time. A key is either a partner's (it reads that
partner's views only) or a staff key (CRM, push notifications, analytics).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import psycopg2.extensions

from chalicelib import db

KEY_PREFIX_LEN = 8
PREFIX_CHARS = KEY_PREFIX_LEN + 3  # "jk_" + 8: what is stored in clear to find the key
# What new_key() produces (and a little slack); anything else is rejected before any SQL.
KEY_SHAPE = re.compile(r"[A-Za-z0-9_\-]{11,128}")
SCOPES = ("partner", "staff")

FIND_KEY_BY_PREFIX = """
SELECT api_key_id, partner_id, scope, key_hash
FROM partner_api_key
WHERE key_prefix = %s AND revoked_at IS NULL
"""
INSERT_KEY = """
INSERT INTO partner_api_key (partner_id, scope, key_prefix, key_hash)
VALUES (%s, %s, %s, %s) RETURNING api_key_id
"""
PARTNER_EXISTS = "SELECT name FROM partner WHERE partner_id = %s"
REVOKE_KEY = """
UPDATE partner_api_key SET revoked_at = now()
WHERE key_prefix = %s AND revoked_at IS NULL
RETURNING api_key_id
"""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, its scope, and for a partner key the partner."""

    api_key_id: int
    scope: str  # 'partner' | 'staff'
    partner_id: int | None


class UnknownPartner(LookupError):
    pass


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return "jk_" + secrets.token_urlsafe(32)


def create_key(conn: psycopg2.extensions.connection, *, scope: str, partner_id: int | None = None) -> str:
    """Store a new key's hash and return the plain key (the only time it exists); not committed."""
    if scope not in SCOPES:
        raise ValueError("scope must be 'partner' or 'staff'")
    if (scope == "partner") != (partner_id is not None):
        raise ValueError("a partner key needs a partner_id; a staff key must not have one")
    key = new_key()
    with conn.cursor() as cur:
        cur.execute(INSERT_KEY, (partner_id, scope, key[:PREFIX_CHARS], hash_key(key)))
    return key


def find_key(conn: psycopg2.extensions.connection, key: str) -> Principal | None:
    """The live key equal to ``key``, or None (malformed, unknown or revoked)."""
    if not KEY_SHAPE.fullmatch(key):
        return None
    digest = hash_key(key)
    with conn.cursor() as cur:
        cur.execute(FIND_KEY_BY_PREFIX, (key[:PREFIX_CHARS],))
        rows = cur.fetchall()
    match = None
    for api_key_id, partner_id, scope, stored in rows:
        if hmac.compare_digest(stored, digest):
            match = Principal(api_key_id, scope, partner_id)
    return match


def create_partner_key(conn: psycopg2.extensions.connection, partner_id: int) -> str:
    """A new key for ``partner_id`` (committed); ``UnknownPartner`` if there is no such partner."""
    with db.transaction(conn) as cur:
        cur.execute(PARTNER_EXISTS, (partner_id,))
        if cur.fetchone() is None:
            raise UnknownPartner(f"no partner with id {partner_id}")
        return create_key(conn, scope="partner", partner_id=partner_id)


def create_staff_key(conn: psycopg2.extensions.connection) -> str:
    with db.transaction(conn):
        return create_key(conn, scope="staff")


def revoke_key(conn: psycopg2.extensions.connection, key_prefix: str) -> int:
    """Revoke every live key with this prefix (the first 11 characters); returns how many."""
    with db.transaction(conn) as cur:
        cur.execute(REVOKE_KEY, (key_prefix,))
        return len(cur.fetchall())
