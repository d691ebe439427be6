"""The SMS reminder text, one template per product family (JULO, PEDE), in Bahasa Indonesia.

What it says: the amount due, the due date and the virtual account to pay into (the loan's
repayment bank and account, as in the calendar email and the WhatsApp message). It names no
borrower: an SMS shows on a locked screen, to whoever holds the phone.

How long it is: GSM 03.38 only (``gsm7.to_gsm7`` replaces anything else, so the message goes as
``type=text``, 160 septets a part, never as 70-character UCS-2), and it fits one SMS for every amount
up to Rp 999.999.999.999, every date, a bank name up to 20 characters and a virtual account up to
24 digits (``tests/unit/test_sms_text.py``). Longer data may take a second part; more than
``MAX_SEGMENTS`` parts and the bank name is left out; still too long, ``SmsTooLong`` (nothing is sent).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from chalicelib.indonesian import format_rupiah, long_date
from chalicelib.products import ProductFamily
from chalicelib.reminders import gsm7

MAX_SEGMENTS = 2
NO_VIRTUAL_ACCOUNT = "-"


class SmsTooLong(ValueError):
    """The reminder would take more than ``MAX_SEGMENTS`` SMS parts even without the bank name."""


@dataclass(frozen=True)
class SmsTemplate:
    name: str
    with_account: str      # {amount} {due} {bank} {account}
    without_bank: str      # {amount} {due} {account}
    without_account: str   # {amount} {due}: the loan has no virtual account


SMS_TEMPLATES: dict[ProductFamily, SmsTemplate] = {
    ProductFamily.JULO: SmsTemplate(
        name="julo_t3_sms_v1",
        with_account="JULO: Angsuran {amount} jatuh tempo {due}. Bayar via VA {bank} {account}. "
                     "Abaikan jika sudah membayar.",
        without_bank="JULO: Angsuran {amount} jatuh tempo {due}. Bayar via Virtual Account {account}. "
                     "Abaikan jika sudah membayar.",
        without_account="JULO: Angsuran {amount} jatuh tempo {due}. Bayar lewat aplikasi JULO. "
                        "Abaikan jika sudah membayar.",
    ),
    ProductFamily.PEDE: SmsTemplate(
        name="pede_t3_sms_v1",
        # "Cicilan", not "Cicilan ponsel": the longest data (Rp 999.999.999.999, "30 September 2100", a
        # 20-character bank, 24 digits) would take 163 septets, a second part
        with_account="Ponsel Duit: Cicilan {amount} jatuh tempo {due}. Bayar via VA {bank} {account}. "
                     "Abaikan jika sudah bayar.",
        without_bank="Ponsel Duit: Cicilan ponsel {amount} jatuh tempo {due}. Bayar via VA {account}. "
                     "Abaikan jika sudah bayar.",
        without_account="Ponsel Duit: Cicilan ponsel {amount} jatuh tempo {due}. Bayar lewat aplikasi "
                        "Ponsel Duit. Abaikan jika sudah bayar.",
    ),
}


def sms_template(product_family: str | None) -> SmsTemplate:
    try:
        return SMS_TEMPLATES[ProductFamily(product_family or ProductFamily.JULO)]
    except ValueError:
        return SMS_TEMPLATES[ProductFamily.JULO]


def render_sms(product_family: str | None, amount: int, due: date, bank: str | None,
               virtual_account: str | None) -> gsm7.SmsText:
    """The reminder for one payment, in at most ``MAX_SEGMENTS`` GSM-7 parts (``SmsTooLong`` otherwise)."""
    tpl = sms_template(product_family)
    fields = {"amount": format_rupiah(amount), "due": long_date(due),
              "bank": " ".join((bank or "").split()), "account": "".join((virtual_account or "").split())}
    if not fields["account"] or fields["account"] == NO_VIRTUAL_ACCOUNT:
        candidates = [tpl.without_account]
    elif fields["bank"]:
        candidates = [tpl.with_account, tpl.without_bank]
    else:
        candidates = [tpl.without_bank]
    for template in candidates:
        text = gsm7.SmsText(gsm7.to_gsm7(template.format(**fields)))
        if text.segments <= MAX_SEGMENTS:
            return text
    raise SmsTooLong(f"{tpl.name}: more than {MAX_SEGMENTS} SMS parts")
