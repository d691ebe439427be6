"""The hourly outbox sweeper sends the emails the consumer could not, exactly once."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import psycopg2.extensions
import pytest

from chalicelib import settings
from chalicelib.disbursements.apply import apply_event
from chalicelib.disbursements.event import parse_event
from chalicelib.emails.ses import sender_address
from functions import email_outbox_sweeper
from localdev.aws.bootstrap import bootstrap
from localdev.aws.moto_ses import sent_raw_emails
from tests.factories import add_history, make_loan, make_partner

FIRED = {"time": "2026-11-20T04:07:00Z"}


def _completed_without_email(conn: psycopg2.extensions.connection, email: str) -> int:
    make_partner(conn, 1, "Bukalapak", "marketplace")
    loan = make_loan(conn, due_dates=[date(2026, 12, 20)], disburse_status="PENDING", application_status=170,
                     loan_status=210, email=email)
    add_history(conn, loan.application_id, [100, 110, 120, 130, 160, 170])
    conn.commit()
    apply_event(conn, parse_event(json.dumps({
        "event_id": f"evt-{loan.disbursement_id}", "disbursement_id": loan.disbursement_id, "status": "COMPLETED",
        "occurred_at": datetime(2026, 11, 20, 3, tzinfo=UTC).isoformat()})))
    with conn.cursor() as cur:  # the row is older than the sweeper's grace period
        cur.execute("UPDATE email_outbox SET cdate = cdate - interval '1 hour'")
    conn.commit()
    return loan.disbursement_id


def test_unsent_emails_are_sent_once_and_a_second_sweep_sends_nothing(
    conn: psycopg2.extensions.connection, aws: str,
) -> None:
    bootstrap()
    _completed_without_email(conn, "sari@example.com")
    assert email_outbox_sweeper.handler(FIRED, None) == {"unsent": 1, "sent": 1, "skipped": 0,
                                                         "stopped_early": False}
    assert email_outbox_sweeper.handler(FIRED, None)["unsent"] == 0
    assert len(sent_raw_emails()) == 1


def test_ses_down_stops_the_sweep_and_the_next_one_sends(
    conn: psycopg2.extensions.connection, aws: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    bootstrap()
    _completed_without_email(conn, "rina@example.com")
    settings.aws_clients().client("ses").delete_identity(Identity=sender_address())  # SES refuses: MessageRejected
    assert email_outbox_sweeper.handler(FIRED, None)["skipped"] == 1
    settings.aws_clients().client("ses").verify_email_identity(EmailAddress=sender_address())
    assert email_outbox_sweeper.handler(FIRED, None)["sent"] == 1
    assert len(sent_raw_emails()) == 1
