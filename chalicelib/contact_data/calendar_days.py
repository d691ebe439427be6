"""The decreed days of the contact calendar (table ``contact_calendar_day``) and their audit trail."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg2.extensions

from chalicelib import db
from chalicelib.contact_policy.calendar import ContactCalendar, DecreedDay, DecreedKind, library_holidays
from chalicelib.errors import InvalidInput

SELECT_DAYS_SQL = """
SELECT day, kind, name, source, changed_at, changed_by FROM contact_calendar_day
WHERE day BETWEEN %s AND %s ORDER BY day
"""
SELECT_DAY_SQL = "SELECT day, kind, name, source, changed_at, changed_by FROM contact_calendar_day WHERE day = %s"
UPSERT_DAY_SQL = """
INSERT INTO contact_calendar_day (day, kind, name, source, changed_at, changed_by)
VALUES (%s, %s, %s, %s, clock_timestamp(), %s)
ON CONFLICT (day) DO UPDATE SET kind = EXCLUDED.kind, name = EXCLUDED.name, source = EXCLUDED.source,
                                changed_at = EXCLUDED.changed_at, changed_by = EXCLUDED.changed_by
"""
DELETE_DAY_SQL = "DELETE FROM contact_calendar_day WHERE day = %s"
AUDIT_SQL = """
INSERT INTO contact_calendar_audit (day, action, before, after, api_key_id, reason)
VALUES (%s, %s, %s::jsonb, %s::jsonb, %s, %s)
"""
MAX_NAME, MAX_SOURCE, MAX_REASON = 200, 500, 500


@dataclass(frozen=True)
class DayRow:
    decreed: DecreedDay
    changed_at: Any
    changed_by: int | None

    def as_dict(self) -> dict[str, Any]:
        d = self.decreed
        return {"day": d.day.isoformat(), "kind": str(d.kind), "name": d.name, "source": d.source,
                "changed_at": self.changed_at.isoformat() if self.changed_at else None,
                "changed_by": self.changed_by}


def _row(r: tuple[Any, ...]) -> DayRow:
    return DayRow(DecreedDay(r[0], DecreedKind(r[1]), r[2], r[3]), r[4], r[5])


def decreed_days(conn: psycopg2.extensions.connection, start: date, end: date) -> list[DayRow]:
    with conn.cursor() as cur:
        cur.execute(SELECT_DAYS_SQL, (start, end))
        return [_row(r) for r in cur.fetchall()]


def load_calendar(conn: psycopg2.extensions.connection, around: date, *, days: int = 120) -> ContactCalendar:
    """The calendar with the decreed days from ``around`` − ``days`` to ``around`` + ``days`` (enough for
    any shift: a closed stretch is at most a few weeks)."""
    from datetime import timedelta

    rows = decreed_days(conn, around - timedelta(days=days), around + timedelta(days=days))
    return ContactCalendar(r.decreed for r in rows)


def _text(body: dict[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > limit or not value.isprintable():
        raise InvalidInput(f"{name} must be text of 1 to {limit} printable characters", code="invalid_body")
    return value.strip()


def set_day(conn: psycopg2.extensions.connection, day: date, body: dict[str, Any], api_key_id: int) -> DayRow:
    """Create or replace the decreed day ``day`` (staff), with an audit row; committed."""
    try:
        kind = DecreedKind(str(body.get("kind")))
    except ValueError as exc:
        raise InvalidInput("kind must be one of cuti_bersama, holiday, contact_day", code="invalid_body") from exc
    name, source = _text(body, "name", MAX_NAME), _text(body, "source", MAX_SOURCE)
    reason = _text(body, "reason", MAX_REASON)
    if kind is DecreedKind.CONTACT_DAY and library_holidays(day.year).get(day) is None:
        raise InvalidInput(f"{day} is not a national holiday of the holidays library: a contact_day correction "
                           "only reopens a library holiday the government moved away", code="invalid_body")
    if kind is DecreedKind.CONTACT_DAY and day.isoweekday() == 7:
        raise InvalidInput("a Sunday is never a contact day (POJK 22/2023 Pasal 62 ayat (2) huruf f)",
                           code="invalid_body")
    with db.transaction(conn) as cur:
        cur.execute(SELECT_DAY_SQL + " FOR UPDATE", (day,))
        found = cur.fetchone()
        before = _row(found).as_dict() if found else None
        cur.execute(UPSERT_DAY_SQL, (day, str(kind), name, source, api_key_id))
        cur.execute(SELECT_DAY_SQL, (day,))
        after = _row(db.one(cur))
        cur.execute(AUDIT_SQL, (day, "set", json.dumps(before), json.dumps(after.as_dict()), api_key_id, reason))
    return after


def clear_day(conn: psycopg2.extensions.connection, day: date, reason: str, api_key_id: int) -> bool:
    """Remove the decreed day ``day`` (staff), with an audit row; False if there was none."""
    reason = _text({"reason": reason}, "reason", MAX_REASON)
    with db.transaction(conn) as cur:
        cur.execute(SELECT_DAY_SQL + " FOR UPDATE", (day,))
        found = cur.fetchone()
        if found is None:
            return False
        cur.execute(DELETE_DAY_SQL, (day,))
        cur.execute(AUDIT_SQL, (day, "clear", json.dumps(_row(found).as_dict()), None, api_key_id, reason))
    return True
