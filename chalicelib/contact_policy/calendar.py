"""The contact calendar: which days a borrower may be contacted about a debt.

POJK 22/2023 Pasal 62 ayat (2) huruf f: Monday to Saturday, not on national holidays. A day is
closed when it is

1. a day of the decreed-days table that closes it (``cuti_bersama``, or ``holiday``: a day off the
   government added or moved a holiday to), else
2. a national holiday of the ``holidays`` library's Indonesia calendar (category ``public``,
   Islamic holidays included), unless the table reopens that date (``contact_day``: the SKB moved
   the holiday away from it), else
3. a Sunday.

The decreed days come from PostgreSQL (``contact_calendar_day``, seeded by migration, changed
by staff); the caller loads them and passes them in, so this module does no I/O.

The shift rule (``reminder_day``): a reminder due on day D − 3 that falls on a closed day goes
out on the last open day before it, never after; ``covered_due_dates(day)`` is the inverse: the
due dates whose reminder goes out on ``day``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from functools import lru_cache

import holidays

from chalicelib.contact_policy.reasons import Reason

LIBRARY_COUNTRY = "ID"
LIBRARY_CATEGORY = "public"
LIBRARY_LANGUAGE = "id"
# A closed stretch longer than this is a data error (no Indonesian holiday season comes near it).
MAX_CLOSED_RUN = 31


class DecreedKind(StrEnum):
    CUTI_BERSAMA = "cuti_bersama"  # collective leave decreed by the SKB (joint decree of three ministers)
    HOLIDAY = "holiday"            # a national day off the library does not have (moved here, or a one-off decree)
    CONTACT_DAY = "contact_day"    # a correction: the library's holiday on this date was moved away


@dataclass(frozen=True, slots=True)
class DecreedDay:
    day: date
    kind: DecreedKind
    name: str
    source: str


@dataclass(frozen=True, slots=True)
class Closed:
    """Why a day is closed: the rule's code and the day's name (the holiday, or "Minggu")."""

    reason: Reason
    name: str

    def __str__(self) -> str:
        return self.reason.value if self.reason is Reason.SUNDAY else f"{self.reason.value}: {self.name}"


@lru_cache(maxsize=64)
def library_holidays(year: int) -> Mapping[date, str]:
    """The ``holidays`` library's Indonesian national holidays of ``year`` (date -> Indonesian name)."""
    found = holidays.country_holidays(LIBRARY_COUNTRY, years=year, categories=(LIBRARY_CATEGORY,),
                                      language=LIBRARY_LANGUAGE)
    return dict(found.items())


class ContactCalendar:
    def __init__(self, decreed: Iterable[DecreedDay] = ()) -> None:
        self.decreed: dict[date, DecreedDay] = {}
        for row in decreed:
            self.decreed[row.day] = row

    def closed(self, day: date) -> Closed | None:
        """Why ``day`` is closed to contact, or None for a contact day."""
        row = self.decreed.get(day)
        if row is not None and row.kind is DecreedKind.CUTI_BERSAMA:
            return Closed(Reason.CUTI_BERSAMA, row.name)
        if row is not None and row.kind is DecreedKind.HOLIDAY:
            return Closed(Reason.NATIONAL_HOLIDAY, row.name)
        if row is None or row.kind is not DecreedKind.CONTACT_DAY:
            name = library_holidays(day.year).get(day)
            if name is not None:
                return Closed(Reason.NATIONAL_HOLIDAY, name)
        if day.isoweekday() == 7:
            return Closed(Reason.SUNDAY, "Minggu")
        return None

    def is_contact_day(self, day: date) -> bool:
        return self.closed(day) is None

    def next_contact_day(self, day: date) -> date:
        """The first contact day after ``day``."""
        for n in range(1, MAX_CLOSED_RUN + 2):
            candidate = day + timedelta(days=n)
            if self.is_contact_day(candidate):
                return candidate
        raise ValueError(f"no contact day within {MAX_CLOSED_RUN} days after {day}: check the calendar")

    def previous_contact_day(self, day: date) -> date:
        """The last contact day before ``day``."""
        for n in range(1, MAX_CLOSED_RUN + 2):
            candidate = day - timedelta(days=n)
            if self.is_contact_day(candidate):
                return candidate
        raise ValueError(f"no contact day within {MAX_CLOSED_RUN} days before {day}: check the calendar")

    def reminder_day(self, due: date, lead_days: int) -> date:
        """The day a reminder ``lead_days`` before ``due`` goes out: the last contact day on or before it."""
        day = due - timedelta(days=lead_days)
        for _ in range(MAX_CLOSED_RUN + 1):
            if self.is_contact_day(day):
                return day
            day -= timedelta(days=1)
        raise ValueError(f"no contact day within {MAX_CLOSED_RUN} days before {due - timedelta(days=lead_days)}")

    def covered_due_dates(self, day: date, lead_days: int) -> tuple[date, ...]:
        """The due dates whose reminder goes out on ``day``: none on a closed day; on a contact day its own
        T-``lead_days`` and that of every closed day up to the next contact day."""
        if not self.is_contact_day(day):
            return ()
        following = self.next_contact_day(day)
        return tuple(d + timedelta(days=lead_days) for d in _days(day, following))


def _days(start: date, end: date) -> Iterable[date]:
    """start, start + 1, ..., end - 1."""
    for n in range((end - start).days):
        yield start + timedelta(days=n)
