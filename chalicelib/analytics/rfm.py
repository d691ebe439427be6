"""RFM scores: named segments per score pattern, and reads for the API and the dashboard.

Scores are computed by the ETL (``sql/rfm.sql``): recency, frequency and monetary are each
scored 1-3 by the quartiles of their own distribution, recency reversed (fewer days since the
last order scores higher). Segment per (r_score, f_score, m_score):

| R | F | M     | segment            | why it matters                         |
|---|---|-------|--------------------|----------------------------------------|
| 3 | 3 | any   | Champions          | recent, frequent: reward, ask reviews  |
| 3 | 2 | 3     | Loyal              | recent, big spenders                   |
| 2 | 3 | any   | Loyal              | buy often, slightly less recent        |
| 3 | 2 | 1, 2  | Potential loyalists| recent, average: upsell                |
| 3 | 1 | any   | New customers      | recent first purchases: onboard        |
| 2 | 2 | any   | Need attention     | middling on both: remind               |
| 2 | 1 | any   | About to sleep     | few orders, fading: reactivate         |
| 1 | 3 | any   | Can't lose them    | used to buy often, gone quiet: win back|
| 1 | 2 | any   | At risk            | fading regulars                        |
| 1 | 1 | any   | Hibernating        | one-off buyers long ago                |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import psycopg2.extensions


def _segment(r: int, f: int, m: int) -> str:
    if r == 3:
        return {3: "Champions", 2: "Loyal" if m == 3 else "Potential loyalists", 1: "New customers"}[f]
    if r == 2:
        return {3: "Loyal", 2: "Need attention", 1: "About to sleep"}[f]
    return {3: "Can't lose them", 2: "At risk", 1: "Hibernating"}[f]


# Every one of the 27 score patterns has exactly one name.
SEGMENTS: dict[tuple[int, int, int], str] = {
    (r, f, m): _segment(r, f, m) for r in (1, 2, 3) for f in (1, 2, 3) for m in (1, 2, 3)
}
# Display order: best first.
SEGMENT_ORDER = ("Champions", "Loyal", "Potential loyalists", "New customers", "Need attention",
                 "About to sleep", "Can't lose them", "At risk", "Hibernating")


def score(value: float, q1: float, q3: float, *, lower_is_better: bool = False) -> int:
    """The 1-3 score of one value (the same rule as sql/rfm.sql, for reference and tests)."""
    raw = 1 if value < q1 else 3 if value > q3 else 2
    return 4 - raw if lower_is_better else raw


@dataclass(frozen=True)
class UserScore:
    user_id: str
    recency: int
    r_score: int
    frequency: int
    f_score: int
    monetary: int
    m_score: int
    total_score: int
    segment: str


@dataclass(frozen=True)
class RfmSummary:
    etl_batch_time: datetime | None
    users: int
    segments: dict[str, int]
    thresholds: dict[str, tuple[Decimal, Decimal]]


LATEST_RUN = "SELECT etl_batch_time FROM analytics_etl_run ORDER BY etl_run_id DESC LIMIT 1"
SEGMENT_COUNTS = "SELECT segment, count(*) FROM rfm_score GROUP BY segment"
THRESHOLDS = "SELECT dimension, q1, q3 FROM rfm_threshold"
USER_SCORES = """
SELECT user_id, recency, r_score, frequency, f_score, monetary, m_score, total_score, segment
FROM rfm_score
WHERE %(segment)s::TEXT IS NULL OR segment = %(segment)s
ORDER BY total_score DESC, user_id
LIMIT %(limit)s OFFSET %(offset)s
"""
COUNT_USERS = "SELECT count(*) FROM rfm_score WHERE %(segment)s::TEXT IS NULL OR segment = %(segment)s"
SCORE_FLOWS = "SELECT r_score, f_score, m_score, segment, count(*) FROM rfm_score GROUP BY 1, 2, 3, 4"


def latest_batch_time(conn: psycopg2.extensions.connection) -> datetime | None:
    with conn.cursor() as cur:
        cur.execute(LATEST_RUN)
        row = cur.fetchone()
    return row[0] if row else None


def summary(conn: psycopg2.extensions.connection) -> RfmSummary:
    with conn.cursor() as cur:
        cur.execute(SEGMENT_COUNTS)
        counts = dict(cur.fetchall())
        cur.execute(THRESHOLDS)
        thresholds = {d: (q1, q3) for d, q1, q3 in cur.fetchall()}
    segments = {name: counts.get(name, 0) for name in SEGMENT_ORDER}
    return RfmSummary(latest_batch_time(conn), sum(segments.values()), segments, thresholds)


def user_scores(conn: psycopg2.extensions.connection, *, limit: int, offset: int,
                segment: str | None = None) -> tuple[int, list[UserScore]]:
    """(matching users, one page of them, best total score first, then user_id)."""
    params = {"segment": segment, "limit": limit, "offset": offset}
    with conn.cursor() as cur:
        cur.execute(COUNT_USERS, params)
        total = cur.fetchone()[0]
        cur.execute(USER_SCORES, params)
        rows = [UserScore(*row) for row in cur.fetchall()]
    return total, rows


def score_flows(conn: psycopg2.extensions.connection) -> list[tuple[int, int, int, str, int]]:
    """(r_score, f_score, m_score, segment, users) for every pattern present: the Sankey's input."""
    with conn.cursor() as cur:
        cur.execute(SCORE_FLOWS)
        return [tuple(row) for row in cur.fetchall()]
