"""Rupiah GMV = amount x kurs_rate, line by line, before anything is summed."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.analytics import rfm
from chalicelib.analytics.etl import run_etl
from localdev.datagen import orders as demo_orders
from tests.analytics_orders import WIB, add_line, direct_aggregation, table_rows
from tests.conftest import truncate_all

BATCH = datetime(2026, 3, 31, 18, tzinfo=UTC)
RATES = (1, 2_250, 12_100, 16_000)


def test_a_foreign_currency_line_counts_in_rupiah(conn):
    # an SGD order (10 + 1 SGD at 12,100, shipping 2 SGD), a rupiah order, a cancelled USD order
    add_line(conn, order_id="X1", at=datetime(2026, 3, 3, 10, tzinfo=WIB), gmv=10, kurs_rate=12_100, fee=2)
    add_line(conn, order_id="X1", at=datetime(2026, 3, 3, 10, tzinfo=WIB), gmv=1, product="P2", fee=2,
             kurs_rate=12_100)
    add_line(conn, order_id="X3", at=datetime(2026, 3, 5, 10, tzinfo=WIB), gmv=5_000)
    add_line(conn, order_id="X2", at=datetime(2026, 3, 4, 10, tzinfo=WIB), gmv=7, kurs_rate=16_000, cancelled=True)
    conn.commit()
    run_etl(conn, BATCH)
    with conn.cursor() as cur:
        cur.execute("SELECT total_gmv_amount, kurs_rate, max_shipping_amount, total_cancelled FROM final_user_analysis")
        assert cur.fetchone() == (133_100 + 5_000, 16_000, 24_200, 1)  # kurs_rate: the group's highest
    assert rfm.summary(conn).gmv == 138_100


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 5_000), st.sampled_from(RATES),
                                st.integers(1, 28), st.booleans()), min_size=1, max_size=30))
def test_mixed_rate_groups_sum_converted_lines(conn, lines):
    truncate_all(conn)
    for n, (user, amount, rate, day, cancelled) in enumerate(lines):
        add_line(conn, order_id=f"o{n}", user_id=f"u{user}", gmv=amount, kurs_rate=rate, cancelled=cancelled,
                 at=datetime(2026, 1 + n % 3, day, 12, tzinfo=WIB), fee=n % 4)
    conn.commit()
    run_etl(conn, BATCH)
    assert table_rows(conn, "aggregated_monthly", True) == direct_aggregation(conn, monthly=True)
    expected = {}
    for user, amount, rate, _day, cancelled in lines:
        if not cancelled:
            expected[f"u{user}"] = expected.get(f"u{user}", 0) + amount * rate
    with conn.cursor() as cur:
        cur.execute("SELECT user_id, monetary FROM rfm_score")
        assert dict(cur.fetchall()) == expected


def test_the_generator_writes_cross_border_lines(conn):
    demo_orders.load(conn, 5_000, seed=3, as_of=date(2026, 3, 31))
    with conn.cursor() as cur:
        cur.execute("SELECT kurs_rate, count(*) FROM flatten_order_marketplace GROUP BY 1 ORDER BY 1")
        rates = dict(cur.fetchall())
    assert set(rates) == {1, 2_250, 12_100}
    assert 0.01 < (rates[2_250] + rates[12_100]) / sum(rates.values()) < 0.2
