"""The SQS consumer end to end: moto queue + DLQ, the Lambda-like runtime, PostgreSQL, SES in moto."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from email.utils import parseaddr

from chalicelib import resources, settings
from chalicelib.emails.ses import sender_address
from localdev.aws.bootstrap import bootstrap
from localdev.aws.moto_ses import sent_raw_emails
from localdev.lambda_runtime.runtime import IN_PROCESS, LambdaRuntime
from tests.factories import add_history, make_loan, make_partner

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
RELAYED = ["disbursement-events", "email-outbox"]  # the event, then its email through the outbox relay


def _loan(conn, status: str, email: str):
    make_partner(conn, 1, "Bukalapak", "marketplace")
    loan = make_loan(conn, due_dates=[date(2026, 12, 20), date(2027, 1, 20), date(2027, 2, 20)],
                     disburse_status=status, application_status=170, loan_status=210, email=email)
    add_history(conn, loan.application_id, [100, 110, 120, 130, 160, 170])
    return loan


def _addresses(sent) -> set[str]:
    """moto lists both the Destinations and the To header; the mailbox addresses are what counts."""
    return {parseaddr(d)[1] for d in sent.destinations}


def _event(event_id: str, disbursement_id: int, status: str, minutes: int) -> dict:
    return {"event_id": event_id, "disbursement_id": disbursement_id, "status": status,
            "occurred_at": (T0 + timedelta(minutes=minutes)).isoformat()}


def _send(urls: dict, bodies: list) -> None:
    entries = [{"Id": str(i), "MessageBody": b if isinstance(b, str) else json.dumps(b)} for i, b in enumerate(bodies)]
    settings.aws_clients().client("sqs").send_message_batch(QueueUrl=urls["disbursement-events"], Entries=entries)


def test_poison_message_goes_to_dlq_and_good_ones_apply_once_with_one_email(conn, aws):
    pending = _loan(conn, "PENDING", "siti@example.com")
    other = _loan(conn, "PENDING", "agus@example.com")
    conn.commit()
    urls = bootstrap().queue_urls
    assert sender_address() in settings.aws_clients().client("ses").list_identities()["Identities"]
    completed = _event("evt-c1", pending.disbursement_id, "COMPLETED", 10)
    _send(urls, [
        completed,
        '{"event_id": "evt-poison", "status": "COMPLETED"',  # truncated JSON
        _event("evt-f1", other.disbursement_id, "FAILED", 5),
        completed,  # the same event delivered twice in one batch
    ])
    runtime = LambdaRuntime(mode=IN_PROCESS)  # the template's functions, run in this process
    totals = runtime.drain(RELAYED)

    assert totals["disbursement-events"].failed == 10  # only the poison message, maxReceiveCount times
    sqs = settings.aws_clients().client("sqs")
    dead = sqs.receive_message(QueueUrl=urls["disbursement-events-dlq"], MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in dead] == ['{"event_id": "evt-poison", "status": "COMPLETED"']
    with conn.cursor() as cur:
        cur.execute("SELECT disbursement_id, disburse_status FROM disbursement ORDER BY disbursement_id")
        assert cur.fetchall() == [(pending.disbursement_id, "COMPLETED"), (other.disbursement_id, "FAILED")]
        cur.execute("SELECT event_id, outcome FROM disbursement_event ORDER BY event_id")
        assert cur.fetchall() == [("evt-c1", "applied"), ("evt-f1", "applied")]
        cur.execute("SELECT recipient, ses_message_id IS NOT NULL FROM email_outbox WHERE sent_at IS NOT NULL")
        assert cur.fetchall() == [("siti@example.com", True)]
    conn.commit()

    emails = sent_raw_emails()
    assert [_addresses(e) for e in emails] == [{"siti@example.com"}]
    assert emails[0].parsed()["To"] == "Budi Santoso <siti@example.com>"
    assert emails[0].source == sender_address()

    # a later redelivery of the COMPLETED event (another batch) still sends nothing
    _send(urls, [completed])
    runtime.drain(RELAYED)
    assert len(sent_raw_emails()) == 1


def test_email_not_sent_when_ses_fails_is_sent_by_the_retry(conn, aws):
    loan = _loan(conn, "PENDING", "dewi@example.com")
    conn.commit()
    bootstrap()
    # the sender identity is gone: SES refuses, the relay's message is retried, nothing is marked sent
    settings.aws_clients().client("ses").delete_identity(Identity=sender_address())
    urls = {"disbursement-events": resources.queue_url("disbursement-events")}
    _send(urls, [_event("evt-x", loan.disbursement_id, "COMPLETED", 1)])
    runtime = LambdaRuntime(mode=IN_PROCESS)
    applied = runtime.deliver("disbursement-events")
    assert applied.succeeded == 1  # the event itself never waits on SES
    relayed = runtime.deliver("email-outbox")
    assert relayed.failed == 1 and sent_raw_emails() == []
    with conn.cursor() as cur:
        cur.execute("SELECT disburse_status FROM disbursement")
        assert cur.fetchone() == ("COMPLETED",)  # the transition itself is committed
        cur.execute("SELECT sent_at FROM email_outbox")
        assert cur.fetchone() == (None,)
    conn.commit()
    settings.aws_clients().client("ses").verify_email_identity(EmailAddress=sender_address())
    runtime.drain(RELAYED)
    assert [_addresses(e) for e in sent_raw_emails()] == [{"dewi@example.com"}]
