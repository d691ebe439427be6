"""The business date a daily job runs for."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from chalicelib.contact_policy.calendar import ContactCalendar
from chalicelib.zones import Zone, local_date


def default_demo_date(now: datetime | None = None, calendar: ContactCalendar | None = None) -> date:
    """A finished day in Asia/Jakarta, so every Wait state is in the past: the most recent contact day
    before today (given the contact calendar), else yesterday."""
    today = local_date(Zone.WIB, now or datetime.now(UTC))
    if calendar is not None:
        return calendar.previous_contact_day(today)
    return today - timedelta(days=1)


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"expected a date as YYYY-MM-DD, got {text!r}") from exc


def add_months(day: date, months: int) -> date:
    """Same day-of-month ``months`` later, clamped to the month's last day."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    next_month = date(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_month - timedelta(days=1)).day
    return date(year, month, min(day.day, last_day))
