"""Issuing and revoking API keys (the plain key is returned once and never stored)."""

from __future__ import annotations

import psycopg2.extensions

from chalicelib import db
from chalicelib.http.auth import create_key

PARTNER_EXISTS = "SELECT name FROM partner WHERE partner_id = %s"
REVOKE_KEY = """
UPDATE partner_api_key SET revoked_at = now()
WHERE key_prefix = %s AND revoked_at IS NULL
RETURNING api_key_id
"""


class UnknownPartner(LookupError):
    pass


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
