"""RFM scores: the scoring rule, named segments per score pattern, and reads for the API and the dashboard.

Scores are computed in SQL (``sql/rfm_*.sql``): recency, frequency and monetary are each scored
1-3 by the quartiles of their own distribution, recency reversed (fewer days since the last
order scores higher), with the tie rule of ``score`` below. Segment per (r_score, f_score, m_score):

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

The ETL scores everybody into ``rfm_score``; a filtered read (marketplace, shop, region, months)
scores its own population with the same SQL into temporary tables of the request's transaction
(``Population``), so quartiles are those of the filtered buyers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from string import Template

import psycopg2.extensions

from chalicelib import db
from chalicelib.analytics.batch import batch_date, latest_batch_time
from chalicelib.analytics.filters import Filters


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


def slug(segment: str) -> str:
    """URL form of a segment name: ``Can't lose them`` -> ``cant-lose-them``."""
    return re.sub(r"[^a-z0-9]+", "-", segment.lower().replace("'", "")).strip("-")


SEGMENT_BY_SLUG = {slug(name): name for name in SEGMENT_ORDER}


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    """(Q1, Q3) by linear interpolation, as PostgreSQL's ``percentile_cont`` (and pandas)."""
    ordered = sorted(values)

    def at(fraction: float) -> float:
        position = fraction * (len(ordered) - 1)
        low = math.floor(position)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    return at(0.25), at(0.75)


def score(value: float, q1: float, q3: float, lowest: float, highest: float, *,
          lower_is_better: bool = False) -> int:
    """The 1-3 score of one value: the same rule as ``sql/rfm_scores.sql``, for reference and tests.

    The report's rule (below Q1 -> 1, Q1..Q3 -> 2, above Q3 -> 3) with a tie rule at the ends:
    when Q1 equals the smallest value, the users tied at it score 1 (most buyers order once, so
    frequency Q1 = 1 and "below Q1" would be empty); when Q3 equals the largest value, those
    tied at it score 3. Bin 1 is tested first, so with no spread at all everybody is in bin 1.
    ``lower_is_better`` (recency) turns bin b into score 4 - b.
    """
    if value < q1 or (value == q1 == lowest):
        raw = 1
    elif value > q3 or (value == q3 == highest):
        raw = 3
    else:
        raw = 2
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
class SegmentStats:
    segment: str
    users: int
    gmv: int  # rupiah
    user_share: float  # of the population's users, 0..1
    gmv_share: float  # of the population's GMV, 0..1


@dataclass(frozen=True)
class Tier:
    """One fifth of the buyers ranked by GMV (tier 1 = the top 20 %)."""
    tier: int
    users: int
    gmv: int
    gmv_share: float

    @property
    def label(self) -> str:
        return "Top 20%" if self.tier == 1 else f"{(self.tier - 1) * 20}–{self.tier * 20}%"


@dataclass(frozen=True)
class RfmSummary:
    etl_batch_time: datetime | None
    users: int
    gmv: int
    segments: dict[str, SegmentStats]
    thresholds: dict[str, tuple[Decimal, Decimal]]
    tiers: list[Tier]

    @property
    def as_of(self) -> date | None:
        return batch_date(self.etl_batch_time) if self.etl_batch_time else None

    @property
    def top_20_gmv_share(self) -> float:
        """Share of GMV brought by the top 20 % of buyers (the report's 80/20 view)."""
        return self.tiers[0].gmv_share if self.tiers else 0.0


SQL_DIR = Path(__file__).with_name("sql")
_RAW = Template((SQL_DIR / "rfm_raw.sql").read_text())
_THRESHOLDS = Template((SQL_DIR / "rfm_thresholds.sql").read_text())
_SCORES = Template((SQL_DIR / "rfm_scores.sql").read_text())
SCORE_COLUMNS = "user_id, recency, r_score, frequency, f_score, monetary, m_score, total_score, segment, etl_batch_time"

