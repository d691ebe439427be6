"""The T-3 selection: who is reminded, for one zone and business date.

The query streams through a server-side (named) cursor, so a million due payments never
sit in memory at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg2.extensions

from chalicelib.statuses import ACTIVE_LOAN_STATUSES, PAID_THRESHOLD
from chalicelib.zones import FALLBACK_ZONE, Zone

REMINDER_LEAD_DAYS = 3
T3_SELECTION_SQL = Path(__file__).with_name("t3_selection.sql").read_text()

ORDERINGS = {
    "payment_id": "payment_id",
    # capacity priority: the most money at stake first, then the oldest payment
    "amount_desc": "due_amount DESC, payment_id",
    "contact": "contact_key, payment_id",
}


@dataclass(frozen=True, slots=True)
class DuePayment:
    payment_id: int
    loan_id: int
    application_id: int
    payment_number: int
    due_date: date
    due_amount: int
    is_success_robocall: bool
    is_whatsapp: bool
    is_whatsapp_blasted: bool
    robocall_template_id: int | None
    phone: str | None
    has_whatsapp_1: bool
    fullname: str
    address_kodepos: str | None
    product_line_code: int | None
    product_family: str | None
    zone: Zone
    zone_fallback: bool
    contact_key: str  # the number this payment's contact goes to (payments of one key are one contact)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> DuePayment:
        """One row of ``t3_selection.sql``, whose columns are this class's fields in order."""
        values = dict(zip(DUE_PAYMENT_FIELDS, row, strict=True))
        values["zone"] = Zone(values["zone"])
        return cls(**values)


DUE_PAYMENT_FIELDS = tuple(f.name for f in fields(DuePayment))


def due_date_for(business_date: date) -> date:
    return business_date + timedelta(days=REMINDER_LEAD_DAYS)


def selection_params(zone: Zone, business_date: date, *, only_unsuccessful_robocall: bool = False,
                     for_whatsapp: bool = False, due_dates: Sequence[date] | None = None, for_sms: bool = False,
                     whatsapp_failed: Sequence[int] = ()) -> dict[str, object]:
    """The parameters of ``t3_selection.sql`` (also used by queries built on it).

    ``due_dates``: the due dates the day covers (the contact policy's plan: T-3, plus those the shift
    rule moves onto this day); default the business date's T-3 only. ``for_sms``: the SMS stage's set,
    with ``whatsapp_failed`` the payments whose WhatsApp message failed.
    """
    return {
        "due_dates": list(due_dates) if due_dates is not None else [due_date_for(business_date)],
        "zone": zone.value,
        "fallback_zone": FALLBACK_ZONE.value,
        "paid_threshold": PAID_THRESHOLD,
        "active_loan_statuses": list(ACTIVE_LOAN_STATUSES),
        "only_unsuccessful_robocall": only_unsuccessful_robocall,
        "for_whatsapp": for_whatsapp,
        "for_sms": for_sms,
        "whatsapp_failed": [int(p) for p in whatsapp_failed],
    }


def iter_t3_payments(
    conn: psycopg2.extensions.connection,
    zone: Zone,
    business_date: date,
    *,
    only_unsuccessful_robocall: bool = False,
    order_by: str = "payment_id",
    batch_size: int = 10_000,
    for_whatsapp: bool = False,
    due_dates: Sequence[date] | None = None,
) -> Iterator[DuePayment]:
    """Stream the T-3 payments of ``zone`` for ``business_date``.

    ``only_unsuccessful_robocall`` restricts to payments whose robocall has not yet
    succeeded (the retry stages). Paid payments are always excluded, so a borrower who
    paid between two slots is not called again. ``for_whatsapp`` (the WhatsApp stage) keeps
    only borrowers whose number has WhatsApp and who have not been messaged yet.
    """
    if order_by not in ORDERINGS:
        raise ValueError(f"order_by must be one of {sorted(ORDERINGS)}")
    sql = f"{T3_SELECTION_SQL}\nORDER BY {ORDERINGS[order_by]}"
    params = selection_params(zone, business_date, only_unsuccessful_robocall=only_unsuccessful_robocall,
                              for_whatsapp=for_whatsapp, due_dates=due_dates)
    with conn.cursor(name=f"t3_{uuid.uuid4().hex[:12]}") as cur:
        cur.itersize = batch_size
        cur.execute(sql, params)
        for row in cur:
            yield DuePayment.from_row(row)
