"""CSV export of scored users (a segment's drill-down)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import astuple, fields

from chalicelib.analytics.rfm import UserScore
from chalicelib.csv_cells import safe_row

COLUMNS = tuple(f.name for f in fields(UserScore))


def users_csv(users: Sequence[UserScore]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(safe_row(astuple(u)) for u in users)
    return out.getvalue()