# The ETL scores everybody from analytics_user_total (one narrow row per user, kept by the ETL:
# etl.py); a filtered read needs months, so it aggregates aggregated_monthly into a temporary table
# (sql/rfm_raw.sql). Same inputs either way. ${where}: which users (module constants below).
STORED_RAW = Template("""(
    SELECT user_id, greatest(0, %(as_of)s::date - last_order_date) AS recency, frequency, monetary
    FROM analytics_user_total ${where}
)""")
EVERYBODY = STORED_RAW.substitute(where="")
# The ETL's scores go into rfm_score in place: every row updated (recency moves for everybody each
# day), the users no longer scored deleted, the new ones inserted. An update that keeps user_id,
# total_score and segment (most users, most days) is heap-only (fillfactor 50, migration 0412): no
# index of rfm_score is touched, where deleting and re-inserting everybody rewrote all three.
# The scores are computed inside the update (no temporary table to write and analyze first).
# A user starts or stops being scored only when one of their groups changed, so an incremental
# run (``changed_users``: the users of its etl_scope) looks for those among them only (EXCEPT
# hashes those few thousand, where an anti join hashed all of analytics_user_total).
# Readers see the previous scores until the ETL's transaction commits, as before.
_MERGE_STORED = Template("""
UPDATE rfm_score r
SET recency = n.recency, r_score = n.r_score, frequency = n.frequency, f_score = n.f_score,
    monetary = n.monetary, m_score = n.m_score, total_score = n.total_score, segment = n.segment,
    etl_batch_time = n.etl_batch_time
FROM (${everybody_scores}) n
WHERE n.user_id = r.user_id;
DELETE FROM rfm_score r WHERE ${gone};
INSERT INTO rfm_score (${columns})
SELECT * FROM (${new_scores}) n
ORDER BY n.user_id;
""")
CHANGED_USERS = "SELECT user_id FROM etl_scope"


def _score_stored(changed_users: str | None) -> str:
    new_users = STORED_RAW.substitute(
        where="u WHERE " + (f"u.user_id IN ({changed_users}) AND " if changed_users else "")
        + "NOT EXISTS (SELECT FROM rfm_score r WHERE r.user_id = u.user_id)")
    merge = _MERGE_STORED.substitute(
        everybody_scores=_SCORES.substitute(raw=EVERYBODY, thresholds="rfm_threshold"),
        new_scores=_SCORES.substitute(raw=new_users, thresholds="rfm_threshold"),
        gone=(f"r.user_id IN ({changed_users} EXCEPT SELECT user_id FROM analytics_user_total)" if changed_users
              else "NOT EXISTS (SELECT FROM analytics_user_total n WHERE n.user_id = r.user_id)"),
        columns=SCORE_COLUMNS)
    return _THRESHOLDS.substitute(raw=EVERYBODY, thresholds="rfm_threshold") + ";\n" + merge


SCORE_STORED = {"everybody": _score_stored(None), "changed": _score_stored(CHANGED_USERS)}
SCORE_LIVE = f"""
CREATE TEMP TABLE rfm_live_threshold (LIKE rfm_threshold) ON COMMIT DROP;
CREATE TEMP TABLE rfm_live_score (LIKE rfm_score) ON COMMIT DROP;
{_RAW.substitute(raw="rfm_live_raw")};
{_THRESHOLDS.substitute(raw="rfm_live_raw", thresholds="rfm_live_threshold")};
INSERT INTO rfm_live_score ({SCORE_COLUMNS})
{_SCORES.substitute(raw="rfm_live_raw", thresholds="rfm_live_threshold")};
ANALYZE rfm_live_score;
"""


def _reads(scores: str, thresholds: str) -> dict[str, str]:
    return {
        "segments": f"SELECT segment, count(*), coalesce(sum(monetary), 0) FROM {scores} GROUP BY segment",
        "thresholds": f"SELECT dimension, q1, q3 FROM {thresholds}",
        "tiers": f"""SELECT tier, count(*), sum(monetary) FROM (
                         SELECT monetary, ntile(5) OVER (ORDER BY monetary DESC, user_id) AS tier FROM {scores}
                     ) t GROUP BY tier ORDER BY tier""",
        "users": f"""SELECT user_id, recency, r_score, frequency, f_score, monetary, m_score, total_score, segment
                     FROM {scores}
                     WHERE %(segment)s::TEXT IS NULL OR segment = %(segment)s
                     ORDER BY total_score DESC, user_id
                     LIMIT %(limit)s OFFSET %(offset)s""",
        "count": f"SELECT count(*) FROM {scores} WHERE %(segment)s::TEXT IS NULL OR segment = %(segment)s",
        "flows": f"SELECT r_score, f_score, m_score, segment, count(*) FROM {scores} GROUP BY 1, 2, 3, 4",
    }


