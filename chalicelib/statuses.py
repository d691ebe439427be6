"""Every status code the system reads or writes, defined once.

Codes follow the lender's numbering (report 000): application 1xx, loan 2xx, payment 3xx.
See docs/statuses.md for the meaning of each.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class ApplicationStatus(IntEnum):
    FORM_CREATED = 100
    FORM_PARTIAL = 105
    FORM_SUBMITTED = 110
    DOCUMENTS_SUBMITTED = 120
    DOCUMENTS_VERIFIED = 130
    OFFER_MADE = 140
    OFFER_ACCEPTED = 160
    LEGAL_AGREEMENT_SIGNED = 170
    FUND_DISBURSAL_SUCCESSFUL = 180
    FUND_DISBURSAL_FAILED = 181
    APPLICATION_DENIED = 135


APPLICATION_STATUS_LABELS: dict[int, str] = {
    ApplicationStatus.FORM_CREATED: "Form created",
    ApplicationStatus.FORM_PARTIAL: "Form partial",
    ApplicationStatus.FORM_SUBMITTED: "Form submitted",
    ApplicationStatus.DOCUMENTS_SUBMITTED: "Documents submitted",
    ApplicationStatus.DOCUMENTS_VERIFIED: "Documents verified",
    ApplicationStatus.APPLICATION_DENIED: "Application denied",
    ApplicationStatus.OFFER_MADE: "Offer made",
    ApplicationStatus.OFFER_ACCEPTED: "Offer accepted",
    ApplicationStatus.LEGAL_AGREEMENT_SIGNED: "Legal agreement signed",
    ApplicationStatus.FUND_DISBURSAL_SUCCESSFUL: "Fund disbursal successful",
    ApplicationStatus.FUND_DISBURSAL_FAILED: "Fund disbursal failed",
}

# What a funder reads (the partner portal, its downloads), as the seed's Report View words them:
# an application whose agreement is signed is waiting for its money, "Proses pencairan".
APPLICATION_STATUS_LABELS_ID: dict[int, str] = {
    ApplicationStatus.FORM_CREATED: "Formulir dibuat",
    ApplicationStatus.FORM_PARTIAL: "Formulir belum lengkap",
    ApplicationStatus.FORM_SUBMITTED: "Formulir dikirim",
    ApplicationStatus.DOCUMENTS_SUBMITTED: "Dokumen dikirim",
    ApplicationStatus.DOCUMENTS_VERIFIED: "Dokumen terverifikasi",
    ApplicationStatus.APPLICATION_DENIED: "Pengajuan ditolak",
    ApplicationStatus.OFFER_MADE: "Penawaran diberikan",
    ApplicationStatus.OFFER_ACCEPTED: "Penawaran diterima",
    ApplicationStatus.LEGAL_AGREEMENT_SIGNED: "Proses pencairan",
    ApplicationStatus.FUND_DISBURSAL_SUCCESSFUL: "Dana telah dicairkan",
    ApplicationStatus.FUND_DISBURSAL_FAILED: "Pencairan gagal",
}


class LoanStatus(IntEnum):
    INACTIVE = 210  # created, not yet disbursed
    CURRENT = 220
    LATE_1_4 = 230
    LATE_5_29 = 231
    LATE_30_PLUS = 232
    PAID_OFF = 250


# Loans whose borrowers are being collected on (disbursed, not paid off).
ACTIVE_LOAN_STATUSES: tuple[int, ...] = (
    LoanStatus.CURRENT,
    LoanStatus.LATE_1_4,
    LoanStatus.LATE_5_29,
    LoanStatus.LATE_30_PLUS,
)


class PaymentStatus(IntEnum):
    NOT_DUE = 310
    DUE_IN_3_DAYS = 311
    DUE_TODAY = 312
    LATE_1_4 = 320
    LATE_5_29 = 321
    LATE_30_PLUS = 322
    PAID_ON_TIME = 330
    PAID_WITHIN_GRACE = 331
    PAID_LATE = 332


# A payment is "paid" from this code up; everything below is still owed.
PAID_THRESHOLD = 330


class DisbursementStatus(StrEnum):
    INITIATED = "INITIATED"
    PENDING = "PENDING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
