"""Partner summary and first report page at 200,000 loans / 1,000,000 repayments for one partner.

    LOCAL_PG_DB=julo_bench4 \
      .venv/bin/python -m localdev.services -- .venv/bin/python bench/partner_views.py

Builds the book once with set-based SQL (``INSERT ... SELECT generate_series``; ``--rebuild`` to
redo it) into the database in DATABASE_URL: partner 1 with --loans loans and 5 repayments each,
plus a smaller partner 2 so the partner filter has something to skip. Then, through the Chalice
app in-process (``chalice.test.Client``: auth, connection reuse, SQL, JSON), times --repeat calls
of GET /v1/partner/summary and GET /v1/partner/report (first page, 100 rows), and in the same
run, against the same data:

- naive: the old way, every transaction, disbursement and loan of the partner fetched and summed
  in Python loops (the report page = all applications' figures computed that way, then sliced);
- direct SQL: the same figures aggregated straight from repayment_transaction, no rollup.

The API reads partner_figure_totals (16 shard rows per partner, migration 0203) for the summary and
partner_loan_figures (per loan, migration 0200) joined per application for the report page.

Prints median and p95 per variant and the ratio naive / API; checks all variants agree.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg2  # noqa: E402
import psycopg2.extensions  # noqa: E402
from chalice.test import Client  # noqa: E402

from app import app  # noqa: E402
from chalicelib import db  # noqa: E402
from chalicelib.partners.keys import create_partner_key, list_keys, revoke_key  # noqa: E402

T = TypeVar("T")

PARTNER = 1
OTHER = 2
PAYMENTS_PER_LOAN = 5

BUILD = [
    "TRUNCATE repayment_transaction, application_history, payment, disbursement, loan, application, "
    "partner_api_key, partner CASCADE",
    "INSERT INTO partner (partner_id, name) VALUES (1, 'Bench Lender'), (2, 'Other Lender')",
    # partner 1: loans 1..N; partner 2: loans N+1..N+N/10
    """INSERT INTO application (application_id, application_xid, customer_id, partner_id, product_line_code,
           fullname, email, loan_purpose, credit_grade, application_status_code, cdate, udate)
       SELECT g, 5000000000 + g, 1000000 + g, CASE WHEN g <= %(n)s THEN 1 ELSE 2 END, 10,
              'Budi Santoso ' || g, 'budi' || g || '@gmail.com', 'Modal usaha', 'B',
              CASE WHEN g %% 20 = 0 THEN 181 ELSE 180 END,
              timestamptz '2024-01-01 08:00+07' + g * interval '3 minutes',
              timestamptz '2024-01-01 08:00+07' + g * interval '3 minutes'
       FROM generate_series(1, %(n)s + %(n)s / 10) g""",
    """INSERT INTO loan (loan_id, application_id, customer_id, application_xid, partner, loan_status_code,
           product_code, loan_amount, loan_duration, installment_amount, cdate, udate)
       SELECT g, g, 1000000 + g, 5000000000 + g, CASE WHEN g <= %(n)s THEN 1 ELSE 2 END, 220, 10,
              1000000 * (1 + g %% 6), 5, 1000000 * (1 + g %% 6) / 5 + 40000, now(), now()
       FROM generate_series(1, %(n)s + %(n)s / 10) g""",
    """INSERT INTO disbursement (disbursement_id, loan_id, disburse_status, disburse_amount)
       SELECT g, g, CASE WHEN g %% 20 = 0 THEN 'FAILED' ELSE 'COMPLETED' END, 950000 * (1 + g %% 6)
       FROM generate_series(1, %(n)s + %(n)s / 10) g""",
    """INSERT INTO payment (payment_id, loan_id, payment_number, payment_status_code, due_date, due_amount,
           installment_principal, installment_interest, paid_amount)
       SELECT l * 10 + k, l, k, 330, date '2024-02-01' + (k - 1) * 30, 1000000 * (1 + l %% 6) / 5 + 40000,
              1000000 * (1 + l %% 6) / 5, 40000, 1000000 * (1 + l %% 6) / 5 + 40000
       FROM generate_series(1, %(n)s + %(n)s / 10) l, generate_series(1, 5) k""",
    # principal p (a third of the loans fully repaid), interest 40,000 (platform keeps 20%),
    # a 50,000 late fee on every 7th
    """INSERT INTO repayment_transaction (repayment_transaction_id, partner_id, customer_id, loan_id, payment_id,
           event_date, borrower_repaid, borrower_repaid_principal, borrower_repaid_interest,
           borrower_repaid_late_fee, lender_received, lender_received_principal, lender_received_interest,
           lender_received_late_fee, julo_fee_received, julo_fee_received_principal,
           julo_fee_received_interest, julo_fee_received_late_fee, due_amount_before, due_amount_after,
           lender_balance_before, lender_balance_after)
       SELECT l * 10 + k, CASE WHEN l <= %(n)s THEN 1 ELSE 2 END, 1000000 + l, l, l * 10 + k,
              date '2024-02-01' + (k - 1) * 30,
              p + 40000 + lf, p, 40000, lf,
              p + 32000 + lf * 8 / 10, p, 32000, lf * 8 / 10,
              8000 + lf - lf * 8 / 10, 0, 8000, lf - lf * 8 / 10,
              p + 40000 + lf, 0, 0, 0
       FROM (SELECT l, k, 1000000 * (1 + l %% 6) / (5 + l %% 3) AS p,
                    CASE WHEN (l + k) %% 7 = 0 THEN 50000 ELSE 0 END AS lf
             FROM generate_series(1, %(n)s + %(n)s / 10) l, generate_series(1, 5) k) x""",
]


def build(conn: psycopg2.extensions.connection, loans: int) -> None:
    started = time.perf_counter()
    with conn.cursor() as cur:
        for statement in BUILD:
            cur.execute(statement, {"n": loans})
    conn.commit()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    conn.autocommit = False
    print(f"built the book in {time.perf_counter() - started:.1f}s")


def book_size(conn: psycopg2.extensions.connection) -> tuple[int, int]:
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM loan WHERE partner = %s", (PARTNER,))
        loans = db.one(cur)[0]
        cur.execute("SELECT count(*) FROM repayment_transaction WHERE partner_id = %s", (PARTNER,))
        txns = db.one(cur)[0]
    conn.commit()
    return loans, txns


# --- the naive implementation: fetch everything, sum in Python loops -----------------------------
def naive_figures(conn: psycopg2.extensions.connection, partner_id: int) -> dict[int, dict[str, int]]:
    """Per-application figures the old way: every row into Python, summed in loops."""
    figures: dict[int, dict[str, int]] = {}
    loan_app: dict[int, int] = {}
    loan_amount: dict[int, int] = {}
    with conn.cursor() as cur:
        cur.execute("SELECT a.application_id, l.loan_id, l.loan_amount FROM application a "
                    "LEFT JOIN loan l ON l.application_id = a.application_id "
                    "WHERE a.partner_id = %s AND NOT a.is_deleted", (partner_id,))
        for app_id, loan_id, amount in cur.fetchall():
            figures.setdefault(app_id, defaultdict(int))
            if loan_id is not None:
                loan_app[loan_id] = app_id
                loan_amount[loan_id] = amount
        cur.execute("SELECT loan_id, disburse_status, disburse_amount FROM disbursement")
        disbursed: set[int] = set()
        for loan_id, status, amount in cur.fetchall():
            if loan_id in loan_app and status == "COMPLETED":
                figures[loan_app[loan_id]]["disbursement"] += amount
                disbursed.add(loan_id)
        cur.execute("SELECT loan_id, lender_received_principal, lender_received_interest, "
                    "lender_received_late_fee, julo_fee_received FROM repayment_transaction")
        principal_by_loan: dict[int, int] = defaultdict(int)
        for loan_id, principal, interest, late_fee, fee in cur.fetchall():
            if loan_id not in loan_app:
                continue
            f = figures[loan_app[loan_id]]
            f["principal"] += principal
            f["interest"] += interest
            f["late_fee"] += late_fee
            f["fee"] += fee
            principal_by_loan[loan_id] += principal
    conn.commit()
    for loan_id in disbursed:
        figures[loan_app[loan_id]]["outstanding"] += max(loan_amount[loan_id] - principal_by_loan[loan_id], 0)
    return figures


def naive_summary(conn: psycopg2.extensions.connection, partner_id: int) -> dict[str, int]:
    total: dict[str, int] = defaultdict(int)
    for f in naive_figures(conn, partner_id).values():
        for k, v in f.items():
            total[k] += v
    return dict(total)


def naive_first_page(conn: psycopg2.extensions.connection, partner_id: int, limit: int = 100) -> list[int]:
    figures = naive_figures(conn, partner_id)
    with conn.cursor() as cur:
        cur.execute("SELECT application_id FROM application WHERE partner_id = %s AND NOT is_deleted "
                    "ORDER BY cdate DESC, application_id DESC LIMIT %s", (partner_id, limit))
        ids = [r[0] for r in cur.fetchall()]
    conn.commit()
    return [figures[i]["principal"] for i in ids]


DIRECT_SUMMARY = """
SELECT COALESCE(SUM(d.disbursement), 0), COALESCE(SUM(r.principal), 0), COALESCE(SUM(r.interest), 0),
       COALESCE(SUM(r.late_fee), 0), COALESCE(SUM(r.fee), 0),
       COALESCE(SUM(GREATEST(l.loan_amount - COALESCE(r.principal, 0), 0)) FILTER (WHERE d.disbursement > 0), 0)