READS = {"stored": _reads("rfm_score", "rfm_threshold"), "live": _reads("rfm_live_score", "rfm_live_threshold")}


def _segment_params() -> dict[str, list[str]]:
    """The segment names by pattern: (r, f, m) is at SQL array index (r - 1) * 9 + (f - 1) * 3 + m."""
    return {"segments": [SEGMENTS[(r, f, m)] for r in (1, 2, 3) for f in (1, 2, 3) for m in (1, 2, 3)]}


def score_population(cur: psycopg2.extensions.cursor, as_of: date, etl_batch_time: datetime, filters: Filters,
                     *, stored: bool, incremental: bool = False) -> None:
    """Score the buyers the filters keep: into rfm_threshold (emptied first) and rfm_score, updated in
    place (``stored``, the ETL; ``incremental``: only users of the run's etl_scope can join or leave
    it), or into this transaction's temporary rfm_live_* tables."""
    params = {"as_of": as_of, "etl_batch_time": etl_batch_time, **filters.params(), **_segment_params()}
    if stored:
        cur.execute(SCORE_STORED["changed" if incremental else "everybody"], params)
    else:
        cur.execute(SCORE_LIVE, params)


@dataclass(frozen=True)
class Population:
    """The scored buyers a read looks at: everybody (the ETL's tables) or a filtered set."""
    etl_batch_time: datetime | None
    filters: Filters
    reads: dict[str, str]


def population(conn: psycopg2.extensions.connection, filters: Filters) -> Population:
    """Everybody, or the filtered buyers scored now in temporary tables (dropped at the end of the
    request's transaction). Before the first ETL run there is nobody."""
    batch_time = latest_batch_time(conn)
    if not filters.active or batch_time is None:
        return Population(batch_time, filters, READS["stored"])
    with conn.cursor() as cur:
        score_population(cur, batch_date(batch_time), batch_time, filters, stored=False)
    return Population(batch_time, filters, READS["live"])


def summary(conn: psycopg2.extensions.connection, people: Population | None = None) -> RfmSummary:
    people = people or population(conn, Filters())
    with conn.cursor() as cur:
        cur.execute(people.reads["segments"])
        counts = {name: (users, int(gmv)) for name, users, gmv in cur.fetchall()}
        cur.execute(people.reads["thresholds"])
        thresholds = {d: (q1, q3) for d, q1, q3 in cur.fetchall()}
        cur.execute(people.reads["tiers"])
        tier_rows = cur.fetchall()
    users = sum(n for n, _ in counts.values())
    gmv = sum(g for _, g in counts.values())
    segments = {}
    for name in SEGMENT_ORDER:
        n, g = counts.get(name, (0, 0))
        segments[name] = SegmentStats(name, n, g, n / users if users else 0.0, g / gmv if gmv else 0.0)
    tiers = [Tier(t, n, int(g), int(g) / gmv if gmv else 0.0) for t, n, g in tier_rows]
    return RfmSummary(people.etl_batch_time, users, gmv, segments, thresholds, tiers)


def user_scores(conn: psycopg2.extensions.connection, *, limit: int, offset: int, segment: str | None = None,
                people: Population | None = None) -> tuple[int, list[UserScore]]:
    """(matching users, one page of them, best total score first, then user_id)."""
    people = people or population(conn, Filters())
    params = {"segment": segment, "limit": limit, "offset": offset}
    with conn.cursor() as cur:
        cur.execute(people.reads["count"], params)
        total = db.one(cur)[0]
        cur.execute(people.reads["users"], params)
        rows = [UserScore(*row) for row in cur.fetchall()]
    return total, rows


def score_flows(conn: psycopg2.extensions.connection,
                people: Population | None = None) -> list[tuple[int, int, int, str, int]]:
    """(r_score, f_score, m_score, segment, users) for every pattern present: the Sankey's input."""
    people = people or population(conn, Filters())
    with conn.cursor() as cur:
        cur.execute(people.reads["flows"])
        return [(r, f, m, segment, n) for r, f, m, segment, n in cur.fetchall()]
