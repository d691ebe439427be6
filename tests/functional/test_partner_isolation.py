"""A partner's key only ever reads that partner's rows: no parameter, cursor or filter reaches
another partner's data, and CRM / push-notification routes need a staff key."""

from __future__ import annotations

from datetime import date

import psycopg2
import pytest

from chalicelib import paging
from localdev.datagen.lending import load
from localdev.datagen.lending_book import PARTNERS
from tests.api_support import all_report_rows, api_client, get, partner_key, staff_key


@pytest.fixture(scope="module")
def book(pg_url):
    conn = psycopg2.connect(pg_url)
    load(conn, 600, 5, date(2026, 11, 20))
    keys = {p.partner_id: partner_key(conn, p.partner_id) for p in PARTNERS}
    staff = staff_key(conn)
    with conn.cursor() as cur:
        cur.execute("SELECT application_xid, partner_id, application_id, cdate FROM application")
        owner = {xid: (partner, app_id, cdate) for xid, partner, app_id, cdate in cur.fetchall()}
    conn.close()
    return keys, staff, owner


def test_every_row_belongs_to_the_caller(book):
    keys, _, owner = book
    with api_client() as client:
        for partner_id, key in keys.items():
            rows = all_report_rows(client, key, limit=97)
            assert rows and {owner[r["application_xid"]][0] for r in rows} == {partner_id}


def test_another_partners_cursor_stays_inside_the_callers_rows(book):
    keys, _, owner = book
    with api_client() as client:
        _, b_page, _ = get(client, "/v1/partner/report?limit=20", keys[2])
        status, a_page, _ = get(client, f"/v1/partner/report?limit=20&cursor={b_page['next_cursor']}", keys[1])
        assert status == 200
        assert {owner[r["application_xid"]][0] for r in a_page["rows"]} <= {1}
        # a hand-made cursor pointing just before one of B's applications
        b_xid = b_page["rows"][5]["application_xid"]
        _, app_id, cdate = owner[b_xid]
        forged = paging.encode(paging.Position(cdate, app_id - 1))
        _, forged_page, _ = get(client, f"/v1/partner/report?limit=500&cursor={forged}", keys[1])
    assert b_xid not in {r["application_xid"] for r in forged_page["rows"]}
    assert {owner[r["application_xid"]][0] for r in forged_page["rows"]} <= {1}


@pytest.mark.parametrize("query", ["partner_id=2", "partner=2", "application_xid=1"])
def test_partner_parameters_are_refused_not_obeyed(book, query):
    keys, _, _ = book
    with api_client() as client:
        status, body, _ = get(client, f"/v1/partner/report?{query}", keys[1])
        status_s, body_s, _ = get(client, f"/v1/partner/summary?{query}", keys[1])
    assert (status, body["error"]["code"]) == (400, "unknown_parameter")
    assert (status_s, body_s["error"]["code"]) == (400, "unknown_parameter")


def test_filters_never_widen_the_partner(book):
    keys, _, owner = book
    with api_client() as client:
        for query in ("status=180", "status=170", "from=2020-01-01&to=2030-12-31"):
            rows = all_report_rows(client, keys[4], query)
            assert {owner[r["application_xid"]][0] for r in rows} <= {4}


def test_summaries_differ_per_key_and_match_the_owner(book):
    keys, _, _ = book
    with api_client() as client:
        ids = {get(client, "/v1/partner/summary", key)[1]["partner_id"] for key in keys.values()}
    assert ids == set(keys)


def test_crm_needs_staff_and_shows_bukalapak_invoices(book):
    keys, staff, _ = book
    with api_client() as client:
        assert get(client, "/v1/crm/applications", keys[1])[0] == 403
        status, page, _ = get(client, "/v1/crm/applications?partner_id=1&limit=50", staff)
        _, others, _ = get(client, "/v1/crm/applications?partner_id=3&limit=50", staff)
        _, failed, _ = get(client, "/v1/crm/applications?status=181&limit=500", staff)
    assert status == 200 and page["rows"]
    assert all(r["partner_name"] == "Bukalapak" and r["invoice_id"].startswith("INV/") for r in page["rows"])
    assert all(r["partner_id"] == 3 and r["invoice_id"] is None for r in others["rows"])
    assert failed["rows"] and all(r["status_code"] == 181 for r in failed["rows"])
    stamps = [r["cdate"] for r in page["rows"]]
    assert stamps == sorted(stamps, reverse=True)


def test_crm_pages_cover_every_application_once(book):
    _, staff, owner = book
    seen: list[int] = []
    cursor = None
    with api_client() as client:
        while True:
            path = "/v1/crm/applications?limit=111" + (f"&cursor={cursor}" if cursor else "")
            status, page, _ = get(client, path, staff)
            assert status == 200
            seen.extend(r["application_xid"] for r in page["rows"])
            cursor = page["next_cursor"]
            if not cursor:
                break
    assert sorted(seen) == sorted(owner)
