"""The analytics ETL on hand-built orders: every column, WIB months, validation against the source."""

from __future__ import annotations

from datetime import UTC, date, datetime

from chalicelib.analytics.etl import run_etl
from functions import analytics_etl
from localdev.datagen import orders as demo_orders
from tests.analytics_orders import WIB, add_line, customer_key, direct_aggregation, table_rows

BATCH = datetime(2026, 3, 31, 18, 0, tzinfo=UTC)  # 01:00 WIB on 1 April


def wib(*args: int) -> datetime:
    return datetime(*args, tzinfo=WIB)


def hand_built_orders(conn) -> None:
    # O1: two items, shipping 9,000
    add_line(conn, order_id="O1", at=wib(2026, 1, 10, 10), gmv=100_000, product="P1", barcode="b1", fee=9_000,
             address="Rumah A1")
    add_line(conn, order_id="O1", at=wib(2026, 1, 10, 10), gmv=50_000, product="P2", barcode="b2", fee=9_000)
    # O2: the same SKU again, no barcode (not counted as quantity), shipping 15,000
    add_line(conn, order_id="O2", at=wib(2026, 1, 20, 9), gmv=100_000, product="P1", barcode=None, fee=15_000,
             address="Kantor A")
    # O3: cancelled -> only total_cancelled
    add_line(conn, order_id="O3", at=wib(2026, 1, 25, 12), gmv=70_000, product="P9", fee=12_000, cancelled=True,
             address="Batal")
    # O4: one item returned, one kept; free shipping; 23:30 WIB on 31 January
    add_line(conn, order_id="O4", at=wib(2026, 1, 31, 23, 30), gmv=30_000, product="P3", variant="V2",
             returned=True, address="Kos A")
    add_line(conn, order_id="O4", at=wib(2026, 1, 31, 23, 30), gmv=20_000, product="P4", barcode="b4")
    # O5: 00:30 WIB on 1 February = 31 January in UTC: a February order
    add_line(conn, order_id="O5", at=wib(2026, 2, 1, 0, 30), gmv=80_000, product="P1", barcode="b1", fee=12_000,
             address="Rumah A2")
    # another user whose only order was cancelled
    add_line(conn, order_id="O6", user_id="u2", at=wib(2026, 3, 5, 8), gmv=10_000, cancelled=True)
    conn.commit()


def test_every_column_of_aggregated_monthly(conn):
    hand_built_orders(conn)
    result = run_etl(conn, BATCH)
    assert result.mode == "full"
    key = customer_key("tokopedia", "shop-1", "Toko Satu", "u1", "ID-JK")
    rows = table_rows(conn, "aggregated_monthly", monthly=True)
    assert set(rows) == {(key, "2026-01"), (key, "2026-02"),
                         (customer_key("tokopedia", "shop-1", "Toko Satu", "u2", "ID-JK"), "2026-03")}
    jan = rows[(key, "2026-01")]
    assert jan == {
        "customer_key": key, "marketplace": "tokopedia", "shop_id": "shop-1", "shop_name": "Toko Satu",
        "user_id": "u1", "magpie_region_code": "ID-JK", "kurs_rate": 1, "month_of_order": "2026-01",
        "first_order_timestamp": wib(2026, 1, 10, 10), "last_order_timestamp": wib(2026, 1, 31, 23, 30),
        "total_order": 3, "total_cancelled": 1, "total_returned": 1,
        "total_gmv_amount": 270_000, "total_sku": 3, "sku_list": ["P1:V1", "P2:V1", "P4:V1"],
        "total_quantity": 3, "address_shipping_name": "Kos A",
        "min_shipping_amount": 0, "max_shipping_amount": 15_000, "avg_shipping_amount": 8_000,
    }
    feb = rows[(key, "2026-02")]
    assert (feb["total_order"], feb["total_gmv_amount"], feb["sku_list"], feb["address_shipping_name"],
            feb["first_order_timestamp"]) == (1, 80_000, ["P1:V1"], "Rumah A2", wib(2026, 2, 1, 0, 30))
    only_cancelled = next(r for r in rows.values() if r["user_id"] == "u2")
    assert only_cancelled == {**only_cancelled, "total_order": 0, "total_cancelled": 1, "total_gmv_amount": 0,
                              "sku_list": [], "total_sku": 0, "total_quantity": 0, "first_order_timestamp": None,
                              "last_order_timestamp": None, "address_shipping_name": None,
                              "min_shipping_amount": None, "avg_shipping_amount": None}
    with conn.cursor() as cur:
        cur.execute("SELECT DISTINCT etl_batch_time FROM aggregated_monthly")
        assert cur.fetchall() == [(BATCH,)]
        cur.execute("SELECT bool_and(load_timestamp IS NOT NULL) FROM aggregated_monthly")
        assert cur.fetchone()[0] is True


