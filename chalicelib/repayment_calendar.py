"""The repayment calendar (.ics) sent when a loan is disbursed.

One VEVENT per installment: a stable UID per payment, DTSTART/DTEND on the due date at
09:00-09:30 in the borrower's zone written in UTC (so no TZID and no VTIMEZONE are needed;
Google Calendar and Outlook show it in the reader's own zone), SUMMARY and DESCRIPTION from
a template chosen by bank and product family, a display alarm one day before
(``TRIGGER:-P1D``), ``ORGANIZER`` (mailto: the sender) and ``ATTENDEE`` (mailto: the borrower).

The calendar carries no ``METHOD``: it is a plain RFC 5545 calendar to import, not an iTIP
message. ``METHOD:PUBLISH`` forbids ``ATTENDEE`` (RFC 5546, 3.2.1) and ``METHOD:REQUEST`` would
make every installment an invitation with accept/decline buttons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from icalendar import Alarm, Calendar, Event, vCalAddress, vText

from chalicelib.indonesian import format_rupiah, long_date
from chalicelib.products import ProductFamily
from chalicelib.zones import Zone, local_to_utc

PRODID = "-//JULO//Repayment calendar 1.0//ID"
UID_DOMAIN = "repayment.julo.co.id"
EVENT_START_LOCAL = time(9, 0)
EVENT_LENGTH = timedelta(minutes=30)


@dataclass(frozen=True)
class Installment:
    payment_id: int
    payment_number: int
    due_date: date
    due_amount: int


@dataclass(frozen=True)
class CalendarLoan:
    loan_id: int
    product_family: ProductFamily
    julo_bank_name: str | None
    virtual_account: str | None
    zone: Zone
    installments: tuple[Installment, ...]


@dataclass(frozen=True)
class Template:
    summary: str
    how_to_pay: str


# (product family, bank) -> wording; (family, None) is the family's default.
TEMPLATES: dict[tuple[ProductFamily, str | None], Template] = {
    (ProductFamily.JULO, None): Template(
        "Cicilan JULO ke-{number}: {amount}",
        "Bayar lewat transfer ke Virtual Account {bank} {va} (ATM, mobile banking atau internet banking).",
    ),
    (ProductFamily.JULO, "BCA"): Template(
        "Cicilan JULO ke-{number}: {amount}",
        "Bayar lewat m-BCA, KlikBCA atau ATM BCA: menu Transfer > BCA Virtual Account > {va}.",
    ),
    (ProductFamily.JULO, "BRI"): Template(
        "Cicilan JULO ke-{number}: {amount}",
        "Bayar lewat BRImo atau ATM BRI: menu Pembayaran > BRIVA > {va}.",
    ),
    (ProductFamily.JULO, "Mandiri"): Template(
        "Cicilan JULO ke-{number}: {amount}",
        "Bayar lewat Livin' by Mandiri atau ATM Mandiri: menu Bayar > Multipayment > {va}.",
    ),
    (ProductFamily.PEDE, None): Template(
        "Tagihan Ponsel Duit ke-{number}: {amount}",
        "Bayar lewat transfer ke Virtual Account {bank} {va}, atau di Indomaret/Alfamart dengan "
        "menyebut kode pembayaran {va}.",
    ),
}

DESCRIPTION = (
    "Jumlah tagihan: {amount}\n"
    "Jatuh tempo: {due}\n"
    "Cara bayar: {how_to_pay}\n"
    "Virtual Account: {bank} {va}\n"
    "Bayar sebelum jatuh tempo agar tidak terkena denda."
)


def template_for(family: ProductFamily, bank: str | None) -> Template:
    return TEMPLATES.get((family, bank)) or TEMPLATES[(family, None)]


def uid_for(payment_id: int) -> str:
    return f"payment-{payment_id}@{UID_DOMAIN}"


@dataclass(frozen=True)
class People:
    """Who the events name: the sender (organizer) and the borrower (attendee)."""

    organizer_email: str
    attendee_email: str
    attendee_name: str
    organizer_name: str = "JULO"


def _address(email: str, **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    for key, value in params.items():
        address.params[key] = vText(value)
    return address


def build_calendar(loan: CalendarLoan, stamp: datetime, people: People) -> Calendar:
    if stamp.tzinfo is None:
        raise ValueError("stamp must be timezone-aware")
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", "Jadwal pembayaran JULO")
    template = template_for(loan.product_family, loan.julo_bank_name)
    bank = loan.julo_bank_name or "JULO"
    va = loan.virtual_account or "-"
    for item in loan.installments:
        amount = format_rupiah(item.due_amount)
        start = local_to_utc(loan.zone, item.due_date, EVENT_START_LOCAL).astimezone(UTC)
        event = Event()
        event.add("uid", uid_for(item.payment_id))
        event.add("dtstamp", stamp.astimezone(UTC))
        event.add("dtstart", start)
        event.add("dtend", start + EVENT_LENGTH)
        event.add("summary", template.summary.format(number=item.payment_number, amount=amount))
        event.add("description", DESCRIPTION.format(
            amount=amount, due=long_date(item.due_date), bank=bank, va=va,
            how_to_pay=template.how_to_pay.format(bank=bank, va=va),
        ))
        event.add("transp", "TRANSPARENT")
        event.add("organizer", _address(people.organizer_email, CN=people.organizer_name))
        event.add("attendee", _address(people.attendee_email, CN=people.attendee_name, ROLE="REQ-PARTICIPANT",
                                       PARTSTAT="ACCEPTED", RSVP="FALSE"))
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("trigger", timedelta(days=-1))
        alarm.add("description", f"Besok jatuh tempo: {amount}")
        event.add_component(alarm)
        cal.add_component(event)
    return cal


def calendar_bytes(loan: CalendarLoan, stamp: datetime, people: People) -> bytes:
    return build_calendar(loan, stamp, people).to_ical()
