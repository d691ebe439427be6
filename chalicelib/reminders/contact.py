"""The reminder workflow's side of the contact policy: its settings, its clock and its data.

The stage worker asks ``plan`` and ``window_left``; dispatch asks ``may_send`` with the clock just
before each call or message. Both load the policy once per stage or chunk (``load_policy``: the
decreed calendar days from PostgreSQL, the hours from ``CONTACT_HOURS``).

The clock's *scene* is the stage (``StageRun.ledger_key``) and its nominal instant the stage's slot:
a replayed day (``CONTACT_CLOCK=replay:<file>``) runs each stage from its slot.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Protocol

import psycopg2.extensions

from chalicelib.contact_data import history
from chalicelib.contact_data.calendar_days import load_calendar
from chalicelib.contact_data.history import Contact
from chalicelib.contact_data.preferences import ContactFacts, contact_facts
from chalicelib.contact_policy import Clock, ContactHours, ContactPolicy, clock_from_setting
from chalicelib.reminders.stages import DEFAULT_TIMETABLE, Stage, StageRun, Timetable, slot_utc, window_end_utc
from chalicelib.zones import Zone

REFERENCE_DAY = date(2026, 1, 6)  # any ordinary day: slot times are the same every day (no DST here)


def contact_hours(text: str) -> ContactHours:
    """``CONTACT_HOURS`` (a settings class's ``contact_hours``) parsed."""
    return ContactHours.parse(text)


def contact_clock(setting: str) -> Clock:
    """The clock ``CONTACT_CLOCK`` (a settings class's ``contact_clock``) names: the system's when empty."""
    return clock_from_setting(setting)


def load_policy(conn: psycopg2.extensions.connection, around: date, hours: ContactHours | None = None) -> ContactPolicy:
    """The policy with the decreed days around ``around`` (the read is ended at once: nothing held); ``hours``:
    the settings' ``CONTACT_HOURS`` (default: the regulation's, ``contact_policy.hours.DEFAULT``)."""
    try:
        calendar = load_calendar(conn, around)
    finally:
        conn.rollback()
    return ContactPolicy(calendar, hours or ContactHours())


class ContactRecords(Protocol):
    """What dispatch reads and writes about contacts: the send-time facts and the contact history."""

    def facts(self, phone: str | None, loan_ids: list[int]) -> ContactFacts: ...

    def record(self, contacts: Iterable[Contact], tz: tzinfo) -> int: ...


class PgContactRecords:
    """In PostgreSQL: ``contact_preference`` / ``loan.is_ignore_calls``, and ``contact_history``."""

    def __init__(self, conn: psycopg2.extensions.connection) -> None:
        self.conn = conn

    def facts(self, phone: str | None, loan_ids: list[int]) -> ContactFacts:
        return contact_facts(self.conn, phone, loan_ids)

    def record(self, contacts: Iterable[Contact], tz: tzinfo) -> int:
        return history.record(self.conn, contacts, tz)


@dataclass
class MemoryContactRecords:
    """The same in memory (unit tests): ``opted_out`` per number, do-not-call loans, recorded rows."""

    opted_out: dict[str, frozenset[str]] = field(default_factory=dict)
    do_not_call: set[int] = field(default_factory=set)
    rows: list[Contact] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def facts(self, phone: str | None, loan_ids: list[int]) -> ContactFacts:
        return ContactFacts(self.opted_out.get(phone or "", frozenset()), bool(self.do_not_call & set(loan_ids)))

    def record(self, contacts: Iterable[Contact], tz: tzinfo) -> int:
        with self._lock:
            known = {(c.payment_id, c.business_date, c.stage) for c in self.rows}
            new = [c for c in contacts if (c.payment_id, c.business_date, c.stage) not in known]
            self.rows.extend(new)
        return len(new)


def stage_now(clock: Clock, run: StageRun, timetable: Timetable = DEFAULT_TIMETABLE) -> datetime:
    """Now, for ``run``: the clock asked about the stage, whose nominal start is its slot."""
    return clock.now(run.ledger_key, slot_utc(run.zone, run.business_date, run.stage, timetable))


def slots_outside_hours(hours_text: str) -> list[str]:
    """Every stage window that does not lie inside the allowed hours (the cold start refuses them)."""
    policy = ContactPolicy(hours=contact_hours(hours_text))
    found = []
    for zone in Zone:
        for stage in Stage:
            start = slot_utc(zone, REFERENCE_DAY, stage)
            end = window_end_utc(zone, REFERENCE_DAY, stage)
            if not policy.inside_hours(zone, start, end):
                local = zone.tzinfo
                found.append(f"{zone.name} {stage} {start.astimezone(local):%H:%M}-{end.astimezone(local):%H:%M}")
    return found
