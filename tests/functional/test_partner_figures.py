"""Follow-the-Money figures for a hand-built ledger, checked against values worked out by hand,
and the rollup (migration 0200) kept exact when the ledger changes afterwards."""

from __future__ import annotations

from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.partners.figures import partner_summary
from chalicelib.partners.report import ReportQuery, report_page
from chalicelib.repayment_split import Components
from chalicelib.statuses import DisbursementStatus
from tests.api_support import api_client, get, partner_key
from tests.factories import add_repayment, make_loan, make_partner

DUES = [date(2026, 9, 1), date(2026, 10, 1), date(2026, 11, 1)]


def _ledger(conn):
    """Partner 7: three loans. Partner 8: one loan that must never leak into 7's figures.

    fee_bp=2000: the lender receives all principal; the platform keeps 20% of interest and late
    fee, rounded down.
    loan A 3,000,000 disbursed 2,850,000 COMPLETED; repaid (p 1,000,000, i 120,000, lf 0) and
           (p 500,000, i 120,000, lf 50,000) → lender p 1,500,000, i 96,000 + 96,000, lf 40,000;
           fee 24,000 + (24,000 + 10,000) = 58,000; outstanding 3,000,000 − 1,500,000
    loan B 2,000,000 disbursed 2,000,000 COMPLETED, over-repaid principal 2,100,000 → outstanding
           max(2,000,000 − 2,100,000, 0) = 0
    loan C 5,000,000 disbursement PENDING: no disbursement, no outstanding; a stray repayment
           (p 100,000) still counts in principal
    """
    make_partner(conn, 7, "Dana Tujuh")
    make_partner(conn, 8, "Dana Delapan")
    a = make_loan(conn, partner_id=7, loan_amount=3_000_000, disburse_amount=2_850_000, due_dates=DUES)
    b = make_loan(conn, partner_id=7, loan_amount=2_000_000, due_dates=DUES[:1])
    c = make_loan(conn, partner_id=7, loan_amount=5_000_000, due_dates=DUES[:1],
                  disburse_status=DisbursementStatus.PENDING)
    other = make_loan(conn, partner_id=8, loan_amount=9_000_000, due_dates=DUES[:1])
    add_repayment(conn, a, a.payment_ids[0], 7, Components(1_000_000, 120_000, 0))
    add_repayment(conn, a, a.payment_ids[1], 7, Components(500_000, 120_000, 50_000))
    add_repayment(conn, b, b.payment_ids[0], 7, Components(2_100_000, 0, 0))
    add_repayment(conn, c, c.payment_ids[0], 7, Components(100_000, 0, 0))
    add_repayment(conn, other, other.payment_ids[0], 8, Components(4_000_000, 300_000, 0))
    conn.commit()
    return a, b, c, other


EXPECTED_7 = {
    "loan_count": 3,
    "disbursement": 2_850_000 + 2_000_000,
    "principal": 1_500_000 + 2_100_000 + 100_000,
    "interest": 96_000 + 96_000,
    "late_fee": 40_000,
    "fee": 58_000,
    "outstanding": 1_500_000 + 0,
    "repayment": 3_700_000 + 192_000 + 40_000,
    # what the funder earned beyond principal: its share of interest and late fee; the platform's
    # 58,000 is already out of those (borrowers paid 240,000 + 50,000 of interest and late fee)
    "net_profit": 192_000 + 40_000,
}


def test_summary_matches_hand_computed_figures(conn):
    _ledger(conn)
    key = partner_key(conn, 7)
    with api_client() as client:
        status, body, _ = get(client, "/v1/partner/summary", key)
    assert status == 200
    assert {k: body[k] for k in EXPECTED_7} == EXPECTED_7
    assert body["partner_id"] == 7
    assert body["as_of"].endswith("Z")
    assert all(type(body[k]) is int for k in EXPECTED_7)


def test_report_rows_match_hand_computed_figures(conn):
    a, b, c, _ = _ledger(conn)
    key = partner_key(conn, 7)
    with api_client() as client:
        status, body, _ = get(client, "/v1/partner/report", key)
    assert status == 200
    rows = {r["application_xid"]: r for r in body["rows"]}
    assert set(rows) == {a.application_xid, b.application_xid, c.application_xid}
    assert rows[b.application_xid]["outstanding"] == 0
    assert rows[b.application_xid]["principal"] == 2_100_000
    assert rows[c.application_xid]["outstanding"] == 0
    assert rows[c.application_xid]["disbursement"] == 0
    row_a = rows[a.application_xid]
    assert (row_a["principal"], row_a["interest"], row_a["late_fee"], row_a["fee"]) == (
        1_500_000, 192_000, 40_000, 58_000)
    assert row_a["outstanding"] == 1_500_000
    assert row_a["net_profit"] == 192_000 + 40_000
    assert row_a["loan_amount"] == 3_000_000 and row_a["loan_duration"] == 3
    assert row_a["status"] == "Fund disbursal successful"


def test_net_profit_takes_the_platform_fee_off_once(conn):
    """The issue's example: on 100 of interest the lender receives 80, the platform 20; the funder's
    net profit is 80 (it used to be reported as 80 − 20 = 60)."""
    make_partner(conn, 7, "Dana Tujuh")
    loan = make_loan(conn, partner_id=7, loan_amount=1_000, due_dates=DUES[:1])
    add_repayment(conn, loan, loan.payment_ids[0], 7, Components(0, 100, 0), fee_bp=2_000)
    conn.commit()
    key = partner_key(conn, 7)
    with api_client() as client:
        _, summary, _ = get(client, "/v1/partner/summary", key)
        _, report, _ = get(client, "/v1/partner/report", key)
    assert (summary["interest"], summary["fee"], summary["net_profit"]) == (80, 20, 80)
    assert report["rows"][0]["net_profit"] == 80


