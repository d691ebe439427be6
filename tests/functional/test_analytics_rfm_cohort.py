"""RFM scores at the quartile boundaries, tiny populations, segments; the cohort matrix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.analytics import cohort, rfm
from chalicelib.analytics.etl import run_etl
from tests.analytics_orders import WIB, add_line

BATCH = datetime(2026, 5, 1, 18, 0, tzinfo=UTC)  # as of 2 May 2026 (WIB)
AS_OF = datetime(2026, 5, 2, 12, 0, tzinfo=WIB)


def scores(conn) -> dict[str, tuple]:
    with conn.cursor() as cur:
        cur.execute("SELECT user_id, recency, r_score, frequency, f_score, monetary, m_score, total_score, segment "
                    "FROM rfm_score")
        return {r[0]: r[1:] for r in cur.fetchall()}


def test_scores_at_the_quartile_boundaries(conn):
    # user k has k orders, the last one (40 - 10k) days before the batch date, and (6 - k) * 100,000 GMV:
    # recency 30,20,10,0,... -> Q1 = 10, Q3 = 30; frequency 1..5 -> Q1 = 2, Q3 = 4;
    # monetary 500k..100k -> Q1 = 200k, Q3 = 400k. Values equal to a quartile score 2.
    for k in range(1, 6):
        gmv_each = (6 - k) * 100_000 // k
        for i in range(k):
            add_line(conn, order_id=f"k{k}-{i}", user_id=f"user{k}", gmv=gmv_each,
                     at=AS_OF - timedelta(days=50 - 10 * k + 7 * i))
    conn.commit()
    run_etl(conn, BATCH)
    assert scores(conn) == {
        "user1": (40, 1, 1, 1, 500_000, 3, 5, "Hibernating"),
        "user2": (30, 2, 2, 2, 400_000, 2, 6, "Need attention"),
        "user3": (20, 2, 3, 2, 300_000, 2, 6, "Need attention"),
        "user4": (10, 2, 4, 2, 200_000, 2, 6, "Need attention"),
        "user5": (0, 3, 5, 3, 100_000, 1, 7, "Champions"),
    }
    summary = rfm.summary(conn)
    assert summary.thresholds == {"recency": (Decimal(10), Decimal(30)), "frequency": (Decimal(2), Decimal(4)),
                                  "monetary": (Decimal(200_000), Decimal(400_000))}
    assert summary.users == 5 and summary.segments["Need attention"].users == 3 and summary.etl_batch_time == BATCH


def test_recency_counts_wib_days_and_cancelled_only_users_are_not_scored(conn):
    # 23:30 WIB on 1 May is 16:30 UTC: one day before the batch date 2 May, whatever UTC says
    add_line(conn, order_id="a", user_id="late", gmv=1_000, at=datetime(2026, 5, 1, 23, 30, tzinfo=WIB))
    add_line(conn, order_id="b", user_id="gone", gmv=1_000, at=datetime(2026, 4, 1, 9, tzinfo=WIB), cancelled=True)
    conn.commit()
    run_etl(conn, BATCH)
    # a single user: Q1 = Q3 = min = max, the tie rule puts them in bin 1 everywhere: recent, one order
    assert scores(conn) == {"late": (1, 3, 1, 1, 1_000, 1, 5, "New customers")}


def test_users_tied_at_an_end_of_the_range_take_that_end(conn):
    for u in range(8):
        add_line(conn, order_id=f"o{u}", user_id=f"u{u}", gmv=50_000, at=AS_OF - timedelta(days=3))
    add_line(conn, order_id="extra", user_id="u7", gmv=50_000, at=AS_OF - timedelta(days=1))
    conn.commit()
    run_etl(conn, BATCH)
    got = scores(conn)
    # recency: Q1 = Q3 = 3 = the largest -> bin 3 (R1); frequency and monetary: Q1 = the smallest -> 1
    assert {got[f"u{u}"][1:6:2] for u in range(7)} == {(1, 1, 1)}
    assert {got[f"u{u}"][7] for u in range(7)} == {"Hibernating"}
    assert got["u7"][1:6:2] == (3, 3, 3)  # recency 1 < Q1 = 3, frequency 2 > Q3 = 1, monetary above Q3


def test_every_score_pattern_has_one_named_segment():
    assert len(rfm.SEGMENTS) == 27
    assert set(rfm.SEGMENTS.values()) == set(rfm.SEGMENT_ORDER)
    assert rfm.SEGMENTS[(3, 3, 1)] == "Champions" and rfm.SEGMENTS[(1, 1, 1)] == "Hibernating"


@given(value=st.integers(-1000, 1000), q1=st.integers(-1000, 1000), width=st.integers(0, 500))
def test_score_rule_off_the_ends_is_the_reports(value, q1, width):
    q3 = q1 + width
    s = rfm.score(value, q1, q3, q1 - 1, q3 + 1)  # quartiles strictly inside the range
    assert s == (1 if value < q1 else 3 if value > q3 else 2)
    assert rfm.score(value, q1, q3, q1 - 1, q3 + 1, lower_is_better=True) == 4 - s


def test_cohort_matrix(conn):
    def order(user: str, month: int, day: int = 10, cancelled: bool = False) -> None:
        add_line(conn, order_id=f"{user}-{month}-{day}", user_id=user, gmv=10_000,
                 at=datetime(2026, month, day, 12, tzinfo=WIB), cancelled=cancelled)

    for m in (1, 2, 4):
        order("A", m)
    order("A", 4, day=20)  # twice in April: still one active user
    order("B", 1)
    order("C", 2)
    order("C", 3)
    order("C", 1, cancelled=True)  # a cancelled order does not start a cohort
    order("D", 3, cancelled=True)  # nor make anyone active
    # another shop of user A's (another customer key): still the same user in the cohort
    add_line(conn, order_id="A-x", user_id="A", shop_id="shop-2", gmv=1, at=datetime(2026, 3, 1, 9, tzinfo=WIB))
    conn.commit()
    run_etl(conn, BATCH)
    matrix = cohort.cohort_matrix(conn)
    assert [(c.cohort_month, c.cohort_size, c.active_users) for c in matrix] == [
        ("2026-01", 2, [2, 1, 1, 1]),
        ("2026-02", 1, [1, 1, 0]),
    ]
    assert matrix[0].retention == [1.0, 0.5, 0.5, 0.5]


def test_no_orders_no_scores_no_thresholds(conn):
    add_line(conn, order_id="c", user_id="only-cancelled", gmv=5_000, at=AS_OF, cancelled=True)
    conn.commit()
    result = run_etl(conn, BATCH)
    assert result.users_scored == 0
    assert scores(conn) == {} and rfm.summary(conn).thresholds == {} and cohort.cohort_matrix(conn) == []
