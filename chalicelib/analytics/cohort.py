"""Cohort retention reads: the matrix the ETL stored in ``cohort_retention``."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg2.extensions

COHORT_ROWS = """
SELECT cohort_month, cohort_size, month_offset, active_users
FROM cohort_retention
ORDER BY cohort_month, month_offset
"""


@dataclass(frozen=True)
class Cohort:
    cohort_month: str  # YYYY-MM (WIB) of the users' first valid order
    cohort_size: int
    active_users: list[int]  # index = months since the cohort month; 0 where nobody ordered

    @property
    def retention(self) -> list[float]:
        return [round(n / self.cohort_size, 4) for n in self.active_users]


def cohort_matrix(conn: psycopg2.extensions.connection) -> list[Cohort]:
    """Cohorts oldest first; each row padded with zeros up to the latest month seen."""
    with conn.cursor() as cur:
        cur.execute(COHORT_ROWS)
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
