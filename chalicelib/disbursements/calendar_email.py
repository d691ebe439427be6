"""Send the repayment-calendar email of a disbursement from the outbox, at most once.

The outbox row (written with the COMPLETED transition) is locked while SES takes the
message and marked sent in the same transaction. A redelivered event finds it sent and
does nothing; if SES failed, the row is still unsent and the retry sends it. The one
window left is a crash after SES accepted the message and before the commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Protocol

import psycopg2.extensions

from chalicelib.db import one, transaction
from chalicelib.emails.mime import Recipient, build_repayment_email
from chalicelib.products import product_family
from chalicelib.repayment_calendar import CalendarLoan, Installment, People, calendar_bytes
from chalicelib.zones import zone_or_fallback


class Mailer(Protocol):
    def send_raw(self, message: EmailMessage, sender: str, to: list[str]) -> str: ...


CLAIM_UNSENT = """
SELECT recipient FROM email_outbox
WHERE disbursement_id = %s AND kind = 'repayment_calendar' AND sent_at IS NULL
FOR UPDATE SKIP LOCKED
"""
LOAN_FOR_CALENDAR = """
SELECT l.loan_id, l.product_code, l.julo_bank_name, l.julo_bank_account_number, a.address_kodepos,
       a.fullname, d.disburse_amount
FROM disbursement d
JOIN loan l ON l.loan_id = d.loan_id
JOIN application a ON a.application_id = l.application_id
WHERE d.disbursement_id = %s
"""
INSTALLMENTS = """
SELECT payment_id, payment_number, due_date, due_amount FROM payment
WHERE loan_id = %s ORDER BY payment_number
"""
MARK_SENT = """
UPDATE email_outbox SET sent_at = now(), ses_message_id = %s, attempts = attempts + 1
WHERE disbursement_id = %s AND kind = 'repayment_calendar'
"""


@dataclass(frozen=True)
class Sent:
    disbursement_id: int
    recipient: str
    message_id: str


def send_calendar_email(
    conn: psycopg2.extensions.connection, disbursement_id: int, mailer: Mailer, sender: str, now: datetime,
) -> Sent | None:
    """Send the pending email of ``disbursement_id``; None when there is none to send."""
    with transaction(conn) as cur:
        cur.execute(CLAIM_UNSENT, (disbursement_id,))
        row = cur.fetchone()
        if row is None:
            return None
        (recipient_email,) = row
        cur.execute(LOAN_FOR_CALENDAR, (disbursement_id,))
        loan_id, product_code, bank, va, postcode, fullname, disburse_amount = one(cur)
        cur.execute(INSTALLMENTS, (loan_id,))
        installments = tuple(Installment(*r) for r in cur.fetchall())
        loan = CalendarLoan(
            loan_id=loan_id, product_family=product_family(product_code), julo_bank_name=bank,
            virtual_account=va, zone=zone_or_fallback(postcode)[0], installments=installments,
        )
        people = People(organizer_email=sender, attendee_email=recipient_email,
                        attendee_name=fullname or recipient_email)
        message = build_repayment_email(
            sender=sender, recipient=Recipient(fullname, recipient_email), loan=loan,
            disburse_amount=disburse_amount, ics=calendar_bytes(loan, now, people), sent_at=now,
        )
        message_id = mailer.send_raw(message, sender, [recipient_email])
        cur.execute(MARK_SENT, (message_id, disbursement_id))
    return Sent(disbursement_id, recipient_email, message_id)
