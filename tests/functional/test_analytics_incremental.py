"""The daily incremental ETL gives exactly what a full rebuild gives, for random change sets."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.analytics import cohort
from chalicelib.analytics.etl import run_etl
from chalicelib.analytics.filters import Filters
from localdev.datagen import orders as demo_orders
from tests.analytics_orders import WIB, add_line, direct_aggregation, table_rows
from tests.conftest import truncate_all

AS_OF = date(2026, 3, 31)
BATCH_1 = datetime(2026, 3, 31, 18, tzinfo=UTC)
BATCH_2 = datetime(2026, 4, 1, 18, tzinfo=UTC)
DERIVED = {
    "rfm_score": "SELECT user_id, recency, r_score, frequency, f_score, monetary, m_score, segment FROM rfm_score",
    "rfm_threshold": "SELECT dimension, q1, q3, min_value, max_value FROM rfm_threshold",
    "cohort_retention": "SELECT cohort_month, month_offset, cohort_size, active_users FROM cohort_retention",
}

change = st.one_of(
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.integers(0, 120), st.integers(1, 500_000)),
    st.tuples(st.just("cancel"), st.integers(0, 10**6)),
    st.tuples(st.just("return"), st.integers(0, 10**6)),
    st.tuples(st.just("gmv"), st.integers(0, 10**6), st.integers(0, 500_000)),
    st.tuples(st.just("move_month"), st.integers(0, 10**6), st.integers(-60, 60)),
    st.tuples(st.just("move_user"), st.integers(0, 10**6)),
    st.tuples(st.just("delete"), st.integers(0, 10**6)),
    st.tuples(st.just("address"), st.integers(0, 10**6)),
    st.tuples(st.just("uncancel"), st.integers(0, 10**6)),
    st.tuples(st.just("kurs"), st.integers(0, 10**6), st.sampled_from((1, 2_250, 12_100, 16_000))),
)


def apply(conn, ops) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT order_line_id, order_id, marketplace, user_id FROM flatten_order_marketplace "
                    "ORDER BY order_line_id")
        lines = cur.fetchall()
    for n, op in enumerate(ops):
        line_id, order_id, marketplace, user_id = lines[op[1] % len(lines)]
        with conn.cursor() as cur:
            if op[0] == "insert":  # a new line, for an existing user, possibly a back-dated one
                add_line(conn, order_id=f"new-{n}", user_id=user_id, marketplace=marketplace, gmv=op[3],
                         at=datetime(2026, 4, 1, 10, tzinfo=WIB) - timedelta(days=op[2]), product=f"N{n % 3}",
                         address=f"new address {n}")
            elif op[0] in ("cancel", "return", "uncancel"):  # late cancellation / return of a whole order
                column, value = {"cancel": ("cancelled_flag", "Y"), "return": ("returned_flag", "Y"),
                                 "uncancel": ("cancelled_flag", "N")}[op[0]]
                cur.execute(f"UPDATE flatten_order_marketplace SET {column} = %s "
                            "WHERE marketplace = %s AND order_id = %s", (value, marketplace, order_id))
            elif op[0] == "kurs":  # a corrected exchange rate on one line
                cur.execute("UPDATE flatten_order_marketplace SET kurs_rate = %s WHERE order_line_id = %s",
                            (op[2], line_id))
            elif op[0] == "gmv":
                cur.execute("UPDATE flatten_order_marketplace SET product_gmv_amount = %s WHERE order_line_id = %s",
                            (op[2], line_id))
            elif op[0] == "move_month":
                cur.execute("UPDATE flatten_order_marketplace SET create_timestamp = create_timestamp + %s "
                            "WHERE marketplace = %s AND order_id = %s", (timedelta(days=op[2]), marketplace, order_id))
            elif op[0] == "move_user":
                cur.execute("UPDATE flatten_order_marketplace SET user_id = user_id || '-x' WHERE order_line_id = %s",
                            (line_id,))
            elif op[0] == "delete":
                cur.execute("DELETE FROM flatten_order_marketplace WHERE order_line_id = %s", (line_id,))
            elif op[0] == "address":
                cur.execute("UPDATE order_marketplace SET address_shipping_name = %s "
                            "WHERE marketplace = %s AND order_id = %s", (f"moved {n}", marketplace, order_id))
    conn.commit()


def snapshot(conn) -> dict:
    out = {"aggregated_monthly": table_rows(conn, "aggregated_monthly", True),
           "final_user_analysis": table_rows(conn, "final_user_analysis", False)}
    with conn.cursor() as cur:
        for name, sql in DERIVED.items():
            cur.execute(sql)
            out[name] = sorted(cur.fetchall())
    return out


@pytest.fixture(scope="module")
def base_lines() -> int:
    return 600


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(day_1=st.lists(change, max_size=12), day_2=st.lists(change, max_size=12))
def test_incremental_equals_full_rebuild(conn, base_lines, day_1, day_2):
    truncate_all(conn)
    demo_orders.load(conn, base_lines, seed=5, as_of=AS_OF)
    assert run_etl(conn, BATCH_1).mode == "full"
    apply(conn, day_1)
    run_etl(conn, BATCH_1 + timedelta(hours=1))
    apply(conn, day_2)
    incremental = run_etl(conn, BATCH_2)
    assert incremental.mode == "incremental"
    after_incremental = snapshot(conn)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM analytics_changed_group")
        assert cur.fetchone()[0] == 0  # every change was consumed
        # the stored matrix (counted from analytics_active_month, which the incremental run kept up
        # for the changed users only) is the matrix counted afresh from aggregated_monthly
        cur.execute(cohort.LIVE_ROWS, Filters().params())
        assert sorted(cur.fetchall()) == sorted(
            (month, size, offset, active) for month, offset, size, active in after_incremental["cohort_retention"])
    assert run_etl(conn, BATCH_2, full=True).mode == "full"
    assert after_incremental == snapshot(conn)
    assert after_incremental["aggregated_monthly"] == direct_aggregation(conn, monthly=True)


def test_daily_changes_refresh_only_the_touched_groups(conn):
    demo_orders.load(conn, 2_000, seed=9, as_of=AS_OF)
    full = run_etl(conn, BATCH_1)
    changes = demo_orders.add_daily_changes(conn, date(2026, 4, 1), seed=9, new_orders=40, late_cancellations=5,
                                            late_returns=5)
    assert changes["cancelled_lines"] > 0 and changes["returned_lines"] > 0 and changes["new_lines"] >= 40
    daily = run_etl(conn, BATCH_2)
    assert daily.mode == "incremental" and 0 < daily.groups_refreshed < full.groups_refreshed / 5
    assert table_rows(conn, "aggregated_monthly", True) == direct_aggregation(conn, monthly=True)
    assert table_rows(conn, "final_user_analysis", False) == direct_aggregation(conn, monthly=False)
    again = run_etl(conn, BATCH_2)  # re-running with nothing new changes nothing
    assert again.groups_refreshed == 0
    assert table_rows(conn, "final_user_analysis", False) == direct_aggregation(conn, monthly=False)
