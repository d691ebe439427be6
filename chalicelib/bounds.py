"""The bounds of every input the API accepts; outside them the answer is a 400, never a 500.

- dates: 2000-01-01 .. 2100-12-31 (a business date; ``to + 1 day`` can never overflow);
- integers: at most ``MAX_INT_DIGITS`` digits before any conversion (Python refuses to parse
  more than 4,300 digits; PostgreSQL ``integer`` holds 10);
- cursors: at most ``MAX_CURSOR_CHARS`` characters, so nothing deep or large is ever decoded;
- free text (e.g. ``invoice_id``): at most ``MAX_TEXT_CHARS`` characters.
"""

from __future__ import annotations

from datetime import date

MIN_DATE = date(2000, 1, 1)
MAX_DATE = date(2100, 12, 31)
MAX_INT_DIGITS = 10
MAX_INT = 2**31 - 1
MAX_CURSOR_CHARS = 128
MAX_TEXT_CHARS = 64


def date_in_bounds(day: date) -> bool:
    return MIN_DATE <= day <= MAX_DATE