def test_every_column_of_final_user_analysis(conn):
    hand_built_orders(conn)
    run_etl(conn, BATCH)
    key = customer_key("tokopedia", "shop-1", "Toko Satu", "u1", "ID-JK")
    final = table_rows(conn, "final_user_analysis", monthly=False)[(key, None)]
    assert final == {
        "customer_key": key, "marketplace": "tokopedia", "shop_id": "shop-1", "shop_name": "Toko Satu",
        "user_id": "u1", "magpie_region_code": "ID-JK", "kurs_rate": 1,
        "first_order_timestamp": wib(2026, 1, 10, 10), "last_order_timestamp": wib(2026, 2, 1, 0, 30),
        "total_order": 4, "total_cancelled": 1, "total_returned": 1,
        "total_gmv_amount": 350_000, "total_sku": 3, "sku_list": ["P1:V1", "P2:V1", "P4:V1"],
        "total_quantity": 4, "address_shipping_name": "Rumah A2",
        # fees of valid orders 9,000 + 15,000 + 0 + 12,000 = 36,000 over 4
        "min_shipping_amount": 0, "max_shipping_amount": 15_000, "avg_shipping_amount": 9_000,
    }


def test_tables_match_a_direct_aggregation_of_generated_source(conn):
    counts = demo_orders.load(conn, 3_000, seed=11, as_of=date(2026, 3, 31))
    assert counts["lines"] >= 3_000
    run_etl(conn, BATCH)
    for table, monthly in (("aggregated_monthly", True), ("final_user_analysis", False)):
        assert table_rows(conn, table, monthly) == direct_aggregation(conn, monthly), table
    with conn.cursor() as cur:  # the report's check: totals equal the source's, cancelled and returned excluded
        cur.execute("SELECT sum(product_gmv_amount * kurs_rate) FROM flatten_order_marketplace "
                    "WHERE cancelled_flag = 'N' AND returned_flag = 'N'")
        source_gmv = cur.fetchone()[0]
        cur.execute("SELECT (SELECT sum(total_gmv_amount) FROM aggregated_monthly), "
                    "(SELECT sum(total_gmv_amount) FROM final_user_analysis)")
        assert cur.fetchone() == (source_gmv, source_gmv)


def test_generator_makes_repeat_buyers_cancellations_and_returns(conn):
    demo_orders.load(conn, 5_000, seed=3, as_of=date(2026, 3, 31))
    with conn.cursor() as cur:
        cur.execute("SELECT count(DISTINCT marketplace), count(DISTINCT shop_id), "
                    "count(DISTINCT analytics_month(create_timestamp)), "
                    "avg((cancelled_flag = 'Y')::INT), avg((returned_flag = 'Y')::INT), "
                    "max(create_timestamp) < %s FROM flatten_order_marketplace",
                    (datetime(2026, 4, 1, tzinfo=WIB),))
        marketplaces, shops, months, cancelled, returned, none_after = cur.fetchone()
        cur.execute("SELECT count(*) FILTER (WHERE n > 1)::FLOAT / count(*) FROM "
                    "(SELECT user_id, count(DISTINCT order_id) n FROM flatten_order_marketplace GROUP BY 1) u")
        repeat_share = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM flatten_order_marketplace f LEFT JOIN order_marketplace o "
                    "USING (marketplace, order_id) WHERE o.order_id IS NULL")
        orphan_lines = cur.fetchone()[0]
    assert marketplaces == 5 and shops >= 20 and months >= 12
    assert 0.02 < cancelled < 0.12 and 0.01 < returned < 0.08
    assert none_after and orphan_lines == 0
    assert 0.2 < repeat_share < 0.8


def test_scheduled_handler_runs_the_etl_as_of_the_event_time(conn, pg_url):
    hand_built_orders(conn)
    answer = analytics_etl.handler({"time": "2026-03-31T18:00:00Z", "detail-type": "Scheduled Event"}, None)
    assert answer["mode"] == "full" and answer["as_of"] == "2026-04-01"
    add_line(conn, order_id="O7", at=wib(2026, 3, 30, 10), gmv=5_000, product="P7")
    conn.commit()
    answer = analytics_etl.handler({"time": "2026-04-01T18:00:00Z"}, None)
    assert answer == {**answer, "mode": "incremental", "groups_refreshed": 1, "as_of": "2026-04-02"}
    with conn.cursor() as cur:
        cur.execute("SELECT total_order, total_gmv_amount FROM aggregated_monthly WHERE month_of_order = '2026-03' "
                    "AND user_id = 'u1'")
        assert cur.fetchone() == (1, 5_000)
