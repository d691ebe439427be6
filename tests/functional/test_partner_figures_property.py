"""Every partner figure rebuilt in Python from the raw ledger rows, for random books.

The oracle below reads `application`, `loan`, `disbursement` and `repayment_transaction` as they
are and applies the formulas of docs/partner-api.md with no SQL arithmetic and none of the
rollup's code: net profit is taken as the borrowers' interest and late fee less the platform's
share of them (the issue's "equivalently"), repayment as Σ `lender_received`. The API's summary,
`partner_summary()` and every report row (all pages, both orders) must equal it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.partners.figures import partner_summary
from chalicelib.repayment_split import Components
from chalicelib.statuses import DisbursementStatus
from tests.api_support import api_client, get, partner_key
from tests.conftest import truncate_all
from tests.factories import MadeLoan, make_loan, make_partner, next_id

PARTNERS = (7, 8)
FIGURES = ("disbursement", "outstanding", "repayment", "principal", "interest", "late_fee", "fee", "net_profit")
START = datetime(2026, 1, 1, tzinfo=UTC)

loans = st.fixed_dictionaries({
    "amount": st.integers(1, 20_000_000),
    "disburse_status": st.sampled_from(list(DisbursementStatus)),
    "disburse_amount": st.integers(1, 20_000_000),
})
applications = st.fixed_dictionaries({
    "partner": st.sampled_from(PARTNERS),
    "deleted": st.sampled_from([False, False, False, True]),
    "minutes": st.integers(0, 90 * 24 * 60),  # cdate: ties between applications happen
    "loan": st.none() | loans,
})


@st.composite
def repayments(draw: st.DrawFn) -> tuple[int, Components, Components]:
    """(which loan, what the borrower repaid, the platform's share of it)."""
    repaid = draw(st.builds(Components, st.integers(0, 5_000_000), st.integers(0, 900_000), st.integers(0, 200_000)))
    fee = Components(0, draw(st.integers(0, repaid.interest)), draw(st.integers(0, repaid.late_fee)))
    return draw(st.integers(0, 7)), repaid, fee


def _add_application_without_loan(conn: Any, partner_id: int, cdate: datetime, deleted: bool) -> None:
    n = next_id()
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO application (application_id, application_xid, customer_id, partner_id, fullname, "
            "application_status_code, is_deleted, cdate) VALUES (%s, %s, %s, %s, 'Sari Dewi', 110, %s, %s)",
            (100_000 + n, 9_000_000_000 + n, 200_000 + n, partner_id, deleted, cdate))


def _add_repayment(conn: Any, loan: MadeLoan, repaid: Components, fee: Components) -> None:
    lender = Components(repaid.principal - fee.principal, repaid.interest - fee.interest,
                        repaid.late_fee - fee.late_fee)
    with conn.cursor() as cur:
        cur.execute(
            """INSERT INTO repayment_transaction (repayment_transaction_id, partner_id, customer_id, loan_id,
                   payment_id, event_date, borrower_repaid, borrower_repaid_principal, borrower_repaid_interest,
                   borrower_repaid_late_fee, lender_received, lender_received_principal, lender_received_interest,
                   lender_received_late_fee, julo_fee_received, julo_fee_received_principal,
                   julo_fee_received_interest, julo_fee_received_late_fee, due_amount_before, due_amount_after,
                   lender_balance_before, lender_balance_after)
               VALUES (%s, NULL, %s, %s, %s, '2026-11-01', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                       %s, 0, 0, %s)""",
            (700_000 + next_id(), loan.customer_id, loan.loan_id, loan.payment_ids[0],
             repaid.total, repaid.principal, repaid.interest, repaid.late_fee,
             lender.total, lender.principal, lender.interest, lender.late_fee,
             fee.total, fee.principal, fee.interest, fee.late_fee, repaid.total, lender.total))


def _build(conn: Any, apps: list[dict[str, Any]], payments: list[tuple[int, Components, Components]]) -> None:
    truncate_all(conn)
    for partner_id in PARTNERS:
        make_partner(conn, partner_id, f"Dana {partner_id}")
    made: list[MadeLoan] = []
    for app in apps:
        cdate = START + timedelta(minutes=app["minutes"])
        if app["loan"] is None:
            _add_application_without_loan(conn, app["partner"], cdate, app["deleted"])
            continue
        loan = make_loan(conn, partner_id=app["partner"], loan_amount=app["loan"]["amount"], cdate=cdate,
                         disburse_status=app["loan"]["disburse_status"],
                         disburse_amount=app["loan"]["disburse_amount"])
        made.append(loan)
        if app["deleted"]:
            with conn.cursor() as cur:
                cur.execute("UPDATE application SET is_deleted = TRUE WHERE application_id = %s",
                            (loan.application_id,))
    for index, repaid, fee in payments:
        if made:
            _add_repayment(conn, made[index % len(made)], repaid, fee)
    conn.commit()


def _rows(conn: Any, sql: str) -> list[dict[str, Any]]:
    with conn.cursor() as cur:
        cur.execute(sql)
        names = [c.name for c in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    conn.commit()
    return rows


def oracle(conn: Any, partner_id: int) -> tuple[dict[int, dict[str, Any]], dict[str, int]]:
    """Per application_xid of the partner's book: its figures; and the partner's totals."""
    apps = [a for a in _rows(conn, "SELECT application_id, application_xid, partner_id, is_deleted, cdate "
                                   "FROM application") if a["partner_id"] == partner_id and not a["is_deleted"]]
    loans = _rows(conn, "SELECT loan_id, application_id, loan_amount FROM loan")
    disbursements = _rows(conn, "SELECT loan_id, disburse_status, disburse_amount FROM disbursement")
    ledger = _rows(conn, "SELECT * FROM repayment_transaction")

    per_app: dict[int, dict[str, Any]] = {}
    loan_count = 0
    for app in apps:
        figures: dict[str, Any] = dict.fromkeys(FIGURES, 0)
        mine = [loan for loan in loans if loan["application_id"] == app["application_id"]]
        loan_count += len(mine)
        for loan in mine:
            completed = [d for d in disbursements
                         if d["loan_id"] == loan["loan_id"] and d["disburse_status"] == "COMPLETED"]
            txns = [t for t in ledger if t["loan_id"] == loan["loan_id"]]
            principal = sum(t["lender_received_principal"] for t in txns)
            figures["disbursement"] += sum(d["disburse_amount"] for d in completed)
            figures["principal"] += principal
            figures["interest"] += sum(t["lender_received_interest"] for t in txns)
            figures["late_fee"] += sum(t["lender_received_late_fee"] for t in txns)
            figures["fee"] += sum(t["julo_fee_received"] for t in txns)
            figures["repayment"] += sum(t["lender_received"] for t in txns)
            figures["net_profit"] += sum(t["borrower_repaid_interest"] + t["borrower_repaid_late_fee"]
                                         - t["julo_fee_received_interest"] - t["julo_fee_received_late_fee"]
                                         for t in txns)
            if completed:
                figures["outstanding"] += max(loan["loan_amount"] - principal, 0)
        figures["loan_amount"] = sum(loan["loan_amount"] for loan in mine) if mine else None
        figures["cdate"] = app["cdate"]
        per_app[app["application_xid"]] = figures
    totals: dict[str, int] = dict.fromkeys(FIGURES, 0)
    for figures in per_app.values():
        for name in FIGURES:
            totals[name] += figures[name]
    totals["loan_count"] = loan_count
    return per_app, dict(totals)


def _all_pages(client: Any, key: str, order: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        path = f"/v1/partner/report?limit=2&order={order}" + (f"&cursor={cursor}" if cursor else "")
        status, body, _ = get(client, path, key)
        assert status == 200, body
        rows.extend(body["rows"])
        cursor = body["next_cursor"]
        if cursor is None:
            return rows


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(apps=st.lists(applications, min_size=1, max_size=7), payments=st.lists(repayments(), max_size=10))
def test_every_figure_equals_the_python_rebuild_from_the_ledger(conn, apps, payments):
    _build(conn, apps, payments)
    keys = {p: partner_key(conn, p) for p in PARTNERS}
    with api_client() as client:
        for partner_id, key in keys.items():
            expected_rows, expected_totals = oracle(conn, partner_id)
            status, summary, _ = get(client, "/v1/partner/summary", key)
            assert status == 200
            assert {k: summary[k] for k in expected_totals} == expected_totals
            direct = partner_summary(conn, partner_id)
            assert direct.loan_count == expected_totals["loan_count"]
            assert direct.figures.as_dict() == {k: expected_totals[k] for k in FIGURES}
            for order in ("newest", "oldest"):
                rows = _all_pages(client, key, order)
                assert {r["application_xid"] for r in rows} == set(expected_rows)
                assert len(rows) == len(expected_rows)
                for row in rows:
                    want = expected_rows[row["application_xid"]]
                    assert {k: row[k] for k in FIGURES} == {k: want[k] for k in FIGURES}
                    assert row["loan_amount"] == want["loan_amount"]
                stamps = [datetime.fromisoformat(r["cdate"]) for r in rows]
                assert stamps == sorted(stamps, reverse=order == "newest")
