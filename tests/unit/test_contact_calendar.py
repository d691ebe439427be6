"""The contact calendar against its sources, not against our own assumptions.

- POJK 22/2023 Pasal 62 ayat (2) huruf f: collection contact only Monday to Saturday, not on national
  holidays;
- the ``holidays`` library (pinned in requirements.txt): Indonesia's national holidays, Islamic ones
  included, and (category ``government``) the decreed cuti bersama the migration seeds;
- the SKB 3 Menteri 2026 (as the library carries it): Lebaran 1447 H closes 18-24 March 2026.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import holidays
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.contact_policy import ContactCalendar, DecreedDay, DecreedKind, Reason

MIGRATION = Path(__file__).resolve().parents[2] / "chalicelib" / "migrations" / "0500_contact_calendar.sql"
LEAD = 3


def seeded_days() -> list[DecreedDay]:
    """The rows the migration seeds (parsed from its SQL: no database needed)."""
    rows = re.findall(r"\('(\d{4}-\d{2}-\d{2})', '(\w+)', '([^']+)', '([^']+)'\)", MIGRATION.read_text())
    return [DecreedDay(date.fromisoformat(d), DecreedKind(k), n, s) for d, k, n, s in rows]


SEEDED = ContactCalendar(seeded_days())


def test_the_seeded_cuti_bersama_are_the_decreed_ones_the_library_carries() -> None:
    """Source: holidays' Indonesia calendar, category government (the SKB's cuti bersama), 2025-2027."""
    library = {d: n for y in (2025, 2026, 2027) for d, n in
               holidays.country_holidays("ID", years=y, categories=("government",), language="id").items()}
    seeded = {row.day: row.name for row in seeded_days()}
    assert seeded == library
    assert all(row.kind is DecreedKind.CUTI_BERSAMA and "holidays 0.108" in row.source for row in seeded_days())


def test_holidays_library_is_the_pinned_version() -> None:
    """The seed's source notes name the library version; a new version must be checked against the SKB."""
    pinned = re.search(r"^holidays==(\S+)$", (MIGRATION.parents[2] / "requirements.txt").read_text(), re.M)
    assert pinned is not None and pinned.group(1) == holidays.__version__ == "0.108"


@given(st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 12, 31)))
def test_a_day_is_a_contact_day_exactly_when_the_sources_allow_it(day: date) -> None:
    """POJK 22/2023 Pasal 62 (2) f: Monday to Saturday, not a national holiday (holidays library), not a
    decreed cuti bersama day."""
    national = day in holidays.country_holidays("ID", years=day.year, categories=("public",))
    cuti = day in holidays.country_holidays("ID", years=day.year, categories=("government",)) and day.year >= 2025
    expected_open = day.isoweekday() != 7 and not national and not (cuti and day.year <= 2027)
    assert SEEDED.is_contact_day(day) is expected_open


def test_sundays_fixed_and_islamic_holidays_and_cuti_bersama_are_closed_with_their_names() -> None:
    assert str(SEEDED.closed(date(2026, 12, 6))) == "sunday"           # the default demo day of the bug report
    assert SEEDED.closed(date(2026, 8, 17)) is not None
    assert str(SEEDED.closed(date(2026, 8, 17))) == "national_holiday: Hari Kemerdekaan Republik Indonesia"
    assert SEEDED.closed(date(2026, 12, 25)).reason is Reason.NATIONAL_HOLIDAY  # Hari Raya Natal
    assert "Idul Fitri" in SEEDED.closed(date(2026, 3, 21)).name              # 1 Syawal 1447 H (Saturday)
    assert "Idul Adha" in SEEDED.closed(date(2026, 5, 27)).name               # 10 Dzulhijjah 1447 H
    assert SEEDED.closed(date(2026, 12, 24)).reason is Reason.CUTI_BERSAMA     # from the table ...
    assert ContactCalendar().is_contact_day(date(2026, 12, 24))               # ... not from the library
    assert SEEDED.is_contact_day(date(2026, 8, 15))                           # a Saturday is a contact day


def test_a_correction_in_the_table_moves_a_holiday() -> None:
    """The SKB can move a holiday: the table reopens the library's date and closes the new one."""
    moved = ContactCalendar([
        DecreedDay(date(2026, 5, 27), DecreedKind.CONTACT_DAY, "Idul Adha moved", "SKB (example)"),
        DecreedDay(date(2026, 5, 26), DecreedKind.HOLIDAY, "Hari Raya Idul Adha", "SKB (example)"),
    ])
    assert moved.is_contact_day(date(2026, 5, 27))
    assert moved.closed(date(2026, 5, 26)).reason is Reason.NATIONAL_HOLIDAY
    sunday = ContactCalendar([DecreedDay(date(2026, 3, 22), DecreedKind.CONTACT_DAY, "x", "y")])
    assert str(sunday.closed(date(2026, 3, 22))) == "sunday"  # a correction never opens a Sunday


def test_the_saturday_before_independence_day_covers_the_sunday_and_the_holiday_monday() -> None:
    """Shift, don't drop: T-3 of 2026-08-19 is Sunday 16, of 2026-08-20 is Monday 17 (a holiday)."""
    assert SEEDED.covered_due_dates(date(2026, 8, 15), LEAD) == (date(2026, 8, 18), date(2026, 8, 19),
                                                                  date(2026, 8, 20))
    assert SEEDED.covered_due_dates(date(2026, 8, 16), LEAD) == ()
    assert SEEDED.covered_due_dates(date(2026, 8, 17), LEAD) == ()
    assert SEEDED.covered_due_dates(date(2026, 8, 18), LEAD) == (date(2026, 8, 21),)


def test_lebaran_week_2026_moves_eight_due_dates_onto_the_tuesday_before_it() -> None:
    """SKB 2026: cuti bersama 18, 20, 23, 24 March; Nyepi 19; Idul Fitri 21-22 (Saturday, Sunday)."""
    closed = [date(2026, 3, d) for d in range(18, 25)]
    assert all(not SEEDED.is_contact_day(d) for d in closed)
    covered = SEEDED.covered_due_dates(date(2026, 3, 17), LEAD)
    assert covered == tuple(date(2026, 3, d) for d in range(20, 28))  # 20 .. 27 March
    assert all(SEEDED.reminder_day(d, LEAD) == date(2026, 3, 17) for d in covered)
    assert SEEDED.covered_due_dates(date(2026, 3, 25), LEAD) == (date(2026, 3, 28),)


@given(st.dates(min_value=date(2025, 1, 10), max_value=date(2027, 12, 20)))
def test_every_due_date_is_reminded_exactly_once_never_after_its_t3(due: date) -> None:
    day = SEEDED.reminder_day(due, LEAD)
    assert SEEDED.is_contact_day(day) and day <= due - timedelta(days=LEAD)
    assert due in SEEDED.covered_due_dates(day, LEAD)
    others = [d for d in (day - timedelta(days=n) for n in range(1, 15)) if due in SEEDED.covered_due_dates(d, LEAD)]
    later = [d for d in (day + timedelta(days=n) for n in range(1, 15)) if due in SEEDED.covered_due_dates(d, LEAD)]
    assert others == [] and later == []


def test_a_calendar_with_no_contact_day_for_weeks_is_refused() -> None:
    shut = ContactCalendar(DecreedDay(date(2026, 1, 1) + timedelta(days=n), DecreedKind.CUTI_BERSAMA, "x", "y")
                           for n in range(60))
    with pytest.raises(ValueError, match="check the calendar"):
        shut.covered_due_dates(date(2025, 12, 31), LEAD)
