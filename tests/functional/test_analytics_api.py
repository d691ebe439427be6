"""Staff analytics routes: RFM (segments + paginated scores), cohort matrix, HTML dashboard."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from chalicelib.analytics.etl import run_etl
from tests.analytics_orders import WIB, add_line
from tests.api_support import api_client, get, partner_key, staff_key
from tests.factories import make_partner

BATCH = datetime(2026, 5, 1, 18, tzinfo=UTC)
AS_OF = datetime(2026, 5, 2, 12, tzinfo=WIB)


def scored_users(conn) -> None:
    # same population as the quartile-boundary test: user k has k orders
    for k in range(1, 6):
        for i in range(k):
            add_line(conn, order_id=f"k{k}-{i}", user_id=f"user{k}", gmv=(6 - k) * 100_000 // k,
                     at=AS_OF - timedelta(days=50 - 10 * k + 7 * i + 31 * (k == 1)))
    conn.commit()
    run_etl(conn, BATCH)


def test_routes_need_a_staff_key(conn):
    make_partner(conn, 2, "Lendana P2P")
    partner = partner_key(conn, 2)
    with api_client() as client:
        for path in ("/v1/analytics/rfm", "/v1/analytics/cohorts", "/v1/analytics/dashboard",
                     "/v1/analytics/segments/champions/users"):
            status, body, _ = get(client, path)
            assert (status, body["error"]["code"]) == (401, "unauthorized")
            status, body, _ = get(client, path, partner)
            assert (status, body["error"]["code"]) == (403, "forbidden")


def test_rfm_segments_and_pages_of_scores(conn):
    scored_users(conn)
    key = staff_key(conn)
    with api_client() as client:
        status, body, _ = get(client, "/v1/analytics/rfm?limit=2", key)
        assert status == 200
        assert body["as_of"] == "2026-05-02" and body["total_users"] == 5
        assert {s["segment"]: s["users"] for s in body["segments"]}["Need attention"] == 3
        assert sum(s["users"] for s in body["segments"]) == 5
        assert body["thresholds"]["frequency"] == {"q1": 2.0, "q3": 4.0}
        assert [u["user_id"] for u in body["users"]] == ["user5", "user2"]  # total 7, then 6 by user_id
        assert body["users"][0] == {"user_id": "user5", "recency": 0, "r_score": 3, "frequency": 5, "f_score": 3,
                                    "monetary": 100_000, "m_score": 1, "total_score": 7, "segment": "Champions"}
        seen = [u["user_id"] for u in body["users"]]
        while body["next_offset"] is not None:
            status, body, _ = get(client, f"/v1/analytics/rfm?limit=2&offset={body['next_offset']}", key)
            seen += [u["user_id"] for u in body["users"]]
        assert sorted(seen) == [f"user{k}" for k in range(1, 6)]
        status, body, _ = get(client, "/v1/analytics/rfm?segment=Champions", key)
        assert [u["user_id"] for u in body["users"]] == ["user5"] and body["total_users"] == 1


def test_bad_query_parameters_are_400(conn):
    key = staff_key(conn)
    with api_client() as client:
        for query in ("limit=0", "limit=abc", "limit=501", "offset=-1", "segment=VIP", "segment=", "page=2"):
            status, body, _ = get(client, f"/v1/analytics/rfm?{query}", key)
            assert status == 400, query
            assert body["error"]["code"] in ("invalid_parameter", "unknown_parameter"), query
        status, body, _ = get(client, "/v1/analytics/cohorts?x=1", key)
        assert (status, body["error"]["code"]) == (400, "unknown_parameter")


def test_cohorts_matrix(conn):
    for user, months in {"A": (1, 2, 4), "B": (1,), "C": (2, 3)}.items():
        for m in months:
            add_line(conn, order_id=f"{user}{m}", user_id=user, gmv=1_000, at=datetime(2026, m, 3, 9, tzinfo=WIB))
    conn.commit()
    run_etl(conn, BATCH)
    with api_client() as client:
        status, body, _ = get(client, "/v1/analytics/cohorts", staff_key(conn))
    assert status == 200
    assert body == {"as_of": "2026-05-02", "filters": {}, "partial_month": "2026-05", "cohorts": [
        {"cohort_month": "2026-01", "cohort_size": 2, "active_users": [2, 1, 0, 1], "retention": [1.0, 0.5, 0.0, 0.5]},
        {"cohort_month": "2026-02", "cohort_size": 1, "active_users": [1, 1, 0], "retention": [1.0, 1.0, 0.0]},
    ]}


def test_empty_before_the_first_run(conn):
    key = staff_key(conn)
    with api_client() as client:
        status, body, _ = get(client, "/v1/analytics/rfm", key)
        assert status == 200 and body["as_of"] is None and body["users"] == [] and body["next_offset"] is None
        status, body, _ = get(client, "/v1/analytics/dashboard", key)
        assert status == 200 and "no ETL run yet" in body and "No cohorts yet" in body


def test_dashboard_draws_the_heat_map_and_the_sankey(conn):
    scored_users(conn)
    with api_client() as client:
        status, page, headers = get(client, "/v1/analytics/dashboard", staff_key(conn))
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "as of 2026-05-02" in page
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    # heat map: one cell per cohort month and offset, labelled with its share
    cells = re.findall(r"<title>(\d{4}-\d{2}) \+(\d+): (\d+) of (\d+) users</title>", page)
    assert ("2026-02", "0", "1", "1") in cells and ("2026-02", "1", "0", "1") in cells  # user1 alone
    # Sankey: bands from scores to segments carrying the user counts
    assert "R2 → F2: 3 users" in page
    assert "M2 → Need attention: 3 users" in page and "M1 → Champions: 1 users" in page
