"""Reminder texts per product family. PEDE ("Ponsel Duit") has its own script and template.

WhatsApp templates are pre-approved in WhatsApp Business Manager; only their names and
the body variables (name, amount, due date, how to pay) are sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from chalicelib.products import ProductFamily

MONTHS_ID = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
             "September", "Oktober", "November", "Desember")


@dataclass(frozen=True)
class Templates:
    robocall_template: str
    robocall_script: str
    whatsapp_template: str


TEMPLATES: dict[ProductFamily, Templates] = {
    ProductFamily.JULO: Templates(
        robocall_template="julo_t3_robocall_v1",
        robocall_script=(
            "Halo Bapak atau Ibu {name}. Ini adalah pengingat dari JULO. Angsuran Anda sebesar "
            "{amount} rupiah akan jatuh tempo pada tanggal {due}. Mohon lakukan pembayaran "
            "tepat waktu melalui aplikasi JULO. Terima kasih."
        ),
        whatsapp_template="julo_t3_reminder_v1",
    ),
    ProductFamily.PEDE: Templates(
        robocall_template="pede_t3_robocall_v1",
        robocall_script=(
            "Halo Bapak atau Ibu {name}. Ini pengingat dari Ponsel Duit. Cicilan ponsel Anda sebesar "
            "{amount} rupiah jatuh tempo pada tanggal {due}. Bayar lewat aplikasi Ponsel Duit atau "
            "transfer ke virtual account Anda. Terima kasih."
        ),
        whatsapp_template="pede_t3_reminder_v1",
    ),
}


def templates_for(product_family: str | None) -> Templates:
    try:
        return TEMPLATES[ProductFamily(product_family or ProductFamily.JULO)]
    except ValueError:
        return TEMPLATES[ProductFamily.JULO]


def rupiah(amount: int) -> str:
    """Indonesian thousands separator: 1250000 → ``1.250.000``."""
    return f"{amount:,}".replace(",", ".")


def tanggal(day: date) -> str:
    return f"{day.day} {MONTHS_ID[day.month - 1]} {day.year}"


def robocall_text(product_family: str | None, name: str, amount: int, due: date) -> str:
    return templates_for(product_family).robocall_script.format(name=name, amount=rupiah(amount), due=tanggal(due))


def whatsapp_parameters(name: str, amount: int, due: date, loan_id: int) -> list[str]:
    """Body variables of the WhatsApp template, in order: {{1}} name, {{2}} amount, {{3}} due date, {{4}} loan."""
    return [name, f"Rp {rupiah(amount)}", tanggal(due), str(loan_id)]
