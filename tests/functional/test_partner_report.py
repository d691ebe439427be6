"""The report against the summary on the demo book: Σ report rows = summary for every partner,
pages that cover every application exactly once, filters, and CSV with the same rows."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date, datetime
from zoneinfo import ZoneInfo

import psycopg2
import pytest

from localdev.datagen.lending import load
from localdev.datagen.lending_book import PARTNERS
from tests.api_support import all_report_rows, api_client, get, partner_key

FIGURES = ("disbursement", "outstanding", "repayment", "principal", "interest", "late_fee", "fee", "net_profit")
BUSINESS_DATE = date(2026, 11, 20)


@pytest.fixture(scope="module")
def demo_keys(pg_url):
    conn = psycopg2.connect(pg_url)
    load(conn, 1_500, 11, BUSINESS_DATE)
    keys = {p.partner_id: partner_key(conn, p.partner_id) for p in PARTNERS}
    with conn.cursor() as cur:
        cur.execute("SELECT partner_id, count(*) FROM application GROUP BY partner_id")
        counts = dict(cur.fetchall())
    conn.close()
    return keys, counts


def test_summary_equals_sum_of_report_rows_for_every_partner(demo_keys):
    keys, counts = demo_keys
    with api_client() as client:
        for partner_id, key in keys.items():
            status, summary, _ = get(client, "/v1/partner/summary", key)
            assert status == 200
            rows = all_report_rows(client, key, limit=217)  # an odd page size: pages end mid-day
            assert len(rows) == counts[partner_id]
            assert len({r["application_xid"] for r in rows}) == len(rows)
            for figure in FIGURES:
                assert summary[figure] == sum(r[figure] for r in rows), (partner_id, figure)
            assert summary["repayment"] > 0 and summary["outstanding"] > 0


@pytest.mark.parametrize(("query", "newest_first"), [("", True), ("&order=newest", True), ("&order=oldest", False)])
def test_pages_are_in_order_and_limit_is_respected(demo_keys, query, newest_first):
    """Newest application first by default, as the seed's Report View lists them."""
    keys, _ = demo_keys
    with api_client() as client:
        status, first, _ = get(client, f"/v1/partner/report?limit=50{query}", keys[2])
        assert status == 200 and len(first["rows"]) == 50 and first["next_cursor"]
        _, second, _ = get(client, f"/v1/partner/report?limit=50{query}&cursor={first['next_cursor']}", keys[2])
        everything = all_report_rows(client, keys[2], "order=oldest")
    combined = first["rows"] + second["rows"]
    stamps = [datetime.fromisoformat(r["cdate"]) for r in combined]
    assert stamps == sorted(stamps, reverse=newest_first)
    assert len({r["application_xid"] for r in combined}) == 100
    expected = everything[-100:][::-1] if newest_first else everything[:100]
    assert [r["application_xid"] for r in combined] == [r["application_xid"] for r in expected]


def test_an_unknown_order_is_a_400(demo_keys):
    keys, _ = demo_keys
    with api_client() as client:
        status, body, _ = get(client, "/v1/partner/report?order=random", keys[2])
    assert status == 400 and body["error"]["code"] == "invalid_parameter"
    assert "newest, oldest" in body["error"]["message"]


def test_date_and_status_filters(demo_keys):
    keys, _ = demo_keys
    jakarta = ZoneInfo("Asia/Jakarta")
    with api_client() as client:
        everything = all_report_rows(client, keys[1])
        days = sorted({datetime.fromisoformat(r["cdate"]).astimezone(jakarta).date() for r in everything})
        start, end = days[len(days) // 3], days[2 * len(days) // 3]
        window = all_report_rows(client, keys[1], f"from={start}&to={end}", limit=40)
        failed = all_report_rows(client, keys[1], "status=181")
    expected = [r for r in everything
                if start <= datetime.fromisoformat(r["cdate"]).astimezone(jakarta).date() <= end]
    assert window == expected and window
    assert failed and all(r["status_code"] == 181 and r["status"] == "Fund disbursal failed" for r in failed)
    assert len(failed) == Counter(r["status_code"] for r in everything)[181]


def test_csv_has_the_same_rows_as_json(demo_keys):
    keys, _ = demo_keys
    with api_client() as client:
        _, page, _ = get(client, "/v1/partner/report?limit=30", keys[3])
        status, text, headers = get(client, "/v1/partner/report?limit=30", keys[3], accept="text/csv")
    assert status == 200 and headers["content-type"].startswith("text/csv")
    assert headers["x-next-cursor"] == page["next_cursor"]
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert [int(r["application_xid"]) for r in parsed] == [r["application_xid"] for r in page["rows"]]
    for got, want in zip(parsed, page["rows"], strict=True):
        assert {k: int(got[k]) for k in FIGURES} == {k: want[k] for k in FIGURES}
        assert (got["fullname"], got["email"], got["status"]) == (want["fullname"], want["email"], want["status"])
