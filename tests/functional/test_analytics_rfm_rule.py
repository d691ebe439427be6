"""The ETL's RFM scores follow the documented tie rule on any population, and on generated
real-shaped data every segment the data supports is filled while one-order buyers stay out of
Loyal and Champions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.analytics import rfm
from chalicelib.analytics.etl import run_etl
from localdev.datagen import orders as demo_orders
from tests.analytics_orders import WIB, add_line
from tests.conftest import truncate_all

BATCH = datetime(2026, 5, 1, 18, tzinfo=UTC)  # as of 2 May 2026 (WIB)
AS_OF = datetime(2026, 5, 2, 12, tzinfo=WIB)

buyer = st.tuples(st.integers(1, 6), st.integers(0, 90), st.integers(1, 40))  # orders, days ago, GMV / 1000


def stored_scores(conn) -> dict[str, tuple[int, int, int, int, int, int, str]]:
    with conn.cursor() as cur:
        cur.execute("SELECT user_id, recency, frequency, monetary, r_score, f_score, m_score, segment FROM rfm_score")
        return {r[0]: r[1:] for r in cur.fetchall()}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(buyers=st.lists(buyer, min_size=1, max_size=25))
def test_sql_scores_follow_the_rule(conn, buyers):
    truncate_all(conn)
    for u, (orders, days_ago, gmv) in enumerate(buyers):
        for i in range(orders):
            add_line(conn, order_id=f"u{u}-{i}", user_id=f"u{u}", gmv=gmv * 1_000,
                     at=AS_OF - timedelta(days=days_ago + 3 * i))
    conn.commit()
    run_etl(conn, BATCH)
    got = stored_scores(conn)
    values = {f"u{u}": (days_ago, orders, gmv * 1_000 * orders) for u, (orders, days_ago, gmv) in enumerate(buyers)}
    expected = {}
    for dim, lower_is_better in ((0, True), (1, False), (2, False)):
        column = [v[dim] for v in values.values()]
        q1, q3 = rfm.quartiles(column)
        for user, v in values.items():
            expected.setdefault(user, []).append(
                rfm.score(v[dim], q1, q3, min(column), max(column), lower_is_better=lower_is_better))
    assert {u: g[3:6] for u, g in got.items()} == {u: tuple(s) for u, s in expected.items()}
    for user, (_recency, frequency, _m, r, f, m, segment) in got.items():
        assert segment == rfm.SEGMENTS[(r, f, m)]
        if frequency == 1:
            assert segment in ("New customers", "About to sleep", "Hibernating"), user


def test_generated_orders_fill_the_one_time_buyer_segments(conn):
    demo_orders.load(conn, 20_000, seed=7, as_of=date(2026, 5, 1))
    run_etl(conn, BATCH)
    summary = rfm.summary(conn)
    assert {name for name, s in summary.segments.items() if s.users == 0} == set()
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM rfm_score WHERE frequency = 1 AND segment NOT IN "
                    "('New customers', 'About to sleep', 'Hibernating')")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM rfm_score WHERE frequency = 1")
        assert cur.fetchone()[0] > summary.users / 3  # most buyers ordered once