FROM application a JOIN loan l ON l.application_id = a.application_id
LEFT JOIN (SELECT loan_id, SUM(disburse_amount) AS disbursement FROM disbursement
           WHERE disburse_status = 'COMPLETED' GROUP BY loan_id) d ON d.loan_id = l.loan_id
LEFT JOIN (SELECT loan_id, SUM(lender_received_principal) AS principal, SUM(lender_received_interest) AS interest,
                  SUM(lender_received_late_fee) AS late_fee, SUM(julo_fee_received) AS fee
           FROM repayment_transaction WHERE partner_id = %s GROUP BY loan_id) r ON r.loan_id = l.loan_id
WHERE a.partner_id = %s AND NOT a.is_deleted
"""


def direct_summary(conn: psycopg2.extensions.connection, partner_id: int) -> dict[str, int]:
    with conn.cursor() as cur:
        cur.execute(DIRECT_SUMMARY, (partner_id, partner_id))
        d, p, i, lf, fee, out = db.one(cur)
    conn.commit()
    return {"disbursement": d, "principal": p, "interest": i, "late_fee": lf, "fee": fee, "outstanding": out}


# --- timing --------------------------------------------------------------------------------------
def timed(fn: Callable[[], T], repeat: int, warmup: int = 1) -> tuple[list[float], T]:
    result = fn() if warmup else None
    for _ in range(warmup - 1):
        result = fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - started) * 1000)
    assert result is not None
    return samples, result


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


BENCH_ACTOR = "bench/partner_views.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=50, help="calls per API variant")
    parser.add_argument("--naive-repeat", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()

    # this bench times the views, back to back: the per-partner rate limit (bench/partner_rate_limit.py)
    # would answer most of its calls with a 429
    os.environ["PARTNER_RATE_LIMIT_PER_SECOND"] = "0"
    conn = psycopg2.connect(os.environ["DATABASE_URL"])
    loans, txns = book_size(conn)
    if args.rebuild or loans != args.loans or txns != args.loans * PAYMENTS_PER_LOAN:
        build(conn, args.loans)
        loans, txns = book_size(conn)
    for old in list_keys(conn, partner_id=PARTNER):  # a partner holds two live keys at most
        revoke_key(conn, old.key_prefix, actor=BENCH_ACTOR)
    key = create_partner_key(conn, PARTNER, actor=BENCH_ACTOR)
    print(f"partner {PARTNER}: {loans:,} loans, {txns:,} repayment transactions "
          f"(database {os.environ['DATABASE_URL'].rsplit('/', 1)[-1]})\n")

    rows = []
    with Client(app) as client:
        def api(path: str) -> dict[str, Any]:
            response = client.http.get(path, headers={"x-api-key": key})
            assert response.status_code == 200, response.body[:300]
            return json.loads(response.body)

        summary_ms, summary = timed(lambda: api("/v1/partner/summary"), args.repeat)
        page_ms, page = timed(lambda: api("/v1/partner/report?limit=100"), args.repeat)
    direct_ms, direct = timed(lambda: direct_summary(conn, PARTNER), max(3, args.naive_repeat))
    naive_ms, naive = timed(lambda: naive_summary(conn, PARTNER), args.naive_repeat, warmup=0)
    naive_page_ms, naive_page = timed(lambda: naive_first_page(conn, PARTNER), args.naive_repeat, warmup=0)

    for name in ("disbursement", "principal", "interest", "late_fee", "fee", "outstanding"):
        assert summary[name] == naive[name] == direct[name], (name, summary[name], naive[name], direct[name])
    assert summary["net_profit"] == naive["interest"] + naive["late_fee"]
    assert [r["principal"] for r in page["rows"]] == naive_page

    rows = [
        ("summary via API (partner totals)", summary_ms),
        ("summary, direct SQL aggregate", direct_ms),
        ("summary, naive Python loops", naive_ms),
        ("report page 1 via API", page_ms),
        ("report page 1, naive Python loops", naive_page_ms),
    ]
    print(f"{'variant':<36} {'calls':>5} {'median ms':>10} {'p95 ms':>9}")
    for name, samples in rows:
        print(f"{name:<36} {len(samples):>5} {statistics.median(samples):>10.1f} {p95(samples):>9.1f}")
    s_med, n_med = statistics.median(summary_ms), statistics.median(naive_ms)
    print(f"\nsummary: naive / API = {n_med / s_med:,.0f}x; direct SQL / API = "
          f"{statistics.median(direct_ms) / s_med:,.1f}x (target: API median < 100 ms and >= 20x naive)")
    print(f"report page 1: naive / API = {statistics.median(naive_page_ms) / statistics.median(page_ms):,.0f}x")
    print(f"figures agree across variants: repayment {summary['repayment']:,}, outstanding {summary['outstanding']:,}")
    conn.close()
    return 0 if s_med < 100 and n_med / s_med >= 20 else 1


if __name__ == "__main__":
    sys.exit(main())
