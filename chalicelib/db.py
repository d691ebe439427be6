"""PostgreSQL connections and the migration runner.

    python -m chalicelib.db migrate     # apply pending migrations, then the grant map (idempotent)
    python -m chalicelib.db status      # list applied / pending migrations
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extensions
import psycopg2.extras

from chalicelib import settings
from chalicelib.products import PRODUCT_LINES
from chalicelib.zones import POSTCODE_PREFIXES

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Any constant: serialises concurrent migration runners (two Lambdas, two test workers).
MIGRATION_LOCK_KEY = 727_003_001

CREATE_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    name        TEXT PRIMARY KEY,
    checksum    TEXT NOT NULL,
    applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""

UPSERT_POSTCODE_ZONE = """
INSERT INTO postcode_zone (prefix, zone, region) VALUES %s
ON CONFLICT (prefix) DO UPDATE SET zone = EXCLUDED.zone, region = EXCLUDED.region
WHERE (postcode_zone.zone, postcode_zone.region) IS DISTINCT FROM (EXCLUDED.zone, EXCLUDED.region)
"""
DELETE_STALE_POSTCODE_ZONES = "DELETE FROM postcode_zone WHERE NOT (prefix = ANY(%s))"

UPSERT_PRODUCT_LINE = """
INSERT INTO product_line (product_line_code, product_line_type, product_family, name) VALUES %s
ON CONFLICT (product_line_code) DO UPDATE SET
    product_line_type = EXCLUDED.product_line_type,
    product_family = EXCLUDED.product_family,
    name = EXCLUDED.name
WHERE (product_line.product_line_type, product_line.product_family, product_line.name)
      IS DISTINCT FROM (EXCLUDED.product_line_type, EXCLUDED.product_family, EXCLUDED.name)
"""


# What libpq says when the server refuses a login (the SQLSTATE of a failed connection does not
# reach psycopg2): a wrong or rotated password, a login that no longer exists, a rule that refuses it.
AUTHENTICATION_FAILURES = ("authentication failed", "no password supplied", "no pg_hba.conf entry",
                           "pg_hba.conf rejects", "does not exist")


def is_authentication_failure(exc: BaseException) -> bool:
    """Whether a failed connection was a refused login (not an unreachable or overloaded server)."""
    return isinstance(exc, psycopg2.OperationalError) and any(m in str(exc) for m in AUTHENTICATION_FAILURES)


def connect(dsn: str | None = None, **kwargs: Any) -> psycopg2.extensions.connection:
    return psycopg2.connect(dsn or settings.database_url(), **kwargs)


def one(cur: psycopg2.extensions.cursor) -> tuple[Any, ...]:
    """The row of a query that always returns one (an aggregate, ``now()``); LookupError if it did not."""
    row = cur.fetchone()
    if row is None:
        raise LookupError("the query returned no row")
    return row


def column_names(cur: psycopg2.extensions.cursor) -> list[str]:
    """The column names of the statement ``cur`` last executed (one that returns rows)."""
    if cur.description is None:
        raise LookupError("the statement returns no rows")
    return [column.name for column in cur.description]


@contextmanager
def transaction(conn: psycopg2.extensions.connection) -> Iterator[psycopg2.extensions.cursor]:
    """Commit on success, roll back on any exception."""
    try:
        with conn.cursor() as cur:
            yield cur
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    return [Migration(p.name, p.read_text()) for p in sorted(directory.glob("*.sql"))]


def migrate(conn: psycopg2.extensions.connection) -> list[str]:
    """Apply pending migrations in name order, each in its own transaction.

    Returns the names applied. A changed checksum of an applied migration is an error:
    applied migrations are never edited, a new one is added instead.
    """
    applied_now: list[str] = []
    with transaction(conn) as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    try:
        with transaction(conn) as cur:
            cur.execute(CREATE_MIGRATIONS_TABLE)
        with transaction(conn) as cur:
            cur.execute("SELECT name, checksum FROM schema_migrations")
            applied = dict(cur.fetchall())
        for migration in load_migrations():
            if migration.name in applied:
                if applied[migration.name] != migration.checksum:
                    raise RuntimeError(
                        f"migration {migration.name} was edited after it was applied; "
                        "add a new migration instead"
                    )
                continue
            _apply(conn, migration)
            applied_now.append(migration.name)
        sync_reference_data(conn)
        sync_grants(conn)
    finally:
        with transaction(conn) as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    return applied_now


CLUSTER_WIDE_RACE_TRIES = 5


def _apply(conn: psycopg2.extensions.connection, migration: Migration) -> None:
    """One migration in one transaction. Roles are cluster-wide: two databases of one server
    migrating at once (test workers, two environments) can collide on ``ALTER ROLE``/``GRANT``
    ("tuple concurrently updated", or a duplicate ``pg_authid`` row); the transaction rolled back,
    so it is simply run again."""
    for attempt in range(1, CLUSTER_WIDE_RACE_TRIES + 1):
        try:
            with transaction(conn) as cur:
                cur.execute(migration.sql)
                cur.execute(
                    "INSERT INTO schema_migrations (name, checksum) VALUES (%s, %s)",
                    (migration.name, migration.checksum),
                )
            return
        except (psycopg2.errors.InternalError_, psycopg2.errors.UniqueViolation) as exc:
            raced = "concurrently" in str(exc) or "pg_authid" in str(exc)
            if not raced or attempt == CLUSTER_WIDE_RACE_TRIES:
                raise
            time.sleep(0.1 * attempt)


def sync_grants(conn: psycopg2.extensions.connection) -> None:
    """Each function group's role gets exactly the grant map's privileges (chalicelib/database_roles.py)."""
    from chalicelib import database_roles

    for attempt in range(1, CLUSTER_WIDE_RACE_TRIES + 1):
        try:
            with transaction(conn):
                database_roles.apply_grants(conn)
            return
        except (psycopg2.errors.InternalError_, psycopg2.errors.UniqueViolation) as exc:
            if "concurrently" not in str(exc) or attempt == CLUSTER_WIDE_RACE_TRIES:
                raise
            time.sleep(0.1 * attempt)


def sync_reference_data(conn: psycopg2.extensions.connection) -> None:
    """Make reference tables match the Python definitions (no-op when they already do)."""
    zone_rows = [(prefix, zone.value, region) for prefix, (zone, region) in sorted(POSTCODE_PREFIXES.items())]
    product_rows = [(p.code, p.type, p.family.value, p.name) for p in PRODUCT_LINES]
    with transaction(conn) as cur:
        psycopg2.extras.execute_values(cur, UPSERT_POSTCODE_ZONE, zone_rows)
        cur.execute(DELETE_STALE_POSTCODE_ZONES, ([r[0] for r in zone_rows],))
        psycopg2.extras.execute_values(cur, UPSERT_PRODUCT_LINE, product_rows)


def status(conn: psycopg2.extensions.connection) -> list[tuple[str, bool]]:
    with transaction(conn) as cur:
        cur.execute(CREATE_MIGRATIONS_TABLE)
        cur.execute("SELECT name FROM schema_migrations")
        applied = {row[0] for row in cur.fetchall()}
    return [(m.name, m.name in applied) for m in load_migrations()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.db")
    parser.add_argument("command", choices=["migrate", "status"])
    args = parser.parse_args(argv)
    conn = connect()
    try:
        if args.command == "migrate":
            names = migrate(conn)
            print(f"applied {len(names)} migration(s)" + (": " + ", ".join(names) if names else ""))
        else:
            for name, done in status(conn):
                print(f"{'applied' if done else 'pending'}  {name}")
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
