"""What an analyst does with the API: segment GMV and the 80/20 view, filters, drill-down to a
segment's users (JSON pages, CSV), and the dashboard that links it all."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.analytics.etl import run_etl
from tests.analytics_orders import WIB, add_line
from tests.api_support import api_client, get, staff_key

BATCH = datetime(2026, 5, 1, 18, tzinfo=UTC)  # as of 2 May 2026 (WIB)
AS_OF = datetime(2026, 5, 2, 12, tzinfo=WIB)


@pytest.fixture
def shop_data(conn) -> str:
    """Ten buyers on tokopedia (shop-1, Jakarta) and five on shopee (shop-9, Bali). Buyer i spends
    (i + 1) x 10,000 per order; every third buyer orders three times; one shopee buyer pays in SGD."""
    for i in range(15):
        on_shopee = i >= 10
        orders = 3 if i % 3 == 0 else 1
        for n in range(orders):
            add_line(conn, order_id=f"o{i}-{n}", user_id=f"buyer{i:02d}", gmv=(i + 1) * 10_000,
                     marketplace="shopee" if on_shopee else "tokopedia",
                     shop_id="shop-9" if on_shopee else "shop-1", region="ID-BA" if on_shopee else "ID-JK",
                     at=AS_OF - timedelta(days=5 * i + 20 * n))
    add_line(conn, order_id="sgd", user_id="buyer14", gmv=10, kurs_rate=12_100, marketplace="shopee",
             shop_id="shop-9", region="ID-BA", at=AS_OF - timedelta(days=1))
    # last month's cohort for the heat map: two tokopedia buyers first ordered in March
    conn.commit()
    run_etl(conn, BATCH)
    return staff_key(conn)


def test_segments_carry_their_gmv_and_the_top_20_percent_share(conn, shop_data):
    with api_client() as client:
        status, body, _ = get(client, "/v1/analytics/rfm", shop_data)
    assert status == 200
    segments = body["segments"]
    assert sum(s["users"] for s in segments) == 15
    assert sum(s["gmv"] for s in segments) == body["total_gmv"]
    assert abs(sum(s["gmv_share"] for s in segments) - 1) < 0.001
    gmv = {f"buyer{i:02d}": (i + 1) * 10_000 * (3 if i % 3 == 0 else 1) for i in range(15)}
    gmv["buyer14"] += 121_000
    assert body["total_gmv"] == sum(gmv.values())
    top_three = sorted(gmv.values(), reverse=True)[:3]  # the top 20 % of 15 buyers
    pyramid = body["pyramid"]
    assert pyramid["top_20_percent_gmv_share"] == round(sum(top_three) / sum(gmv.values()), 4)
    assert [t["users"] for t in pyramid["tiers"]] == [3, 3, 3, 3, 3]
    assert pyramid["tiers"][0]["label"] == "Top 20%"
    champions = next(s for s in segments if s["segment"] == "Champions")
    assert champions["users_url"] == "/v1/analytics/segments/champions/users"


def test_filters_score_the_filtered_buyers_only(conn, shop_data):
    with api_client() as client:
        status, body, _ = get(client, "/v1/analytics/rfm?marketplace=shopee&limit=500", shop_data)
        assert status == 200 and body["filters"] == {"marketplace": "shopee"}
        assert sorted(u["user_id"] for u in body["users"]) == [f"buyer{i}" for i in range(10, 15)]
        assert body["total_gmv"] == sum((i + 1) * 10_000 * (3 if i % 3 == 0 else 1) for i in range(10, 15)) + 121_000
        by_region = get(client, "/v1/analytics/rfm?region=ID-BA&shop=shop-9", shop_data)[1]
        assert {u["user_id"] for u in by_region["users"]} == {u["user_id"] for u in body["users"]}
        assert "shop=shop-9" in next(s for s in by_region["segments"])["users_url"]
        # months: only orders in April count (every buyer with an order in April)
        april = get(client, "/v1/analytics/rfm?from=2026-04&to=2026-04&limit=500", shop_data)[1]
        expected = {f"buyer{i:02d}" for i in range(15)
                    if any((AS_OF - timedelta(days=5 * i + 20 * n)).month == 4 for n in range(3 if i % 3 == 0 else 1))}
        assert {u["user_id"] for u in april["users"]} == expected


@pytest.mark.parametrize("query", ["marketplace=amazon", "shop=shop-404", "region=ID-XX", "from=2026-13",
                                   "to=April", "from=2026-04&to=2026-03", "colour=red"])
def test_unknown_filter_values_are_400(conn, shop_data, query):
    with api_client() as client:
        for path in ("/v1/analytics/rfm", "/v1/analytics/cohorts", "/v1/analytics/dashboard",
                     "/v1/analytics/segments/champions/users"):
            status, body, headers = get(client, f"{path}?{query}", shop_data)
            assert status == 400, (path, query)
            assert headers["content-type"].startswith("application/json")
            assert body["error"]["code"] in ("invalid_parameter", "unknown_parameter")


def test_a_segment_drills_down_to_its_users_in_pages_and_as_csv(conn, shop_data):
    with api_client() as client:
        rfm_body = get(client, "/v1/analytics/rfm", shop_data)[1]
        segment = max(rfm_body["segments"], key=lambda s: s["users"])
        seen, url = [], segment["users_url"] + "?limit=2"
        while url:
            status, page, _ = get(client, url, shop_data)
            assert status == 200 and page["segment"] == segment["segment"] and page["as_of"] == "2026-05-02"
            assert {u["segment"] for u in page["users"]} <= {segment["segment"]}
            seen += [u["user_id"] for u in page["users"]]
            url = page["next_offset"] and f"{segment['users_url']}?limit=2&offset={page['next_offset']}"
        assert len(seen) == len(set(seen)) == segment["users"]
        status, text, headers = get(client, segment["users_url"], shop_data, accept="text/csv")
    assert status == 200 and headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["user_id"] for r in rows] == seen
    assert set(rows[0]) == {"user_id", "recency", "r_score", "frequency", "f_score", "monetary", "m_score",
                            "total_score", "segment"}
    assert headers["x-total-count"] == str(segment["users"])


def test_an_unknown_segment_is_404(conn, shop_data):
    with api_client() as client:
        status, body, _ = get(client, "/v1/analytics/segments/vip/users", shop_data)
    assert (status, body["error"]["code"]) == (404, "not_found")


def test_cohorts_filter_and_mark_the_running_month(conn, shop_data):
    with api_client() as client:
        body = get(client, "/v1/analytics/cohorts?marketplace=shopee", shop_data)[1]
        assert body["partial_month"] == "2026-05" and body["filters"] == {"marketplace": "shopee"}
        assert sum(c["cohort_size"] for c in body["cohorts"]) == 5
        ended = get(client, "/v1/analytics/cohorts?to=2026-04", shop_data)[1]
        assert ended["partial_month"] is None
        assert all(c["cohort_month"] <= "2026-04" for c in ended["cohorts"])
        late = get(client, "/v1/analytics/cohorts?from=2026-04", shop_data)[1]
        assert [c["cohort_month"] for c in late["cohorts"]] and all(
            c["cohort_month"] >= "2026-04" for c in late["cohorts"])


def test_dashboard_shows_the_pyramid_filters_links_and_the_partial_month(conn, shop_data):
    with api_client() as client:
        status, page, _ = get(client, "/v1/analytics/dashboard?marketplace=tokopedia", shop_data)
    assert status == 200
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "Revenue pyramid" in page and re.search(r"The top 20% of buyers bring <strong>[\d.]+%</strong>", page)
    assert '<option value="tokopedia" selected>' in page and '<option value="shop-9">' in page
    assert 'href="segments/champions/users?marketplace=tokopedia"' in page
    assert "2026-05* is partial" in page and "partial: month still running" in page
    assert "filtered: marketplace tokopedia" in page


def test_filters_that_keep_everything_score_like_the_etl(conn, shop_data):
    # the ETL scores from final_user_analysis, a filtered read from aggregated_monthly: same answer
    with api_client() as client:
        stored = get(client, "/v1/analytics/rfm?limit=500", shop_data)[1]
        live = get(client, "/v1/analytics/rfm?limit=500&from=2000-01&to=2099-12", shop_data)[1]
    assert live["users"] == stored["users"] and live["thresholds"] == stored["thresholds"]
    assert [s["users"] for s in live["segments"]] == [s["users"] for s in stored["segments"]]
    assert live["pyramid"] == stored["pyramid"] and live["total_gmv"] == stored["total_gmv"]
