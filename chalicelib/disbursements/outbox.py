"""The email outbox: the relay that sends each repayment-calendar email, and the sweeper.

- The COMPLETED transition writes the outbox row; after its commit the event consumer puts
  ``{"disbursement_id": N}`` on the ``email-outbox`` queue (``SqsEmailRelay``).
- The relay (``functions/email_outbox.py``, the shared SQS edge) builds and sends the email
  (``send_record``). SES down or throttling: the message backs off (ChangeMessageVisibility,
  30 s doubling, 10 tries over ~4 h) and the row stays unsent.
- The hourly sweeper (``functions/email_outbox_sweeper.py``) sends any row still unsent: a
  relay message lost (the function died between the commit and the send) or dead-lettered.

Each row is sent by ``calendar_email.send_calendar_email`` (row locked with SKIP LOCKED, marked
sent in the same transaction), so relay, redeliveries and sweeper never send an email twice.

A throttled or unavailable SES ends the sweep at once (the next sweep retries); any other
refusal (e.g. a rejected address) skips that row and is logged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg2.extensions
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import resources
from chalicelib.db import transaction
from chalicelib.disbursements.calendar_email import Mailer, Sent, send_calendar_email
from chalicelib.edge.sqs import RecordContext
from chalicelib.emails.ses import SesMailer, sender_address
from chalicelib.logs import get_logger
from chalicelib.settings import EmailOutboxSettings

logger = get_logger("email-outbox")
EMAIL_QUEUE = "email-outbox"


class InvalidEmailRequest(ValueError):
    """An ``email-outbox`` message without a disbursement id: poison."""


class SqsEmailRelay:
    """Asks the relay to send a disbursement's email (after the transaction that queued it), with the SQS
    client it is given (the handler's)."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs

    def enqueue(self, disbursement_id: int) -> None:
        self.sqs.send_message(QueueUrl=resources.queue_url(EMAIL_QUEUE),
                              MessageBody=json.dumps({"disbursement_id": disbursement_id}))


def parse_request(body: str) -> int:
    try:
        disbursement_id = json.loads(body)["disbursement_id"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidEmailRequest(f"not an email request: {body[:200]!r}") from exc
    if not isinstance(disbursement_id, int) or isinstance(disbursement_id, bool):
        raise InvalidEmailRequest(f"disbursement_id must be an integer: {body[:200]!r}")
    return disbursement_id


def send_record(ctx: RecordContext[EmailOutboxSettings]) -> Sent | None:
    """The relay's SQS record handler: send the email if it still waits (None: already sent)."""
    disbursement_id = parse_request(ctx.body)
    sent = send_calendar_email(ctx.conn, disbursement_id, SesMailer(ctx.aws.client("ses")),
                               sender_address(ctx.settings), datetime.now(UTC))
    if sent:
        logger.info("repayment calendar emailed", extra={"disbursement_id": disbursement_id,
                                                         "ses_message_id": sent.message_id})
    return sent

# Younger rows belong to a consumer that is sending them right now.
MIN_AGE = timedelta(minutes=2)
BATCH = 500
UNSENT = """
SELECT disbursement_id FROM email_outbox
WHERE kind = 'repayment_calendar' AND sent_at IS NULL AND cdate <= now() - %s
ORDER BY cdate LIMIT %s
"""
TRANSIENT_SES_CODES = frozenset({"Throttling", "ThrottlingException", "ServiceUnavailable", "InternalFailure",
                                 "RequestTimeout", "TooManyRequestsException"})


@dataclass(frozen=True)
class Swept:
    unsent: int
    sent: int
    skipped: int
    stopped_early: bool


def is_transient(exc: Exception) -> bool:
    """SES throttled or unavailable (retry later), rather than refusing this one message."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in TRANSIENT_SES_CODES or status >= 500
    return isinstance(exc, BotoCoreError | ConnectionError | TimeoutError)


def sweep(conn: psycopg2.extensions.connection, mailer: Mailer, sender: str, now: datetime) -> Swept:
    with transaction(conn) as cur:
        cur.execute(UNSENT, (MIN_AGE, BATCH))  # the database's clock, the one cdate was set with
        ids = [row[0] for row in cur.fetchall()]
    sent = skipped = 0
    for disbursement_id in ids:
        try:
            if send_calendar_email(conn, disbursement_id, mailer, sender, now):
                sent += 1
        except (ClientError, BotoCoreError, ConnectionError, TimeoutError) as exc:
            if is_transient(exc):
                logger.warning("SES unavailable: sweep stopped", extra={"disbursement_id": disbursement_id,
                                                                         "error": str(exc)[:300]})
                return Swept(len(ids), sent, skipped, True)
            skipped += 1
            logger.exception("email refused", extra={"disbursement_id": disbursement_id})
    logger.info("outbox swept", extra={"unsent": len(ids), "sent": sent, "skipped": skipped})
    return Swept(len(ids), sent, skipped, False)
