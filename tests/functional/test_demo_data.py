from datetime import date

from chalicelib.reminders.selection import iter_t3_payments
from chalicelib.zones import Zone
from localdev.datagen.lending import load
from localdev.datagen.lending_book import BUKALAPAK_PARTNER_ID

BUSINESS_DATE = date(2026, 11, 22)


def _one(conn, sql, *args):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()


def _all(conn, sql, *args):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def test_demo_book_is_realistic(conn):
    counts = load(conn, 3_000, seed=11, business_date=BUSINESS_DATE)
    assert counts["loan"] == 3_000 and counts["application"] == 3_000
    assert counts["payment"] > 3_000 and counts["repayment_transaction"] > 0

    # every disbursement status, and stuck INITIATED loans at 170 and at 181
    statuses = dict(_all(conn, "SELECT disburse_status, count(*) FROM disbursement GROUP BY 1"))
    assert set(statuses) == {"INITIATED", "PENDING", "COMPLETED", "FAILED"}
    stuck = dict(_all(conn, """SELECT a.application_status_code, count(*) FROM disbursement d
                               JOIN loan l USING (loan_id) JOIN application a USING (application_id)
                               WHERE d.disburse_status = 'INITIATED' GROUP BY 1"""))
    assert stuck.get(170, 0) > 0 and stuck.get(181, 0) > 0

    # only Bukalapak applications carry an invoice id, and all of them do
    rows = _all(conn, "SELECT partner_id = %s, invoice_id IS NOT NULL, count(*) FROM application GROUP BY 1, 2",
                BUKALAPAK_PARTNER_ID)
    assert {(is_bl, has_inv) for is_bl, has_inv, _ in rows} == {(True, True), (False, False)}

    # all three zones, PEDE and JULO, and some fallbacks among the T-3 set
    families, fallbacks = set(), 0
    for zone in Zone:
        due = list(iter_t3_payments(conn, zone, BUSINESS_DATE))
        assert due, f"no T-3 payments in {zone.name}"
        families |= {p.product_family for p in due}
        fallbacks += sum(p.zone_fallback for p in due)
    conn.commit()
    assert families == {"JULO", "PEDE"} and fallbacks > 0

    # a few percent of all payments fall exactly at T-3; some of them already paid or inactive
    t3_total, t3_paid, t3_inactive, total = _one(conn, """
        SELECT count(*) FILTER (WHERE due_date = %s),
               count(*) FILTER (WHERE due_date = %s AND payment_status_code >= 330),
               count(*) FILTER (WHERE due_date = %s AND NOT is_robocall_active), count(*) FROM payment""",
        date(2026, 11, 25), date(2026, 11, 25), date(2026, 11, 25))
    assert 0.01 < t3_total / total < 0.08
    assert t3_paid > 0 and t3_inactive > 0


def test_ledger_adds_up(conn):
    load(conn, 1_500, seed=3, business_date=BUSINESS_DATE)
    # per payment, what the ledger says was repaid equals what the payment row says was paid
    mismatches = _one(conn, """
        SELECT count(*) FROM payment p
        JOIN (SELECT payment_id, sum(borrower_repaid) AS repaid, sum(borrower_repaid_principal) AS pr
              FROM repayment_transaction GROUP BY 1) t USING (payment_id)
        WHERE t.repaid <> p.paid_amount OR t.pr <> p.paid_principal""")[0]
    assert mismatches == 0
    # principal repaid never exceeds the loan amount
    over = _one(conn, """SELECT count(*) FROM loan l JOIN (SELECT loan_id, sum(borrower_repaid_principal) s
                         FROM repayment_transaction GROUP BY 1) t USING (loan_id) WHERE t.s > l.loan_amount""")[0]
    assert over == 0
    # installment principals add up to the loan amount
    bad = _one(conn, """SELECT count(*) FROM loan l JOIN (SELECT loan_id, sum(installment_principal) s
                        FROM payment GROUP BY 1) p USING (loan_id) WHERE p.s <> l.loan_amount""")[0]
    assert bad == 0
    # each partner's lender balance runs without gaps
    gaps = _one(conn, """SELECT count(*) FROM (
        SELECT lender_balance_before, lag(lender_balance_after) OVER (PARTITION BY partner_id
               ORDER BY event_date, payment_id, repayment_transaction_id) AS prev
        FROM repayment_transaction) x WHERE prev IS NOT NULL AND prev <> lender_balance_before""")[0]
    assert gaps == 0


FINGERPRINT = """
    SELECT md5(string_agg(concat_ws('|', p.payment_id, p.due_date, p.due_amount, p.payment_status_code,
                                    p.paid_amount, p.is_robocall_active, a.fullname, a.address_kodepos),
                          ',' ORDER BY p.payment_id))
    FROM payment p JOIN loan l USING (loan_id) JOIN application a USING (application_id)"""


def test_same_seed_same_rows(conn):
    load(conn, 500, seed=5, business_date=BUSINESS_DATE)
    first = _one(conn, FINGERPRINT)
    load(conn, 500, seed=5, business_date=BUSINESS_DATE)
    assert _one(conn, FINGERPRINT) == first
    load(conn, 500, seed=6, business_date=BUSINESS_DATE)
    assert _one(conn, FINGERPRINT) != first
