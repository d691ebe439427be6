"""Indonesian formatting shared by reminders, emails, calendars and reports.

- ``thousands(1250000)`` -> ``1.250.000`` (a dot groups thousands; rupiah have no decimals);
- ``format_rupiah(1250000)`` -> ``Rp 1.250.000``;
- ``long_date(date(2026, 12, 1))`` -> ``1 Desember 2026``;
- ``listed(["A", "B", "C"])`` -> ``A, B dan C``.
"""

from __future__ import annotations

from datetime import date

MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
          "September", "Oktober", "November", "Desember")


def thousands(amount: int) -> str:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"rupiah amounts are integers, got {type(amount).__name__}")
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount):,}".replace(",", ".")


def format_rupiah(amount: int) -> str:
    text = thousands(amount)
    return f"-Rp {text[1:]}" if text.startswith("-") else f"Rp {text}"


def long_date(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def listed(items: list[str]) -> str:
    """Items as Indonesian prose: ``A``, ``A dan B``, ``A, B dan C``."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} dan {items[-1]}"
