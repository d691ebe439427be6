"""One SQS message of ``disbursement-events``: validate, apply, send the email if due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg2.extensions

from chalicelib.disbursements.apply import Applied, TransitionRefused, UnknownDisbursement, apply_event
from chalicelib.disbursements.calendar_email import Mailer, Sent, send_calendar_email
from chalicelib.disbursements.event import DisbursementEvent, InvalidEvent, parse_event
from chalicelib.edge.sqs import RecordContext
from chalicelib.emails.ses import SesMailer, sender_address
from chalicelib.logs import get_logger

logger = get_logger("disbursement-events")

# Retrying these cannot help: the message goes to the DLQ after its tries, within seconds.
POISON: tuple[type[Exception], ...] = (InvalidEvent, UnknownDisbursement, TransitionRefused)


@dataclass(frozen=True)
class Handled:
    applied: Applied
    email: Sent | None


def handle_message(
    conn: psycopg2.extensions.connection, body: str, mailer: Mailer, sender: str, now: datetime | None = None,
) -> Handled:
    """Raises InvalidEvent, UnknownDisbursement or TransitionRefused (poison: dead-lettered), or a
    transient error (database, SES, WaitForEarlierEvent) for a message to retry with backoff."""
    return handle_event(conn, parse_event(body), mailer, sender, now)


def handle_event(
    conn: psycopg2.extensions.connection, event: DisbursementEvent, mailer: Mailer, sender: str,
    now: datetime | None = None,
) -> Handled:
    applied = apply_event(conn, event)
    ids = {"event_id": event.event_id, "disbursement_id": event.disbursement_id, "status": event.status.value}
    logger.info("disbursement event", extra={**ids, "outcome": applied.outcome.value,
                                              "status_before": applied.status_before})
    # Always try the outbox, also for a duplicate: it may be the retry of a failed send.
    sent = send_calendar_email(conn, event.disbursement_id, mailer, sender, now or datetime.now(UTC))
    if sent:
        logger.info("repayment calendar emailed", extra={**ids, "ses_message_id": sent.message_id})
    return Handled(applied, sent)


def handle_record(ctx: RecordContext) -> Handled:
    """The SQS record handler (functions/disbursement_events.py)."""
    event = parse_event(ctx.body)  # before the connection: a poison message needs no database
    return handle_event(ctx.conn, event, SesMailer(), sender_address())
