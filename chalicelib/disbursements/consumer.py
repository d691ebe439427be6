"""One SQS message of ``disbursement-events``: validate, apply, hand the email to the outbox relay.

The event's transaction writes the status change and, for a COMPLETED, the email's outbox row.
After the commit a message on ``email-outbox`` asks the relay (functions/email_outbox.py) to
build and send it, so this consumer never waits on SES, never builds MIME, and an SES outage
never makes an event retry. A redelivered event whose email still waits asks again; the
hourly sweeper catches a relay message that was never sent.
"""

from __future__ import annotations

from typing import Any, Protocol

import psycopg2
import psycopg2.extensions

from chalicelib.disbursements.apply import Applied, TransitionRefused, UnknownDisbursement, apply_event
from chalicelib.disbursements.event import DisbursementEvent, InvalidEvent, parse_event
from chalicelib.disbursements.outbox import SqsEmailRelay
from chalicelib.edge.sqs import RecordContext
from chalicelib.logs import get_logger

logger = get_logger("disbursement-events")

# Retrying these cannot help: the message goes to the DLQ after its tries, within seconds.
# psycopg2.DataError: PostgreSQL refused the event's values themselves (a number past bigint, text
# it cannot store), which the schema should already have refused; the same values fail every time.
POISON: tuple[type[Exception], ...] = (InvalidEvent, UnknownDisbursement, TransitionRefused, psycopg2.DataError)


class EmailRelay(Protocol):
    def enqueue(self, disbursement_id: int) -> None: ...


def handle_event(conn: psycopg2.extensions.connection, event: DisbursementEvent, relay: EmailRelay) -> Applied:
    """Raises UnknownDisbursement or TransitionRefused (poison: dead-lettered), or a transient
    error (database, WaitForEarlierEvent, SQS) for a message to retry with backoff."""
    applied = apply_event(conn, event)
    logger.info("disbursement event", extra={
        "event_id": event.event_id, "disbursement_id": event.disbursement_id, "status": event.status.value,
        "outcome": applied.outcome.value, "status_before": applied.status_before,
        "email_waiting": applied.email_queued})
    if applied.email_queued:
        relay.enqueue(event.disbursement_id)
    return applied


def handle_message(conn: psycopg2.extensions.connection, body: str, relay: EmailRelay) -> Applied:
    """``handle_event`` of a raw message body (raises InvalidEvent for a malformed one)."""
    return handle_event(conn, parse_event(body), relay)


def handle_record(ctx: RecordContext[Any]) -> Applied:
    """The SQS record handler (functions/disbursement_events.py)."""
    event = parse_event(ctx.body)  # before the connection: a poison message needs no database
    return handle_event(ctx.conn, event, SqsEmailRelay(ctx.aws.client("sqs")))
