"""CSV export of scored users (a segment's drill-down)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import astuple, fields

from chalicelib.analytics.rfm import UserScore

COLUMNS = tuple(f.name for f in fields(UserScore))
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    # a text cell a spreadsheet would run as a formula is quoted (CSV injection)
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def users_csv(users: Sequence[UserScore]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows([_cell(v) for v in astuple(u)] for u in users)
    return out.getvalue()
