"""The demo book, loan by loan: borrowers in the three zones (real-looking postcodes, some missing or
malformed), four partners, product lines with monthly schedules, installments due at T-3 of the
business date, disbursements in every status, and repayments allocated late fee -> interest ->
principal and shared lender/platform. ``Generator.loan`` writes one loan's rows into ``Tables``;
the same seed and business date give the same rows (``lending.py`` loads them)."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from chalicelib.business_date import add_months
from chalicelib.products import PRODUCT_LINES_BY_CODE, ProductFamily
from chalicelib.repayment_split import Components, allocate, share
from chalicelib.statuses import ApplicationStatus as AS
from chalicelib.statuses import DisbursementStatus as DS
from chalicelib.statuses import LoanStatus, PaymentStatus
from chalicelib.zones import POSTCODE_PREFIXES, Zone
from localdev.datagen.lending_rows import Tables

BUKALAPAK_PARTNER_ID = 1


@dataclass(frozen=True)
class DemoPartner:
    partner_id: int
    name: str
    partner_type: str
    weight: float


PARTNERS: tuple[DemoPartner, ...] = (
    DemoPartner(BUKALAPAK_PARTNER_ID, "Bukalapak", "marketplace", 0.25),
    DemoPartner(2, "Lendana P2P", "lender", 0.35),
    DemoPartner(3, "Mitra Dana Sejahtera", "lender", 0.25),
    DemoPartner(4, "Koperasi Modal Rakyat", "lender", 0.15),
)

FIRST_NAMES = (
    "Budi", "Siti", "Agus", "Dewi", "Rudi", "Wati", "Eko", "Sri", "Andi", "Rina", "Bambang",
    "Putri", "Hendra", "Nur", "Yusuf", "Ayu", "Fajar", "Intan", "Joko", "Lestari", "Rizky",
    "Maya", "Dedi", "Fitri", "Made", "Ketut", "Wayan", "Nyoman", "Yohanes", "Maria",
)
LAST_NAMES = (
    "Santoso", "Wahyuni", "Saputra", "Lestari", "Hidayat", "Pratama", "Wibowo", "Kusuma",
    "Setiawan", "Nugroho", "Siregar", "Nasution", "Harahap", "Sinaga", "Suryadi", "Gunawan",
    "Halim", "Tanjung", "Rahman", "Wijaya", "Putra", "Sari", "Manurung", "Pangaribuan",
)
EMAIL_DOMAINS = ("gmail.com", "yahoo.co.id", "gmail.com", "outlook.com", "gmail.com")
LOAN_PURPOSES = (
    "Membeli elektronik", "Biaya pendidikan", "Modal usaha", "Renovasi rumah",
    "Biaya kesehatan", "Kebutuhan sehari-hari", "Membeli kendaraan",
)
CREDIT_GRADES = ("A", "B+", "B", "B-", "C")
# bank name, disbursement bank code, virtual-account prefix for repayment
BANKS = (
    ("BCA", "014", "10994"),
    ("BRI", "002", "26529"),
    ("BNI", "009", "8277"),
    ("Mandiri", "008", "88308"),
    ("Permata", "013", "851598"),
)
REPAYMENT_SOURCES = ("va_bca", "va_bri", "va_permata", "indomaret", "alfamart")
# Share of postcodes per zone; the rest are missing or malformed.
ZONE_WEIGHTS = ((Zone.WIB, 0.70), (Zone.WITA, 0.20), (Zone.WIT, 0.06))
BAD_POSTCODES = (None, "", "1234", "ABCDE", "18234", "882100", "0 123")
PRODUCT_WEIGHTS = ((10, 0.65), (20, 0.15), (100, 0.14), (200, 0.06))
T3_HIT_SHARE = 0.08  # share of disbursed loans with an installment due at T-3
PROVISION_FEE_BP = 500  # 5% of the loan amount is kept at disbursement


@dataclass
class PendingRepayment:
    """A repayment, held until the end so lender balances run in event-date order."""

    partner_id: int
    customer_id: int
    loan_id: int
    payment_id: int
    event_date: date
    source: str
    repaid: Components
    due_before: int


class Generator:
    def __init__(self, seed: int, business_date: date, t3_share: float = T3_HIT_SHARE,
                 due_dates: Iterable[date] = ()) -> None:
        self.rng = random.Random(seed)
        self.business_date = business_date
        self.t3_due = business_date + timedelta(days=3)
        self.t3_dues = tuple(due_dates) or (self.t3_due,)
        self.t3_share = t3_share
        self.t3_payments = 0
        self.next_payment_id = 40_000_001
        self.repayments: list[PendingRepayment] = []
        self.prefixes_by_zone = {
            zone: [p for p, (z, _r) in sorted(POSTCODE_PREFIXES.items()) if z is zone] for zone in Zone
        }
        self.partner_choices = [p.partner_id for p in PARTNERS]
        self.partner_weights = [p.weight for p in PARTNERS]

    # --- small pickers -------------------------------------------------------------
    def promise_to_pay_number(self, payment_id: int, phone: str, due: date) -> str | None:
        """An agent-typed promise-to-pay number, chosen without the random stream (the rest of the
        book is the same with or without them): two numbers typed into the one field on the 1st,
        41st, 81st… installment due at T-3 (never callable: every demo day has some), the borrower's
        number with hyphens on 1 payment in 67 (callable once normalised)."""
        if due == self.t3_due:
            self.t3_payments += 1
            if self.t3_payments % 40 == 1:
                return f"{phone} / {phone[:4]}{phone[:-5:-1]}{phone[4:8]}"
        if payment_id % 67 == 0:
            return f"{phone[:4]}-{phone[4:8]}-{phone[8:]}"
        return None

    def postcode(self) -> str | None:
        r = self.rng.random()
        acc = 0.0
        for zone, weight in ZONE_WEIGHTS:
            acc += weight
            if r < acc:
                prefix = self.rng.choice(self.prefixes_by_zone[zone])
                return f"{prefix}{self.rng.randint(111, 999)}"
        return self.rng.choice(BAD_POSTCODES)

    def product(self) -> int:
        return self.rng.choices([c for c, _ in PRODUCT_WEIGHTS], [w for _, w in PRODUCT_WEIGHTS])[0]

    def timestamp(self, day: date) -> str:
        seconds = self.rng.randint(7 * 3600, 21 * 3600)  # office-ish hours, Jakarta
        local = datetime(day.year, day.month, day.day, tzinfo=timezone(timedelta(hours=7)))
        return (local + timedelta(seconds=seconds)).isoformat()

    # --- one loan ------------------------------------------------------------------
    def loan(self, i: int, out: Tables) -> None:
        rng = self.rng
        application_id = 2_000_000 + i
        customer_id = 1_000_000 + i
        loan_id = 3_000_000 + i
        disbursement_id = 6_000_000 + i
        xid = 5_000_000_000 + i * 97 + rng.randint(0, 96)
        partner_id = rng.choices(self.partner_choices, self.partner_weights)[0]
        product_code = self.product()
        line = PRODUCT_LINES_BY_CODE[product_code]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        fullname = f"{first} {last}"
        email = f"{first.lower()}.{last.lower()}{rng.randint(1, 999)}@{rng.choice(EMAIL_DOMAINS)}"
        operator = rng.choice(("11", "12", "13", "21", "52", "57", "77", "78", "95"))
        phone = f"08{operator}{rng.randint(10_000_000, 99_999_999)}"
        has_whatsapp = rng.random() < 0.8
        bank_name, bank_code, va_prefix = rng.choice(BANKS)

        if line.family is ProductFamily.PEDE:
            loan_amount = rng.randrange(500_000, 3_000_001, 250_000)
        else:
            loan_amount = rng.randrange(1_000_000, 8_000_001, 500_000)
        duration = rng.randint(line.min_duration, line.max_duration)
        interest = loan_amount * line.monthly_interest_bp // 10_000
        base_principal = loan_amount // duration
        principals = [base_principal] * (duration - 1) + [loan_amount - base_principal * (duration - 1)]

        r = rng.random()
        if r < 0.85:
            disb_status = DS.COMPLETED
        elif r < 0.88:
            disb_status = DS.INITIATED  # stuck at 170
        elif r < 0.90:
            disb_status = DS.INITIATED  # stuck at 181 after a failed attempt
        elif r < 0.93:
            disb_status = DS.PENDING
        else:
            disb_status = DS.FAILED
        stuck_after_failure = 0.88 <= r < 0.90

        hits_t3 = disb_status is DS.COMPLETED and rng.random() < self.t3_share
        if hits_t3:
            k = rng.randint(1, duration)
            hit = self.t3_dues[0] if len(self.t3_dues) == 1 else rng.choice(self.t3_dues)
            first_due = add_months(hit, -(k - 1))
            transfer_day = first_due - timedelta(days=rng.randint(25, 35))
            if transfer_day >= self.business_date:
                transfer_day = self.business_date - timedelta(days=1)
        elif disb_status is DS.COMPLETED:
            transfer_day = self.business_date - timedelta(days=rng.randint(5, 540))
            first_due = transfer_day + timedelta(days=30)
        else:
            transfer_day = self.business_date - timedelta(days=rng.randint(1, 20))
            first_due = self.business_date + timedelta(days=rng.randint(30, 45))
        app_day = transfer_day - timedelta(days=rng.randint(1, 3))

        # application + history
        if disb_status is DS.COMPLETED:
            app_status = AS.FUND_DISBURSAL_SUCCESSFUL
        elif disb_status is DS.FAILED or stuck_after_failure:
            app_status = AS.FUND_DISBURSAL_FAILED
        else:
            app_status = AS.LEGAL_AGREEMENT_SIGNED
        invoice_id = (
            f"INV/{app_day:%Y%m%d}/{rng.randint(10**9, 10**10 - 1)}" if partner_id == BUKALAPAK_PARTNER_ID else None
        )
        app_cdate = self.timestamp(app_day)
        out.add("application", (
            application_id, xid, customer_id, partner_id, product_code, fullname, email, phone,
            has_whatsapp, self.postcode(), rng.choice(LOAN_PURPOSES), rng.choice(CREDIT_GRADES),
            bank_name, f"{rng.randint(10**9, 10**10 - 1)}", fullname, int(app_status), invoice_id,
            app_cdate, app_cdate,
        ))
        path = [AS.FORM_CREATED, AS.FORM_SUBMITTED, AS.DOCUMENTS_SUBMITTED, AS.DOCUMENTS_VERIFIED,
                AS.OFFER_ACCEPTED, AS.LEGAL_AGREEMENT_SIGNED]
        if app_status is not AS.LEGAL_AGREEMENT_SIGNED:
            path.append(app_status)
        previous = None
        history_day = app_day - timedelta(days=2)
        for step, app_step in enumerate(path):
            day = history_day if step < len(path) - 1 else app_day
            out.add("application_history", (application_id, previous, int(app_step), "demo", self.timestamp(day)))
            previous = int(app_step)

        # disbursement
        disburse_amount = loan_amount - loan_amount * PROVISION_FEE_BP // 10_000
        retry_times = 1 if stuck_after_failure else (rng.randint(1, 3) if disb_status is DS.FAILED else 0)
        out.add("disbursement", (
            disbursement_id, loan_id, disb_status.value, disburse_amount, bank_code,
            f"{rng.randint(10**9, 10**10 - 1)}", rng.randint(10**8, 10**9 - 1), retry_times,
            "NAME_VALIDATED", app_cdate, app_cdate,
        ))

        # payments
        disbursed = disb_status is DS.COMPLETED
        robocall_active_loan = rng.random() < 0.93
        unpaid_overdue_days = 0
        all_paid = True
        for n in range(1, duration + 1):
            due = add_months(first_due, n - 1)
            payment_id = self.next_payment_id
            self.next_payment_id += 1
            principal = principals[n - 1]
            outstanding = Components(principal, interest, 0)
            paid_on: date | None = None
            paid = Components(0, 0, 0)
            days_to_due = (due - self.business_date).days
            if not disbursed or days_to_due > 3:
                early_payer = disbursed and due in self.t3_dues and rng.random() < 0.10
                status = PaymentStatus.NOT_DUE
                if early_payer:
                    paid_on = self.business_date - timedelta(days=rng.randint(0, 2))
                    paid, status = outstanding, PaymentStatus.PAID_ON_TIME
            elif days_to_due >= 0:
                status = PaymentStatus.DUE_IN_3_DAYS if days_to_due == 3 else PaymentStatus.DUE_TODAY
                if days_to_due == 3 and rng.random() < 0.10:  # paid before the reminder
                    paid_on = self.business_date - timedelta(days=rng.randint(0, 2))
                    paid, status = outstanding, PaymentStatus.PAID_ON_TIME
            else:
                late_days = -days_to_due
                if rng.random() < 0.9:
                    paid_on = due + timedelta(days=rng.choice((-3, -1, 0, 0, 0, 2, 6, 12)))
                    if paid_on > self.business_date:
                        paid_on = self.business_date
                    paid_late = (paid_on - due).days
                    if paid_late > 4:
                        outstanding = Components(principal, interest, 50_000)
                    status = (PaymentStatus.PAID_ON_TIME if paid_late <= 0 else
                              PaymentStatus.PAID_WITHIN_GRACE if paid_late <= 4 else PaymentStatus.PAID_LATE)
                    paid = outstanding
                else:
                    fee = 0 if late_days <= 4 else 50_000 if late_days <= 30 else 100_000
                    outstanding = Components(principal, interest, fee)
                    status = (PaymentStatus.LATE_1_4 if late_days <= 4 else
                              PaymentStatus.LATE_5_29 if late_days <= 29 else PaymentStatus.LATE_30_PLUS)
                    unpaid_overdue_days = max(unpaid_overdue_days, late_days)
                    if rng.random() < 0.3:  # a partial payment
                        paid_on = due + timedelta(days=rng.randint(1, max(1, min(late_days, 20))))
                        partial = rng.randrange(50_000, outstanding.total, 50_000) if outstanding.total > 50_000 else 0
                        paid = allocate(partial, outstanding)
            if status < PaymentStatus.PAID_ON_TIME:
                all_paid = False
            if paid.total and paid_on is not None:
                self.repayments.append(PendingRepayment(
                    partner_id, customer_id, loan_id, payment_id, paid_on, rng.choice(REPAYMENT_SOURCES),
                    paid, outstanding.total,
                ))
            out.add("payment", (
                payment_id, loan_id, n, int(status), due.isoformat(), outstanding.total, principal, interest,
                outstanding.late_fee, paid_on.isoformat() if paid_on else None, paid.total, paid.principal,
                paid.interest, paid.late_fee, robocall_active_loan and rng.random() < 0.97, False,
                has_whatsapp, False, self.promise_to_pay_number(payment_id, phone, due), None,
            ))

        if not disbursed:
            loan_status = LoanStatus.INACTIVE
        elif all_paid:
            loan_status = LoanStatus.PAID_OFF
        elif unpaid_overdue_days == 0:
            loan_status = LoanStatus.CURRENT
        elif unpaid_overdue_days <= 4:
            loan_status = LoanStatus.LATE_1_4
        elif unpaid_overdue_days <= 29:
            loan_status = LoanStatus.LATE_5_29
        else:
            loan_status = LoanStatus.LATE_30_PLUS
        out.add("loan", (
            loan_id, application_id, customer_id, xid, partner_id, int(loan_status), product_code,
            loan_amount, duration, principals[0] + interest, base_principal + interest, disburse_amount,
            "Xfers", self.timestamp(transfer_day) if disbursed else None, bank_name,
            f"{va_prefix}{phone[1:]}", first_due.day, disbursement_id, app_cdate, app_cdate,
        ))

    def flush_repayments(self, out: Tables) -> None:
        """Repayment rows in event order, with each partner's running lender balance."""
        balances: dict[int, int] = {}
        self.repayments.sort(key=lambda r: (r.event_date, r.payment_id))
        for txn_id, rep in enumerate(self.repayments, start=70_000_001):
            split = share(rep.repaid)
            before = balances.get(rep.partner_id, 0)
            after = before + split.lender_received.total
            balances[rep.partner_id] = after
            b, lr, f = split.borrower_repaid, split.lender_received, split.platform_fee
            out.add("repayment_transaction", (
                txn_id, rep.partner_id, rep.customer_id, rep.loan_id, rep.payment_id,
                rep.event_date.isoformat(), rep.source, b.total, b.principal, b.interest, b.late_fee,
                lr.total, lr.principal, lr.interest, lr.late_fee, f.total, f.principal, f.interest,
                f.late_fee, rep.due_before, rep.due_before - b.total, before, after,
            ))
        self.repayments.clear()

