"""The outbox sweeper: send the repayment-calendar emails left unsent.

The consumer sends an email right after the COMPLETED transition commits its outbox row. If
SES is down longer than the event's retries, or the function died between the two, the row
stays unsent; the hourly sweeper (``functions/email_outbox_sweeper.py``) sends it. Each row is
sent by ``calendar_email.send_calendar_email`` (row locked with SKIP LOCKED, marked sent in the
same transaction), so a sweep running next to the consumer never sends an email twice.

A throttled or unavailable SES ends the sweep at once (the next sweep retries); any other
refusal (e.g. a rejected address) skips that row and is logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg2.extensions
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.db import transaction
from chalicelib.disbursements.calendar_email import Mailer, send_calendar_email
from chalicelib.logs import get_logger

logger = get_logger("email-outbox-sweeper")

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
