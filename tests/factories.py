"""Hand-built rows for tests: small, explicit, with sensible defaults.

    partner = make_partner(conn, 2, "Lendana P2P")
    loan = make_loan(conn, partner_id=2, postcode="90111", due_dates=[date(2026, 11, 25)])

Every ``make_*`` returns the ids it created and commits nothing: tests call
``conn.commit()`` when code under test uses its own connection.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import psycopg2.extensions

from chalicelib.repayment_split import Components, share
from chalicelib.settings import DispatchSettings, StageSettings
from chalicelib.statuses import ApplicationStatus, DisbursementStatus, LoanStatus, PaymentStatus
from localdev.aws.template_resolution import LOCAL_VOICE_FROM_NUMBER
from localdev.fakes.whatsapp import LOCAL_PHONE_NUMBER_ID

_ids = itertools.count(1)


def next_id() -> int:
    return next(_ids)


def make_partner(conn: psycopg2.extensions.connection, partner_id: int, name: str,
                 partner_type: str = "lender") -> int:
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO partner (partner_id, name, partner_type) VALUES (%s, %s, %s) "
            "ON CONFLICT (partner_id) DO NOTHING",
            (partner_id, name, partner_type),
        )
    return partner_id


@dataclass
class MadeLoan:
    application_id: int
    application_xid: int
    customer_id: int
    loan_id: int
    disbursement_id: int
    payment_ids: list[int] = field(default_factory=list)


def make_loan(
    conn: psycopg2.extensions.connection,
    *,
    partner_id: int = 1,
    postcode: str | None = "10110",
    product_line_code: int = 10,
    due_dates: list[date] | None = None,
    loan_amount: int = 3_000_000,
    installment_principal: int | None = None,
    installment_interest: int = 120_000,
    payment_status: int = PaymentStatus.NOT_DUE,
    is_robocall_active: bool = True,
    has_whatsapp: bool = True,
    loan_status: int = LoanStatus.CURRENT,
    application_status: int = ApplicationStatus.FUND_DISBURSAL_SUCCESSFUL,
    disburse_status: str = DisbursementStatus.COMPLETED,
    disburse_amount: int | None = None,
    fullname: str = "Budi Santoso",
    email: str = "budi.santoso@gmail.com",
    phone: str = "081234567890",
    invoice_id: str | None = None,
    bank_name: str = "BCA",
    cdate: datetime | None = None,
) -> MadeLoan:
    n = next_id()
    due_dates = due_dates or [date(2026, 12, 1)]
    ids = MadeLoan(
        application_id=100_000 + n, application_xid=9_000_000_000 + n, customer_id=200_000 + n,
        loan_id=300_000 + n, disbursement_id=600_000 + n,
    )
    principal = installment_principal or loan_amount // len(due_dates)
    cdate = cdate or datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
    with conn.cursor() as cur:
        cur.execute(
            """INSERT INTO application (application_id, application_xid, customer_id, partner_id,
                   product_line_code, fullname, email, mobile_phone_1, has_whatsapp_1, address_kodepos,
                   loan_purpose, credit_grade, bank_name, application_status_code, invoice_id, cdate)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'Modal usaha', 'B', %s, %s, %s, %s)""",
            (ids.application_id, ids.application_xid, ids.customer_id, partner_id, product_line_code,
             fullname, email, phone, has_whatsapp, postcode, bank_name, int(application_status),
             invoice_id, cdate),
        )
        cur.execute(
            """INSERT INTO loan (loan_id, application_id, customer_id, application_xid, partner,
                   loan_status_code, product_code, loan_amount, loan_duration, installment_amount,
                   julo_bank_name, julo_bank_account_number, disbursement_id, fund_transfer_ts, cdate)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (ids.loan_id, ids.application_id, ids.customer_id, ids.application_xid, partner_id,
             int(loan_status), product_line_code, loan_amount, len(due_dates), principal + installment_interest,
             bank_name, f"10994{phone[1:]}", ids.disbursement_id, cdate + timedelta(days=1), cdate),
        )
        cur.execute(
            """INSERT INTO disbursement (disbursement_id, loan_id, disburse_status, disburse_amount,
                   bank_code, bank_number, retry_times)
               VALUES (%s, %s, %s, %s, '014', '1234567890', 0)""",
            (ids.disbursement_id, ids.loan_id, str(disburse_status), disburse_amount or loan_amount),
        )
        for number, due in enumerate(due_dates, start=1):
            payment_id = 400_000 + n * 100 + number
            cur.execute(
                """INSERT INTO payment (payment_id, loan_id, payment_number, payment_status_code, due_date,
                       due_amount, installment_principal, installment_interest, is_robocall_active,
                       is_whatsapp)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                (payment_id, ids.loan_id, number, int(payment_status), due, principal + installment_interest,
                 principal, installment_interest, is_robocall_active, has_whatsapp),
            )
            ids.payment_ids.append(payment_id)
    return ids


def add_history(conn: psycopg2.extensions.connection, application_id: int, path: list[int],
                start: datetime | None = None) -> None:
    start = start or datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
    previous = None
    with conn.cursor() as cur:
        for i, status in enumerate(path):
            cur.execute(
                "INSERT INTO application_history (application_id, status_old, status_new, cdate) "
                "VALUES (%s, %s, %s, %s)",
                (application_id, previous, status, start + timedelta(hours=i)),
            )
            previous = status


def add_repayment(
    conn: psycopg2.extensions.connection,
    loan: MadeLoan,
    payment_id: int,
    partner_id: int,
    repaid: Components,
    *,
    fee_bp: int = 2_000,
    event_date: date = date(2026, 11, 1),
    due_before: int | None = None,
) -> int:
    """A repayment_transaction row, split lender/platform as the ledger does."""
    split = share(repaid, fee_bp)
    b, lr, f = split.borrower_repaid, split.lender_received, split.platform_fee
    txn_id = 700_000 + next_id()
    due_before = repaid.total if due_before is None else due_before
    with conn.cursor() as cur:
        cur.execute(
            """INSERT INTO repayment_transaction (repayment_transaction_id, partner_id, customer_id, loan_id,
                   payment_id, event_date, repayment_source, borrower_repaid, borrower_repaid_principal,
                   borrower_repaid_interest, borrower_repaid_late_fee, lender_received,
                   lender_received_principal, lender_received_interest, lender_received_late_fee,
                   julo_fee_received, julo_fee_received_principal, julo_fee_received_interest,
                   julo_fee_received_late_fee, due_amount_before, due_amount_after, lender_balance_before,
                   lender_balance_after)
               VALUES (%s, %s, %s, %s, %s, %s, 'va_bca', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                       %s, %s, 0, %s)""",
            (txn_id, partner_id, loan.customer_id, loan.loan_id, payment_id, event_date,
             b.total, b.principal, b.interest, b.late_fee, lr.total, lr.principal, lr.interest, lr.late_fee,
             f.total, f.principal, f.interest, f.late_fee, due_before, due_before - b.total, lr.total),
        )
    return txn_id


def stage_settings() -> StageSettings:
    """The reminder-stage function's settings as the test's environment gives them (its handler's
    ``ctx.settings``; secrets and the database not required)."""
    return StageSettings.from_environment(complete=False)


def dispatch_settings() -> DispatchSettings:
    """The dispatch function's settings as the test's environment gives them (see ``stage_settings``)."""
    return DispatchSettings.from_environment(complete=False)


def provider_settings(**given: object) -> DispatchSettings:
    """Settings for a provider client under test: the caller number and WhatsApp phone-number id the
    local fakes know (required settings, no default), ``given`` on top."""
    return DispatchSettings(voice_from_number=LOCAL_VOICE_FROM_NUMBER,  # type: ignore[arg-type]
                            whatsapp_phone_number_id=LOCAL_PHONE_NUMBER_ID, **given)