def test_rollup_follows_later_ledger_changes(conn):
    a, b, _c, _ = _ledger(conn)
    with conn.cursor() as cur:
        # a correction: B's over-payment is reversed, A's disbursement fails after all
        cur.execute("DELETE FROM repayment_transaction WHERE loan_id = %s", (b.loan_id,))
        cur.execute("UPDATE disbursement SET disburse_status = 'FAILED' WHERE loan_id = %s", (a.loan_id,))
        cur.execute("UPDATE repayment_transaction SET lender_received_interest = lender_received_interest - 6000, "
                    "julo_fee_received_interest = julo_fee_received_interest + 6000, "
                    "lender_received = lender_received - 6000, julo_fee_received = julo_fee_received + 6000 "
                    "WHERE loan_id = %s AND borrower_repaid_late_fee = 0", (a.loan_id,))
    conn.commit()
    summary = partner_summary(conn, 7).figures
    assert summary.disbursement == 2_000_000
    assert summary.principal == 1_500_000 + 100_000
    assert summary.interest == 96_000 + 96_000 - 6_000
    assert summary.fee == 58_000 + 6_000
    # A is no longer disbursed; B is disbursed with nothing received
    assert summary.outstanding == 2_000_000


def test_application_moving_partner_moves_its_figures(conn):
    a, *_ = _ledger(conn)
    with conn.cursor() as cur:
        cur.execute("UPDATE application SET partner_id = 8 WHERE application_id = %s", (a.application_id,))
    conn.commit()
    assert partner_summary(conn, 7).loan_count == 2
    assert partner_summary(conn, 8).figures.principal == 4_000_000 + 1_500_000


DIRECT_TOTALS = """
SELECT COALESCE(SUM(rt.lender_received_principal), 0), COALESCE(SUM(rt.lender_received_interest), 0),
       COALESCE(SUM(rt.lender_received_late_fee), 0), COALESCE(SUM(rt.julo_fee_received), 0)
FROM repayment_transaction rt JOIN loan l ON l.loan_id = rt.loan_id
JOIN application a ON a.application_id = l.application_id WHERE a.partner_id = %s AND NOT a.is_deleted
"""

amounts = st.builds(Components, st.integers(0, 3_000_000), st.integers(0, 500_000), st.integers(0, 100_000))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(repayments=st.lists(st.tuples(st.integers(0, 2), amounts), max_size=8),
       deletions=st.lists(st.integers(0, 7), max_size=3),
       app_deletions=st.lists(st.tuples(st.integers(0, 2), st.booleans()), max_size=4))
def test_rollup_equals_direct_aggregation(conn, repayments, deletions, app_deletions):
    """Repayments, their reversal, and applications deleted / undeleted in between: the summary
    equals a direct aggregate over the non-deleted applications, and Σ report rows."""
    with conn.cursor() as cur:
        cur.execute("TRUNCATE repayment_transaction, disbursement, payment, loan, application, partner CASCADE")
    conn.commit()
    make_partner(conn, 7, "Dana Tujuh")
    loans = [make_loan(conn, partner_id=7, loan_amount=2_000_000) for _ in range(3)]
    half = len(repayments) // 2
    txn_ids = [add_repayment(conn, loans[i], loans[i].payment_ids[0], 7, c) for i, c in repayments[:half]]
    with conn.cursor() as cur:
        for i, deleted in app_deletions:
            cur.execute("UPDATE application SET is_deleted = %s WHERE application_id = %s",
                        (deleted, loans[i].application_id))
    txn_ids += [add_repayment(conn, loans[i], loans[i].payment_ids[0], 7, c) for i, c in repayments[half:]]
    conn.commit()
    with conn.cursor() as cur:
        for i in deletions:
            if i < len(txn_ids):
                cur.execute("DELETE FROM repayment_transaction WHERE repayment_transaction_id = %s", (txn_ids[i],))
        cur.execute(DIRECT_TOTALS, (7,))
        principal, interest, late_fee, fee = cur.fetchone()
    conn.commit()
    got = partner_summary(conn, 7).figures
    assert (got.principal, got.interest, got.late_fee, got.fee) == (principal, interest, late_fee, fee)
    live = [loan for loan in loans if not _deleted(conn, loan)]
    assert got.outstanding == sum(max(2_000_000 - p, 0) for p in _principal_by_loan(conn, live))
    rows = report_page(conn, ReportQuery(partner_id=7, limit=10)).rows
    assert len(rows) == len(live) == partner_summary(conn, 7).loan_count
    assert got.as_dict() == {name: sum(r[name] for r in rows) for name in got.as_dict()}


def _deleted(conn, loan):
    with conn.cursor() as cur:
        cur.execute("SELECT is_deleted FROM application WHERE application_id = %s", (loan.application_id,))
        (deleted,) = cur.fetchone()
    conn.commit()
    return deleted


def _principal_by_loan(conn, loans):
    with conn.cursor() as cur:
        out = []
        for loan in loans:
            cur.execute("SELECT COALESCE(SUM(lender_received_principal), 0) FROM repayment_transaction "
                        "WHERE loan_id = %s", (loan.loan_id,))
            out.append(cur.fetchone()[0])
    conn.commit()
    return out
