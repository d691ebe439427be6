"""Partner and staff routes as their users see them: deleted applications never show in the
partner views (and the summary still equals Σ report), every answer says ``Cache-Control:
no-store``, the CRM finds an application by its Bukalapak invoice, and every staff read is in
the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg2.extensions
import pytest
from chalice.test import Client

from chalicelib.repayment_split import Components
from tests.api_support import all_report_rows, api_client, get, partner_key, staff_key
from tests.factories import MadeLoan, add_repayment, make_loan, make_partner

FIGURES = ("disbursement", "outstanding", "repayment", "principal", "interest", "late_fee", "fee", "net_profit")
PARTNER_ROUTES = ("/v1/partner/summary", "/v1/partner/report")
STAFF_ROUTES = ("/v1/crm/applications", "/v1/pn/blast-titles", "/v1/pn/redirect-pages",
                "/v1/analytics/rfm", "/v1/analytics/cohorts", "/v1/analytics/dashboard")


def _set_deleted(conn: psycopg2.extensions.connection, loan: MadeLoan, deleted: bool) -> None:
    with conn.cursor() as cur:
        cur.execute("UPDATE application SET is_deleted = %s WHERE application_id = %s", (deleted, loan.application_id))
    conn.commit()


def _views(client: Client, key: str) -> tuple[dict, list[dict]]:
    status, summary, _ = get(client, "/v1/partner/summary", key)
    assert status == 200, summary
    rows = all_report_rows(client, key, limit=2)
    for name in FIGURES:
        assert summary[name] == sum(r[name] for r in rows), name
    return summary, rows


def test_deleted_applications_leave_the_partner_views(conn):
    make_partner(conn, 7, "Dana Tujuh")
    start = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
    loans = [make_loan(conn, partner_id=7, loan_amount=1_000_000 * (i + 1), cdate=start + timedelta(hours=i))
             for i in range(4)]
    for loan in loans:
        add_repayment(conn, loan, loan.payment_ids[0], 7, Components(100_000, 20_000, 5_000))
    conn.commit()
    key = partner_key(conn, 7)
    gone = loans[1]
    with api_client() as client:
        before, rows_before = _views(client, key)
        assert before["loan_count"] == 4 and len(rows_before) == 4

        _set_deleted(conn, gone, True)
        after, rows = _views(client, key)
        assert gone.application_xid not in {r["application_xid"] for r in rows}
        assert after["loan_count"] == 3 and len(rows) == 3
        assert after["disbursement"] == before["disbursement"] - 2_000_000

        # a repayment booked on the deleted application's loan changes nothing the partner sees
        add_repayment(conn, gone, gone.payment_ids[0], 7, Components(300_000, 0, 0))
        conn.commit()
        unchanged = _views(client, key)[0]
        assert unchanged == {**after, "as_of": unchanged["as_of"]}

        # a loan created under an already deleted application never enters the books
        late = make_loan(conn, partner_id=7, cdate=start + timedelta(days=1))
        _set_deleted(conn, late, True)
        assert _views(client, key)[0]["loan_count"] == 3

        _set_deleted(conn, gone, False)  # undeleted: back in both views, with the late repayment
        restored, rows = _views(client, key)
        assert restored["loan_count"] == 4 and gone.application_xid in {r["application_xid"] for r in rows}
        assert restored["principal"] == before["principal"] + 300_000


@pytest.fixture
def keys(conn):
    make_partner(conn, 2, "Lendana P2P")
    make_partner(conn, 5, "Bukalapak", partner_type="marketplace")
    make_loan(conn, partner_id=2)
    conn.commit()
    return {"partner": partner_key(conn, 2), "staff": staff_key(conn)}


def test_every_partner_and_staff_answer_says_no_store(keys):
    with api_client() as client:
        for scope, paths in (("partner", PARTNER_ROUTES), ("staff", STAFF_ROUTES)):
            for path in paths:
                for query, key, expected in (("", keys[scope], 200), ("", None, 401),
                                             ("?nope=1", keys[scope], 400)):
                    status, body, headers = get(client, path + query, key)
                    assert status == expected, (path, query, body)
                    assert headers.get("cache-control") == "no-store", (path, query, status)
        assert get(client, "/v1/partner/report", keys["partner"], accept="text/csv")[2]["cache-control"] == "no-store"
        wrong_method = client.http.post("/v1/crm/applications", headers={"x-api-key": keys["staff"]})
        assert wrong_method.status_code == 405 and wrong_method.headers["Cache-Control"] == "no-store"


def test_crm_finds_an_application_by_its_bukalapak_invoice(conn, keys):
    wanted = make_loan(conn, partner_id=5, invoice_id="INV/20261001/BL/1001")
    make_loan(conn, partner_id=5, invoice_id="INV/20261001/BL/1002")
    deleted = make_loan(conn, partner_id=5, invoice_id="INV/20261001/BL/1003")
    conn.commit()
    _set_deleted(conn, deleted, True)
    with api_client() as client:
        status, body, _ = get(client, "/v1/crm/applications?invoice_id=INV/20261001/BL/1001", keys["staff"])
        assert status == 200, body
        assert [r["application_id"] for r in body["rows"]] == [wanted.application_id]
        assert body["rows"][0]["invoice_id"] == "INV/20261001/BL/1001" and body["next_cursor"] is None
        for invoice in ("INV/20261001/BL/1003", "INV/20261001/BL/10", "inv/20261001/bl/1001"):
            status, body, _ = get(client, f"/v1/crm/applications?invoice_id={invoice}", keys["staff"])
            assert (status, body["rows"]) == (200, []), invoice
        status, body, _ = get(client, "/v1/crm/applications?invoice_id=" + "9" * 65, keys["staff"])
        assert status == 400 and body["error"]["code"] == "invalid_parameter"


def test_invoice_search_uses_its_index(conn, keys):
    with conn.cursor() as cur:
        cur.execute("SET enable_seqscan = off")
        cur.execute("EXPLAIN SELECT application_id FROM application WHERE NOT is_deleted AND invoice_id = 'X' "
                    "ORDER BY cdate DESC, application_id DESC LIMIT 101")
        plan = "\n".join(line for (line,) in cur.fetchall())
    conn.rollback()
    assert "application_invoice_id_idx" in plan, plan


def _audit(conn: psycopg2.extensions.connection) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute("SELECT api_key_id, route, parameters, read_at FROM staff_read_audit ORDER BY audit_id")
        rows = cur.fetchall()
    conn.commit()
    return rows


def test_every_staff_read_is_in_the_audit_log(conn, keys):
    with conn.cursor() as cur:
        cur.execute("SELECT api_key_id FROM partner_api_key WHERE scope = 'staff'")
        (staff_key_id,) = cur.fetchone()
    started = datetime.now(UTC)
    with api_client() as client:
        assert get(client, "/v1/crm/applications?invoice_id=INV-1&limit=5", keys["staff"])[0] == 200
        assert get(client, "/v1/analytics/rfm?segment=Champions", keys["staff"])[0] == 200
        assert get(client, "/v1/pn/blast-titles", keys["staff"])[0] == 200
        assert get(client, "/v1/crm/applications?cursor=not-ours", keys["staff"])[0] == 400
        # partner reads and refused requests (no key, wrong scope) are not staff reads
        assert get(client, "/v1/partner/summary", keys["partner"])[0] == 200
        assert get(client, "/v1/crm/applications", keys["partner"])[0] == 403
        assert get(client, "/v1/crm/applications", None)[0] == 401
    rows = _audit(conn)
    assert [(key_id, route, params) for key_id, route, params, _ in rows] == [
        (staff_key_id, "/v1/crm/applications", {"invoice_id": "INV-1", "limit": "5"}),
        (staff_key_id, "/v1/analytics/rfm", {"segment": "Champions"}),
        (staff_key_id, "/v1/pn/blast-titles", {}),
        (staff_key_id, "/v1/crm/applications", {"cursor": "not-ours"}),
    ]
    assert all(started - timedelta(minutes=1) <= read_at <= datetime.now(UTC) for *_, read_at in rows)
