"""The repayment-calendar email as raw MIME:

    multipart/mixed
      multipart/alternative
        text/plain
        text/html
      text/calendar  (attachment jadwal-pembayaran.ics)

Headers: ``Date`` (RFC 5322 requires it: the send time) and a ``Message-ID`` short enough to stay
on one line when the header is folded at 78 characters.
"""

from __future__ import annotations

import html
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from chalicelib.indonesian import format_rupiah, long_date
from chalicelib.repayment_calendar import CalendarLoan

ICS_FILENAME = "jadwal-pembayaran.ics"


@dataclass(frozen=True)
class Recipient:
    fullname: str
    email: str


def _rows(loan: CalendarLoan) -> list[tuple[int, str, str]]:
    return [(i.payment_number, long_date(i.due_date), format_rupiah(i.due_amount)) for i in loan.installments]


def text_body(recipient: Recipient, loan: CalendarLoan, disburse_amount: int) -> str:
    lines = [
        f"Halo {recipient.fullname},",
        "",
        f"Dana pinjaman Anda sebesar {format_rupiah(disburse_amount)} sudah kami kirim ke rekening Anda.",
        "Jadwal pembayaran cicilan Anda:",
        "",
    ]
    lines += [f"  Cicilan ke-{n}: {amount}, jatuh tempo {due}" for n, due, amount in _rows(loan)]
    lines += [
        "",
        f"Bayar ke Virtual Account {loan.julo_bank_name or 'JULO'} {loan.virtual_account or '-'}.",
        f"Lampiran {ICS_FILENAME} bisa dibuka di Google Calendar atau Outlook: setiap cicilan",
        "muncul di kalender dengan pengingat satu hari sebelum jatuh tempo.",
        "",
        "Salam,",
        "JULO",
    ]
    return "\n".join(lines) + "\n"


def html_body(recipient: Recipient, loan: CalendarLoan, disburse_amount: int) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{n}</td><td>{e(due)}</td><td style=\"text-align:right\">{e(amount)}</td></tr>"
        for n, due, amount in _rows(loan)
    )
    return (
        "<!DOCTYPE html><html lang=\"id\"><body>"
        f"<p>Halo {e(recipient.fullname)},</p>"
        f"<p>Dana pinjaman Anda sebesar <strong>{e(format_rupiah(disburse_amount))}</strong> "
        "sudah kami kirim ke rekening Anda.</p>"
        "<table border=\"1\" cellpadding=\"4\" cellspacing=\"0\">"
        "<tr><th>Cicilan</th><th>Jatuh tempo</th><th>Jumlah</th></tr>"
        f"{rows}</table>"
        f"<p>Bayar ke Virtual Account {e(loan.julo_bank_name or 'JULO')} "
        f"<strong>{e(loan.virtual_account or '-')}</strong>.</p>"
        f"<p>Buka lampiran <em>{ICS_FILENAME}</em> untuk menambahkan jadwal ke kalender Anda "
        "(pengingat satu hari sebelum jatuh tempo).</p>"
        "<p>Salam,<br>JULO</p></body></html>"
    )


def message_id(loan_id: int, sender: str) -> str:
    """``<loan-3000001.9f86d081884c7d65@example.co.id>``: unique, and one line for any sane domain."""
    return f"<loan-{loan_id}.{secrets.token_hex(8)}@{sender.rpartition('@')[2]}>"


def build_repayment_email(
    *, sender: str, recipient: Recipient, loan: CalendarLoan, disburse_amount: int, ics: bytes, sent_at: datetime,
) -> EmailMessage:
    if sent_at.tzinfo is None:
        raise ValueError("sent_at must be timezone-aware")
    msg = EmailMessage()
    msg["Subject"] = "Dana pinjaman JULO sudah dikirim - jadwal pembayaran Anda"
    msg["From"] = formataddr(("JULO", sender))
    msg["To"] = formataddr((recipient.fullname, recipient.email))
    msg["Date"] = format_datetime(sent_at)
    msg["Message-ID"] = message_id(loan.loan_id, sender)
    msg.set_content(text_body(recipient, loan, disburse_amount))
    msg.add_alternative(html_body(recipient, loan, disburse_amount), subtype="html")
    msg.add_attachment(ics, maintype="text", subtype="calendar", filename=ICS_FILENAME,
                       params={"charset": "utf-8"})
    return msg
