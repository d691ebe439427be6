"""Cohort retention: the matrix the ETL stored in ``cohort_retention``, or one computed now for filters.

The month of the batch date is still running when the ETL reads it (``partial_month``): its
column is shown as partial, never as a drop in retention.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from string import Template

import psycopg2.extensions

from chalicelib.analytics.filters import Filters

_COHORT = Template((Path(__file__).with_name("sql") / "cohort.sql").read_text())
# Each active (user, month) with the user's first active month: the ETL keeps everybody's in
# analytics_active_month (etl.py); a filtered request finds them among the groups the filters keep,
# one pass per user (a window over the user's active months, partitioned bytewise: only equality
# matters there).
STORED_FIRSTS = "SELECT month_of_order, cohort_month FROM analytics_active_month"
FILTERED_FIRSTS = """
    SELECT month_of_order, min(month_of_order) OVER (PARTITION BY user_id COLLATE "C") AS cohort_month
    FROM (
        SELECT user_id, month_of_order
        FROM aggregated_monthly
        WHERE total_order > 0
          AND (%(marketplace)s::TEXT IS NULL OR marketplace = %(marketplace)s)
          AND (%(shop)s::TEXT IS NULL OR shop_id = %(shop)s)
          AND (%(region)s::TEXT IS NULL OR magpie_region_code = %(region)s)
          AND (%(month_to)s::TEXT IS NULL OR month_of_order <= %(month_to)s)
        GROUP BY user_id, month_of_order
    ) pairs
"""
COHORT_SELECT = _COHORT.substitute(firsts=FILTERED_FIRSTS)
STORE_COHORTS = ("INSERT INTO cohort_retention (cohort_month, month_offset, cohort_size, active_users)\n"
                 + _COHORT.substitute(firsts=STORED_FIRSTS))
STORED_ROWS = """
SELECT cohort_month, cohort_size, month_offset, active_users
FROM cohort_retention
ORDER BY cohort_month, month_offset
"""
LIVE_ROWS = f"SELECT cohort_month, cohort_size, month_offset, active_users FROM ({COHORT_SELECT}) c ORDER BY 1, 3"


@dataclass(frozen=True)
class Cohort:
    cohort_month: str  # YYYY-MM (WIB) of the users' first valid order
    cohort_size: int
    active_users: list[int]  # index = months since the cohort month; 0 where nobody ordered

    @property
    def retention(self) -> list[float]:
        return [round(n / self.cohort_size, 4) for n in self.active_users]

    def month_at(self, offset: int) -> str:
        """The calendar month (YYYY-MM) of a column of this row."""
        year, month = divmod(_index(self.cohort_month) + offset - 1, 12)
        return f"{year:04d}-{month + 1:02d}"


def partial_month(as_of: date | None, filters: Filters | None = None) -> str | None:
    """The month still running at the batch date (its data stops there); None when the matrix
    stops earlier (a ``to`` month before it)."""
    month = f"{as_of:%Y-%m}" if as_of else None
    if month is None or (filters is not None and filters.month_to is not None and filters.month_to < month):
        return None
    return month


def cohort_matrix(conn: psycopg2.extensions.connection, filters: Filters | None = None) -> list[Cohort]:
    """Cohorts oldest first; each row padded with zeros up to the latest month seen."""
    with conn.cursor() as cur:
        if filters is None or not filters.active:
            cur.execute(STORED_ROWS)
        else:
            cur.execute(LIVE_ROWS, filters.params())
        rows = cur.fetchall()
    by_month: dict[str, tuple[int, dict[int, int]]] = {}
    for month, size, offset, active in rows:
        by_month.setdefault(month, (size, {}))[1][offset] = active
    if not by_month:
        return []
    last = max(_index(m) + max(offsets) for m, (_s, offsets) in by_month.items())
    return [
        Cohort(month, size, [offsets.get(i, 0) for i in range(last - _index(month) + 1)])
        for month, (size, offsets) in by_month.items()
    ]


def _index(month: str) -> int:
    return int(month[:4]) * 12 + int(month[5:7])
