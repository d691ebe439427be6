"""API keys for the HTTP API: issuing, finding, rotating, revoking and listing them.

Keys are random (``secrets.token_urlsafe``), returned once at creation, stored only as their
SHA-256 hash, and compared in constant time. A key is either a partner's (it reads that
partner's views only) or a staff key (CRM, push notifications, analytics).

Lifecycle (migration 0211): every key has an expiry (a partner key ``PARTNER_KEY_EXPIRY_DAYS``
after its creation, default 365); the API records its last use at most once a minute; triggers
write who created, revoked or re-dated it, and when, to the append-only ``partner_api_key_event``;
a partner holds at most two live keys (the old and the new one during a rotation).

Staff keys (migration 0601) name their owner, the person who holds the key (``owner``, never
changed), and live ``STAFF_KEY_EXPIRY_DAYS`` (default 90, at most 366: the database refuses more).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg2.errors
import psycopg2.extensions

from chalicelib import db
from chalicelib.errors import DomainError
from chalicelib.settings import KeyAdminSettings

KEY_PREFIX_LEN = 8
PREFIX_CHARS = KEY_PREFIX_LEN + 3  # "jk_" + 8: what is stored in clear to find the key
# What new_key() produces (and a little slack); anything else is rejected before any SQL.
KEY_SHAPE = re.compile(r"[A-Za-z0-9_\-]{11,128}")
SCOPES = ("partner", "staff")
MAX_LIVE_PARTNER_KEYS = 2
MAX_STAFF_EXPIRY_DAYS = 366
MAX_OWNER_CHARS = 200
LAST_USED_RESOLUTION = timedelta(minutes=1)

FIND_KEY_BY_PREFIX = """
SELECT api_key_id, partner_id, scope, key_hash, expires_at, expires_at <= now() AS expired
FROM partner_api_key
WHERE key_prefix = %s AND revoked_at IS NULL
"""
INSERT_KEY = """
INSERT INTO partner_api_key (partner_id, scope, key_prefix, key_hash, expires_at, owner)
VALUES (%s, %s, %s, %s, now() + %s, %s) RETURNING api_key_id
"""
SET_ACTOR = "SELECT set_config('julo.actor', %s, true)"
LOCK_PARTNER = "SELECT name FROM partner WHERE partner_id = %s FOR UPDATE"
LIVE_PARTNER_KEYS = """
SELECT key_prefix FROM partner_api_key
WHERE partner_id = %s AND revoked_at IS NULL AND expires_at > now()
ORDER BY cdate
"""
REVOKE_KEY = """
UPDATE partner_api_key SET revoked_at = now()
WHERE key_prefix = %s AND revoked_at IS NULL
RETURNING api_key_id
"""
# the other live keys of a rotated partner expire after the grace period (never later than they would)
SHORTEN_OTHER_KEYS = """
UPDATE partner_api_key SET expires_at = LEAST(expires_at, now() + %s)
WHERE partner_id = %s AND api_key_id <> %s AND revoked_at IS NULL AND expires_at > now() + %s
"""
# last use, at most once a minute per key: a request of a key used within the minute writes nothing
TOUCH_LAST_USED = """
UPDATE partner_api_key SET last_used_at = clock_timestamp()
WHERE api_key_id = %s AND (last_used_at IS NULL OR last_used_at <= clock_timestamp() - %s)
"""
LIST_KEYS = """
SELECT k.key_prefix, k.scope, k.partner_id, k.owner, k.cdate, c.actor AS created_by, k.expires_at, k.last_used_at,
       k.revoked_at, r.actor AS revoked_by,
       CASE WHEN k.revoked_at IS NOT NULL THEN 'revoked' WHEN k.expires_at <= now() THEN 'expired'
            ELSE 'live' END AS state
FROM partner_api_key k
LEFT JOIN LATERAL (SELECT actor FROM partner_api_key_event e
                   WHERE e.api_key_id = k.api_key_id AND e.action = 'created' ORDER BY e.at LIMIT 1) c ON TRUE
LEFT JOIN LATERAL (SELECT actor FROM partner_api_key_event e
                   WHERE e.api_key_id = k.api_key_id AND e.action = 'revoked' ORDER BY e.at LIMIT 1) r ON TRUE
WHERE (%(partner_id)s::integer IS NULL OR k.partner_id = %(partner_id)s)
  AND (%(scope)s::text IS NULL OR k.scope = %(scope)s)
  AND (%(all)s OR (k.revoked_at IS NULL AND k.expires_at > now()))
