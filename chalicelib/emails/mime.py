"""The repayment-calendar email as raw MIME:

    multipart/mixed
      multipart/alternative
        text/plain
        text/html
      text/calendar; method=PUBLISH  (attachment jadwal-pembayaran.ics)
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from chalicelib.emails.money import format_rupiah
from chalicelib.repayment_calendar import CalendarLoan, format_date_id

ICS_FILENAME = "jadwal-pembayaran.ics"


@dataclass(frozen=True)
class Recipient:
    fullname: str
    email: str


def _rows(loan: CalendarLoan) -> list[tuple[int, str, str]]:
    return [(i.payment_number, format_date_id(i.due_date), format_rupiah(i.due_amount)) for i in loan.installments]


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


def build_repayment_email(
    *, sender: str, recipient: Recipient, loan: CalendarLoan, disburse_amount: int, ics: bytes,
) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = "Dana pinjaman JULO sudah dikirim - jadwal pembayaran Anda"
    msg["From"] = formataddr(("JULO", sender))
    msg["To"] = formataddr((recipient.fullname, recipient.email))
    msg["Message-ID"] = make_msgid(idstring=f"loan-{loan.loan_id}", domain=sender.split("@")[-1])
    msg.set_content(text_body(recipient, loan, disburse_amount))
    msg.add_alternative(html_body(recipient, loan, disburse_amount), subtype="html")
    msg.add_attachment(ics, maintype="text", subtype="calendar", filename=ICS_FILENAME,
                       params={"method": "PUBLISH", "charset": "utf-8"})
    return msg
