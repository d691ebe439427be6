"""Shared set-up of the disbursement chaos scenarios: loans waiting for their events, and what to check."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime
from email.utils import parseaddr

import psycopg2
import psycopg2.extensions

from chalicelib import settings
from localdev.aws.moto_ses import sent_raw_emails
from tests.factories import MadeLoan, add_history, make_loan, make_partner


def waiting_loans(conn: psycopg2.extensions.connection, n: int, status: str = "PENDING") -> list[MadeLoan]:
    make_partner(conn, 1, "Bukalapak", "marketplace")
    loans = []
    for i in range(n):
        loan = make_loan(conn, due_dates=[date(2026, 12, 20), date(2027, 1, 20)], disburse_status=status,
                         application_status=170, loan_status=210, email=f"borrower{i}@example.com")
        add_history(conn, loan.application_id, [100, 110, 120, 130, 160, 170])
        loans.append(loan)
    conn.commit()
    return loans


def event(event_id: str, loan: MadeLoan, status: str, at: datetime) -> str:
    return json.dumps({"event_id": event_id, "disbursement_id": loan.disbursement_id, "status": status,
                       "occurred_at": at.isoformat()})


def fetch(sql: str, *args: object) -> list[tuple]:
    """A fresh connection: chaos kills sessions, the test's own included."""
    conn = psycopg2.connect(settings.database_url())
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


def statuses() -> dict[int, tuple[str, int]]:
    return {d: (s, r) for d, s, r in fetch("SELECT disbursement_id, disburse_status, retry_times FROM disbursement")}


def emails_by_recipient() -> Counter[str]:
    """What SES accepted (moto's mailbox), one count per recipient address."""
    return Counter(a for m in sent_raw_emails() for a in {parseaddr(d)[1] for d in m.destinations})


def email_of(loan: MadeLoan) -> str:
    (row,) = fetch("SELECT email FROM application WHERE application_id = %s", loan.application_id)
    return row[0]