ORDER BY k.scope, k.partner_id NULLS FIRST, k.cdate
"""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, its scope, and for a partner key the partner."""

    api_key_id: int
    scope: str  # 'partner' | 'staff'
    partner_id: int | None
    expires_at: datetime | None = None
    expired: bool = False


@dataclass(frozen=True)
class KeyInfo:
    """One key as the CLI lists it (never the key itself: only its first characters)."""

    key_prefix: str
    scope: str
    partner_id: int | None
    owner: str | None  # a staff key's holder
    created_at: datetime
    created_by: str | None
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    state: str  # live | expired | revoked


class UnknownPartner(LookupError):
    pass


class TooManyLiveKeys(DomainError):
    """A partner already holds its two live keys: one has to be revoked (or expire) first."""

    code = "too_many_live_keys"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return "jk_" + secrets.token_urlsafe(32)


@contextmanager
def _as_actor(conn: psycopg2.extensions.connection, actor: str) -> Iterator[psycopg2.extensions.cursor]:
    """A transaction whose key changes the audit trail attributes to ``actor``."""
    if not actor.strip():
        raise ValueError("who is doing this must be named (actor)")
    with db.transaction(conn) as cur:
        cur.execute(SET_ACTOR, (actor.strip()[:200],))
        yield cur


def default_key_lifetime(settings: KeyAdminSettings | None = None) -> timedelta:
    """How long a new partner key lives: ``PARTNER_KEY_EXPIRY_DAYS`` (without settings: its default)."""
    days = (settings or KeyAdminSettings()).partner_key_expiry_days
    if days < 1:
        raise ValueError("PARTNER_KEY_EXPIRY_DAYS must be at least 1")
    return timedelta(days=days)


def default_staff_key_lifetime(settings: KeyAdminSettings | None = None) -> timedelta:
    """How long a new staff key lives: ``STAFF_KEY_EXPIRY_DAYS`` (at most 366; without settings: its default)."""
    days = (settings or KeyAdminSettings()).staff_key_expiry_days
    if not 1 <= days <= MAX_STAFF_EXPIRY_DAYS:
        raise ValueError(f"STAFF_KEY_EXPIRY_DAYS must be between 1 and {MAX_STAFF_EXPIRY_DAYS}")
    return timedelta(days=days)


def _owner(scope: str, owner: str | None) -> str | None:
    if scope != "staff":
        if owner is not None:
            raise ValueError("only a staff key names an owner (a partner key is the partner's)")
        return None
    name = (owner or "").strip()
    if not name:
        raise ValueError("a staff key must name its owner: the person who holds it (--owner)")
    if len(name) > MAX_OWNER_CHARS:
        raise ValueError(f"owner: at most {MAX_OWNER_CHARS} characters")
    return name


def _insert_key(conn: psycopg2.extensions.connection, scope: str, partner_id: int | None,
                expires_in: timedelta, owner: str | None = None) -> tuple[str, int]:
    if scope not in SCOPES:
        raise ValueError("scope must be 'partner' or 'staff'")
    if (scope == "partner") != (partner_id is not None):
        raise ValueError("a partner key needs a partner_id; a staff key must not have one")
    if expires_in <= timedelta(0):
        raise ValueError("a key must expire after it is created")
    if scope == "staff" and expires_in > timedelta(days=MAX_STAFF_EXPIRY_DAYS):
        raise ValueError(f"a staff key lives at most {MAX_STAFF_EXPIRY_DAYS} days")
    holder = _owner(scope, owner)
    key = new_key()
    with conn.cursor() as cur:
        cur.execute(INSERT_KEY, (partner_id, scope, key[:PREFIX_CHARS], hash_key(key), expires_in, holder))
        (api_key_id,) = db.one(cur)
    return key, api_key_id


def create_key(conn: psycopg2.extensions.connection, *, scope: str, partner_id: int | None = None,
               expires_in: timedelta | None = None, owner: str | None = None) -> str:
    """Store a new key's hash and return the plain key (the only time it exists); not committed.

    A staff key names its ``owner`` (required). Expires after ``expires_in`` (default:
    ``default_key_lifetime()`` for a partner key, ``default_staff_key_lifetime()`` for a staff
    key). The creation is audited under the transaction's actor (``set_config('julo.actor', ...)``;
    the database user when none is set)."""
    default = default_staff_key_lifetime if scope == "staff" else default_key_lifetime
    return _insert_key(conn, scope, partner_id, expires_in or default(), owner)[0]


