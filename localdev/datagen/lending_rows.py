"""The lending tables the demo book fills, as COPY text: ``Tables`` buffers each table's rows
(tab-separated, ``\\N`` for NULL) in the column order of ``COLUMNS``, which the loader names in its COPY."""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field

LENDING_TABLES = (
    "repayment_transaction", "application_history", "payment", "disbursement", "loan",
    "application",
)


@dataclass
class Tables:
    """Rows per table as tab-separated COPY text, flushed every chunk."""

    buffers: dict[str, io.StringIO] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, table: str, values: Iterable[object]) -> None:
        buf = self.buffers.setdefault(table, io.StringIO())
        buf.write("\t".join(_copy_value(v) for v in values))
        buf.write("\n")
        self.counts[table] = self.counts.get(table, 0) + 1


def _copy_value(value: object) -> str:
    if value is None:
        return r"\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    return str(value)


COLUMNS: dict[str, tuple[str, ...]] = {
    "application": (
        "application_id", "application_xid", "customer_id", "partner_id", "product_line_code",
        "fullname", "email", "mobile_phone_1", "has_whatsapp_1", "address_kodepos", "loan_purpose",
        "credit_grade", "bank_name", "bank_account_number", "name_in_bank",
        "application_status_code", "invoice_id", "cdate", "udate",
    ),
    "loan": (
        "loan_id", "application_id", "customer_id", "application_xid", "partner", "loan_status_code",
        "product_code", "loan_amount", "loan_duration", "first_installment_amount",
        "installment_amount", "loan_disbursement_amount", "loan_disbursement_method",
        "fund_transfer_ts", "julo_bank_name", "julo_bank_account_number", "cycle_day",
        "disbursement_id", "cdate", "udate",
    ),
    "payment": (
        "payment_id", "loan_id", "payment_number", "payment_status_code", "due_date", "due_amount",
        "installment_principal", "installment_interest", "late_fee_amount", "paid_date",
        "paid_amount", "paid_principal", "paid_interest", "paid_late_fee", "is_robocall_active",
        "is_success_robocall", "is_whatsapp", "is_whatsapp_blasted", "ptp_robocall_phone_number",
        "robocall_template_id",
    ),
    "disbursement": (
        "disbursement_id", "loan_id", "disburse_status", "disburse_amount", "bank_code",
        "bank_number", "external_id", "retry_times", "validation_status", "cdate", "udate",
    ),
    "repayment_transaction": (
        "repayment_transaction_id", "partner_id", "customer_id", "loan_id", "payment_id",
        "event_date", "repayment_source", "borrower_repaid", "borrower_repaid_principal",
        "borrower_repaid_interest", "borrower_repaid_late_fee", "lender_received",
        "lender_received_principal", "lender_received_interest", "lender_received_late_fee",
        "julo_fee_received", "julo_fee_received_principal", "julo_fee_received_interest",
        "julo_fee_received_late_fee", "due_amount_before", "due_amount_after",
        "lender_balance_before", "lender_balance_after",
    ),
    "application_history": ("application_id", "status_old", "status_new", "change_reason", "cdate"),
}
