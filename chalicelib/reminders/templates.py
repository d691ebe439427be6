"""Reminder texts per product family. PEDE ("Ponsel Duit") has its own script and template.

WhatsApp templates are pre-approved in WhatsApp Business Manager; only their names and the
body variables are sent: {{1}} name, {{2}} amount due, {{3}} due date, {{4}} bank and {{5}}
virtual account number (how to pay, as in the repayment calendar email), {{6}} loan id.
``whatsapp_body`` is the approved text, kept here so docs/reminders.md and the tests can check
the variables against it. The message goes to the borrower's number that has WhatsApp
(``application.mobile_phone_1`` with ``has_whatsapp_1``), not to a promise-to-pay number.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

import psycopg2.extensions

from chalicelib.indonesian import format_rupiah, listed, long_date, thousands
from chalicelib.products import ProductFamily
from chalicelib.reminders.messages import PaymentRow

DEFAULT_BANK = "JULO"  # as in the calendar email when the loan has no repayment bank
NO_VIRTUAL_ACCOUNT = "-"

# What the WhatsApp message needs beyond the stage selection: the number that has WhatsApp and
# the loan's repayment virtual account (loan.julo_bank_name / julo_bank_account_number).
WHATSAPP_DETAILS_SQL = """
SELECT p.payment_id,
       CASE WHEN a.has_whatsapp_1 THEN a.mobile_phone_1 END AS whatsapp_phone,
       l.julo_bank_name,
       l.julo_bank_account_number
FROM payment p
JOIN loan l ON l.loan_id = p.loan_id
JOIN application a ON a.application_id = l.application_id
WHERE p.payment_id = ANY(%s)
"""



@dataclass(frozen=True)
class Templates:
    robocall_template: str
    robocall_script: str
    whatsapp_template: str
    whatsapp_body: str


TEMPLATES: dict[ProductFamily, Templates] = {
    ProductFamily.JULO: Templates(
        robocall_template="julo_t3_robocall_v1",
        robocall_script=(
            "Halo Bapak atau Ibu {name}. Ini adalah pengingat dari JULO. Angsuran Anda sebesar "
            "{amount} rupiah akan jatuh tempo pada tanggal {due}. Mohon lakukan pembayaran "
            "tepat waktu melalui aplikasi JULO. Terima kasih."
        ),
        whatsapp_template="julo_t3_reminder_v2",
        whatsapp_body=(
            "Halo {{1}}, angsuran JULO Anda sebesar {{2}} jatuh tempo pada {{3}}. "
            "Bayar lewat transfer ke Virtual Account {{4}} nomor {{5}} (ATM, mobile banking atau "
            "internet banking). Nomor pinjaman: {{6}}. Abaikan pesan ini jika Anda sudah membayar."
        ),
    ),
    ProductFamily.PEDE: Templates(
        robocall_template="pede_t3_robocall_v1",
        robocall_script=(
            "Halo Bapak atau Ibu {name}. Ini pengingat dari Ponsel Duit. Cicilan ponsel Anda sebesar "
            "{amount} rupiah jatuh tempo pada tanggal {due}. Bayar lewat aplikasi Ponsel Duit atau "
            "transfer ke virtual account Anda. Terima kasih."
        ),
        whatsapp_template="pede_t3_reminder_v2",
        whatsapp_body=(
            "Halo {{1}}, cicilan ponsel Ponsel Duit Anda sebesar {{2}} jatuh tempo pada {{3}}. "
            "Bayar lewat transfer ke Virtual Account {{4}} nomor {{5}}, atau di Indomaret/Alfamart "
            "dengan kode pembayaran {{5}}. Nomor pinjaman: {{6}}. Terima kasih."
        ),
    ),
}


def templates_for(product_family: str | None) -> Templates:
    try:
        return TEMPLATES[ProductFamily(product_family or ProductFamily.JULO)]
    except ValueError:
        return TEMPLATES[ProductFamily.JULO]


def _dates(due: date | Sequence[date]) -> str:
    days = sorted(set([due] if isinstance(due, date) else due))
    return listed([long_date(d) for d in days])


def robocall_text(product_family: str | None, name: str, amount: int, due: date | Sequence[date],
                  loan_ids: Sequence[int] = ()) -> str:
    """The call's script; for a borrower with several payments due (one call for all of them), the total
    and the loans it covers."""
    text = templates_for(product_family).robocall_script.format(name=name, amount=thousands(amount), due=_dates(due))
    if len(loan_ids) > 1:
        text += f" Jumlah ini untuk {len(loan_ids)} pinjaman Anda, nomor {listed([str(n) for n in loan_ids])}."
    return text


def whatsapp_parameters(name: str, amount: int, due: date | Sequence[date], loan_id: int | Sequence[int],
                        bank: str | None = None,
                        virtual_account: str | Sequence[str | None] | None = None) -> list[str]:
    """Body variables of the WhatsApp template, in order ({{1}}..{{6}}): name, amount, due date,
    bank, virtual account number, loan id. For one message about several payments: the total due, their
    due dates, their virtual accounts and their loans, listed."""
    loans = [loan_id] if isinstance(loan_id, int) else list(loan_id)
    accounts = [virtual_account] if virtual_account is None or isinstance(virtual_account, str) \
        else list(virtual_account)
    shown = list(dict.fromkeys(a for a in accounts if a)) or [NO_VIRTUAL_ACCOUNT]
    return [name, format_rupiah(amount), _dates(due), bank or DEFAULT_BANK, listed(shown),
            listed([str(n) for n in dict.fromkeys(loans)])]


def placeholders(body: str) -> int:
    """How many distinct ``{{n}}`` variables a template body has."""
    return len(set(re.findall(r"{{(\d+)}}", body)))


def with_whatsapp_details(conn: psycopg2.extensions.connection, payments: list[PaymentRow]) -> list[PaymentRow]:
    """The payment rows with their ``whatsapp_phone``, ``bank`` and ``virtual_account`` (one query per chunk)."""
    with conn.cursor() as cur:
        cur.execute(WHATSAPP_DETAILS_SQL, ([p.payment_id for p in payments],))
        found = {row[0]: row[1:] for row in cur.fetchall()}
    conn.rollback()
    detailed = []
    for p in payments:
        phone, bank, va = found.get(p.payment_id, (None, None, None))
        detailed.append(replace(p, whatsapp_phone=phone, bank=bank, virtual_account=va))
    return detailed
