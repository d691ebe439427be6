"""The contact history (table ``contact_history``): every attempt and every contact-policy skip, with
local and UTC time, kept ``CONTACT_HISTORY_RETENTION_DAYS`` (default 730: two years) by the daily purge.

Append-only: one row per payment, day and stage; a redelivered chunk finds its rows there and adds
nothing (``ON CONFLICT DO NOTHING``), and a payment a crashed chunk attempted without recording gets
its row when the chunk comes back (the ledger entry as it stands).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg2.extensions
from psycopg2.extras import execute_values

from chalicelib import db

INSERT_SQL = """
INSERT INTO contact_history (payment_id, loan_id, customer_id, phone, channel, zone, business_date, stage, attempt,
                             at_utc, at_local, result, reason, provider_id, contact_of)
SELECT v.payment_id, v.loan_id, l.customer_id, v.phone, v.channel, v.zone, v.business_date, v.stage, v.attempt,
       v.at_utc, v.at_local, v.result, v.reason, v.provider_id, v.contact_of
FROM (VALUES %s) AS v(payment_id, loan_id, phone, channel, zone, business_date, stage, attempt, at_utc, at_local,
                      result, reason, provider_id, contact_of)
LEFT JOIN loan l ON l.loan_id = v.loan_id
ON CONFLICT (payment_id, business_date, stage) DO NOTHING
"""
ROW_TEMPLATE = ("(%s::bigint, %s::bigint, %s, %s, %s, %s::date, %s, %s::int, %s::timestamptz, %s::timestamp, %s, %s, "
                "%s, %s::bigint)")
PAYMENT_SQL = """
SELECT contact_id, payment_id, loan_id, customer_id, channel, zone, business_date, stage, attempt, at_utc, at_local,
       result, reason, provider_id, contact_of
FROM contact_history WHERE payment_id = %s
ORDER BY at_utc, contact_id
LIMIT %s
"""
PURGE_SQL = """
DELETE FROM contact_history WHERE contact_id IN (
    SELECT contact_id FROM contact_history WHERE at_utc < %s ORDER BY at_utc LIMIT %s)
"""
ZONE_OFFSETS = {"WIB": "+07:00", "WITA": "+08:00", "WIT": "+09:00"}
MAX_ROWS = 1000


@dataclass(frozen=True)
class Contact:
    payment_id: int
    loan_id: int | None
    phone: str | None
    channel: str
    zone: str            # WIB | WITA | WIT
    business_date: Any
    stage: str
    attempt: int
    at: datetime         # aware
    result: str          # placed | place_failed | unknown | skipped
    reason: str | None = None
    provider_id: str | None = None
    contact_of: int | None = None


def record(conn: psycopg2.extensions.connection, contacts: Iterable[Contact], tz: Any = None) -> int:
    """Append the rows (one statement; committed); how many were new."""
    rows = []
    for c in contacts:
        local = c.at.astimezone(tz) if tz is not None else c.at
        rows.append((c.payment_id, c.loan_id, c.phone, c.channel, c.zone, c.business_date, c.stage, c.attempt,
                     c.at.astimezone(UTC), local.replace(tzinfo=None), c.result, (c.reason or "")[:300] or None,
                     c.provider_id, c.contact_of))
    if not rows:
        return 0
    with db.transaction(conn) as cur:
        execute_values(cur, INSERT_SQL, rows, template=ROW_TEMPLATE, page_size=1000)
        return cur.rowcount


def of_payment(conn: psycopg2.extensions.connection, payment_id: int) -> list[dict[str, Any]]:
    with conn.cursor() as cur:
        cur.execute(PAYMENT_SQL, (payment_id, MAX_ROWS))
        found = cur.fetchall()
    out = []
    for (contact_id, pid, loan_id, customer_id, channel, zone, day, stage, attempt, at_utc, at_local, result,
         reason, provider_id, contact_of) in found:
        out.append({
            "contact_id": contact_id, "payment_id": pid, "loan_id": loan_id, "customer_id": customer_id,
            "channel": channel, "zone": zone, "business_date": day.isoformat(), "stage": stage, "attempt": attempt,
            "at_utc": at_utc.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "at_local": at_local.isoformat() + ZONE_OFFSETS.get(zone, ""),
            "result": result, "reason": reason, "provider_id": provider_id, "contact_of": contact_of,
        })
    return out


def purge(conn: psycopg2.extensions.connection, retention_days: int, *, now: datetime | None = None,
          batch: int = 10_000) -> int:
    """Delete rows older than the retention, in batches (each its own transaction); how many."""
    if retention_days < 1:
        raise ValueError("retention must be at least one day")
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    deleted = 0
    while True:
        with db.transaction(conn) as cur:
            cur.execute(PURGE_SQL, (cutoff, batch))
            n = cur.rowcount
        deleted += n
        if n < batch:
            return deleted