def find_key(conn: psycopg2.extensions.connection, key: str) -> Principal | None:
    """The unrevoked key equal to ``key`` (``expired`` says whether it is past its expiry), or None
    (malformed, unknown or revoked)."""
    if not KEY_SHAPE.fullmatch(key):
        return None
    digest = hash_key(key)
    with conn.cursor() as cur:
        cur.execute(FIND_KEY_BY_PREFIX, (key[:PREFIX_CHARS],))
        rows = cur.fetchall()
    match = None
    for api_key_id, partner_id, scope, stored, expires_at, expired in rows:
        if hmac.compare_digest(stored, digest):
            match = Principal(api_key_id, scope, partner_id, expires_at, bool(expired))
    return match


def touch_last_used(conn: psycopg2.extensions.connection, api_key_id: int) -> None:
    """Record the key's use (not committed); writes at most once a minute per key."""
    with conn.cursor() as cur:
        cur.execute(TOUCH_LAST_USED, (api_key_id, LAST_USED_RESOLUTION))


def _check_room_for_a_key(cur: psycopg2.extensions.cursor, partner_id: int) -> None:
    cur.execute(LOCK_PARTNER, (partner_id,))
    if cur.fetchone() is None:
        raise UnknownPartner(f"no partner with id {partner_id}")
    cur.execute(LIVE_PARTNER_KEYS, (partner_id,))
    live = [prefix for (prefix,) in cur.fetchall()]
    if len(live) >= MAX_LIVE_PARTNER_KEYS:
        raise TooManyLiveKeys(f"partner {partner_id} already has {len(live)} live keys ({', '.join(live)}): "
                              "revoke one first (revoke-key <prefix>)")


def create_partner_key(conn: psycopg2.extensions.connection, partner_id: int, *, actor: str,
                       expires_in: timedelta | None = None) -> str:
    """A new key for ``partner_id`` (committed); ``UnknownPartner`` if there is no such partner,
    ``TooManyLiveKeys`` if it already holds two live keys."""
    with _as_actor(conn, actor) as cur:
        _check_room_for_a_key(cur, partner_id)
        try:
            return create_key(conn, scope="partner", partner_id=partner_id, expires_in=expires_in)
        except psycopg2.errors.CheckViolation as exc:  # the database's own two-key rule (a race)
            raise TooManyLiveKeys(str(exc.diag.message_primary)) from exc


def rotate_partner_key(conn: psycopg2.extensions.connection, partner_id: int, *, actor: str, grace: timedelta,
                       expires_in: timedelta | None = None) -> str:
    """A new key for the partner, and its other live key set to expire after ``grace`` (committed):
    the change-over during which the partner holds two live keys has an end even if nobody revokes
    the old key."""
    with _as_actor(conn, actor) as cur:
        _check_room_for_a_key(cur, partner_id)
        key, new_id = _insert_key(conn, "partner", partner_id, expires_in or default_key_lifetime())
        cur.execute(SHORTEN_OTHER_KEYS, (grace, partner_id, new_id, grace))
        return key


def create_staff_key(conn: psycopg2.extensions.connection, *, owner: str, actor: str,
                     expires_in: timedelta | None = None) -> str:
    """A new staff key held by ``owner`` (committed); ``actor`` is who issued it."""
    with _as_actor(conn, actor):
        return create_key(conn, scope="staff", expires_in=expires_in, owner=owner)


def revoke_key(conn: psycopg2.extensions.connection, key_prefix: str, *, actor: str) -> int:
    """Revoke every live key with this prefix (the first 11 characters); returns how many."""
    with _as_actor(conn, actor) as cur:
        cur.execute(REVOKE_KEY, (key_prefix,))
        return len(cur.fetchall())


def list_keys(conn: psycopg2.extensions.connection, *, partner_id: int | None = None, scope: str | None = None,
              include_ended: bool = False) -> list[KeyInfo]:
    """Keys with their lifecycle (live ones only unless ``include_ended``), by scope, partner, age."""
    with db.transaction(conn) as cur:
        cur.execute(LIST_KEYS, {"partner_id": partner_id, "scope": scope, "all": include_ended})
        return [KeyInfo(*row) for row in cur.fetchall()]
