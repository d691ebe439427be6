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

NOTHING_PAID = Components(0, 0, 0)


@dataclass(frozen=True)
class _Borrower:
    """Who one loan belongs to: its ids and the borrower's details, drawn once per loan."""

    application_id: int
    customer_id: int
    loan_id: int
    disbursement_id: int
    xid: int
    partner_id: int
    product_code: int
    fullname: str
    email: str
    phone: str
    has_whatsapp: bool
    bank_name: str
    bank_code: str
    va_prefix: str


@dataclass(frozen=True)
class _Installment:
    status: PaymentStatus
    outstanding: Components
    paid: Components = NOTHING_PAID
    paid_on: date | None = None
    unpaid_late_days: int = 0


def _disbursement_status(r: float) -> tuple[DS, bool]:
    """(status, stuck after a failed attempt) from one uniform draw: 85% completed, 3% stuck at 170,
    2% stuck at 181 after a failure, 3% pending, 7% failed."""
    if r < 0.85:
        return DS.COMPLETED, False
    if r < 0.90:
        return DS.INITIATED, r >= 0.88
    return (DS.PENDING, False) if r < 0.93 else (DS.FAILED, False)


def _application_status(disb_status: DS, stuck_after_failure: bool) -> AS:
    if disb_status is DS.COMPLETED:
        return AS.FUND_DISBURSAL_SUCCESSFUL
    if disb_status is DS.FAILED or stuck_after_failure:
        return AS.FUND_DISBURSAL_FAILED
    return AS.LEGAL_AGREEMENT_SIGNED


def _loan_status(disbursed: bool, all_paid: bool, unpaid_overdue_days: int) -> LoanStatus:
    if not disbursed:
        return LoanStatus.INACTIVE
    if all_paid:
        return LoanStatus.PAID_OFF
    if unpaid_overdue_days == 0:
        return LoanStatus.CURRENT
    if unpaid_overdue_days <= 4:
        return LoanStatus.LATE_1_4
    return LoanStatus.LATE_5_29 if unpaid_overdue_days <= 29 else LoanStatus.LATE_30_PLUS


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

    # --- one loan (each step draws from the random stream in the order the rows need it) ----------
    def loan(self, i: int, out: Tables) -> None:
        rng = self.rng
        b = self._borrower(i)
        line = PRODUCT_LINES_BY_CODE[b.product_code]
        if line.family is ProductFamily.PEDE:
            loan_amount = rng.randrange(500_000, 3_000_001, 250_000)
        else:
            loan_amount = rng.randrange(1_000_000, 8_000_001, 500_000)
        duration = rng.randint(line.min_duration, line.max_duration)
        interest = loan_amount * line.monthly_interest_bp // 10_000
        base_principal = loan_amount // duration
        principals = [base_principal] * (duration - 1) + [loan_amount - base_principal * (duration - 1)]

        disb_status, stuck_after_failure = _disbursement_status(rng.random())
        first_due, transfer_day = self._schedule_days(disb_status, duration)
        app_day = transfer_day - timedelta(days=rng.randint(1, 3))
        app_cdate = self._application(b, _application_status(disb_status, stuck_after_failure), app_day, out)

        disburse_amount = loan_amount - loan_amount * PROVISION_FEE_BP // 10_000
        retry_times = 1 if stuck_after_failure else (rng.randint(1, 3) if disb_status is DS.FAILED else 0)
        out.add("disbursement", (
            b.disbursement_id, b.loan_id, disb_status.value, disburse_amount, b.bank_code,
            f"{rng.randint(10**9, 10**10 - 1)}", rng.randint(10**8, 10**9 - 1), retry_times,
            "NAME_VALIDATED", app_cdate, app_cdate,
        ))

        disbursed = disb_status is DS.COMPLETED
        robocall_active_loan = rng.random() < 0.93
        unpaid_overdue_days = 0
        all_paid = True
        for n in range(1, duration + 1):
            due = add_months(first_due, n - 1)
            late = self._payment(b, n, due, principals[n - 1], interest, disbursed, robocall_active_loan, out)
            all_paid = all_paid and late is not None and late <= 0
            unpaid_overdue_days = max(unpaid_overdue_days, late or 0)

        loan_status = _loan_status(disbursed, all_paid, unpaid_overdue_days)
        out.add("loan", (
            b.loan_id, b.application_id, b.customer_id, b.xid, b.partner_id, int(loan_status), b.product_code,
            loan_amount, duration, principals[0] + interest, base_principal + interest, disburse_amount,
            "Xfers", self.timestamp(transfer_day) if disbursed else None, b.bank_name,
            f"{b.va_prefix}{b.phone[1:]}", first_due.day, b.disbursement_id, app_cdate, app_cdate,
        ))

    def _borrower(self, i: int) -> _Borrower:
        rng = self.rng
        xid = 5_000_000_000 + i * 97 + rng.randint(0, 96)
        partner_id = rng.choices(self.partner_choices, self.partner_weights)[0]
        product_code = self.product()
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first.lower()}.{last.lower()}{rng.randint(1, 999)}@{rng.choice(EMAIL_DOMAINS)}"
        operator = rng.choice(("11", "12", "13", "21", "52", "57", "77", "78", "95"))
        phone = f"08{operator}{rng.randint(10_000_000, 99_999_999)}"
        has_whatsapp = rng.random() < 0.8
        bank_name, bank_code, va_prefix = rng.choice(BANKS)
        return _Borrower(2_000_000 + i, 1_000_000 + i, 3_000_000 + i, 6_000_000 + i, xid, partner_id,
                         product_code, f"{first} {last}", email, phone, has_whatsapp, bank_name, bank_code,
                         va_prefix)

    def _schedule_days(self, disb_status: DS, duration: int) -> tuple[date, date]:
        """(first due date, transfer day): a share of disbursed loans has an installment due at T-3."""
        rng = self.rng
        if disb_status is DS.COMPLETED and rng.random() < self.t3_share:
            k = rng.randint(1, duration)
            hit = self.t3_dues[0] if len(self.t3_dues) == 1 else rng.choice(self.t3_dues)
            first_due = add_months(hit, -(k - 1))
            transfer_day = first_due - timedelta(days=rng.randint(25, 35))
            return first_due, min(transfer_day, self.business_date - timedelta(days=1))
        if disb_status is DS.COMPLETED:
            transfer_day = self.business_date - timedelta(days=rng.randint(5, 540))
            return transfer_day + timedelta(days=30), transfer_day
        transfer_day = self.business_date - timedelta(days=rng.randint(1, 20))
        return self.business_date + timedelta(days=rng.randint(30, 45)), transfer_day

    def _application(self, b: _Borrower, app_status: AS, app_day: date, out: Tables) -> str:
        """The application row and its status history; returns its creation timestamp."""
        rng = self.rng
        invoice_id = (
            f"INV/{app_day:%Y%m%d}/{rng.randint(10**9, 10**10 - 1)}" if b.partner_id == BUKALAPAK_PARTNER_ID else None
        )
        app_cdate = self.timestamp(app_day)
        out.add("application", (
            b.application_id, b.xid, b.customer_id, b.partner_id, b.product_code, b.fullname, b.email, b.phone,
            b.has_whatsapp, self.postcode(), rng.choice(LOAN_PURPOSES), rng.choice(CREDIT_GRADES),
            b.bank_name, f"{rng.randint(10**9, 10**10 - 1)}", b.fullname, int(app_status), invoice_id,
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
            out.add("application_history", (b.application_id, previous, int(app_step), "demo",
                                             self.timestamp(day)))
            previous = int(app_step)
        return app_cdate

    def _payment(self, b: _Borrower, n: int, due: date, principal: int, interest: int, disbursed: bool,
                 robocall_active_loan: bool, out: Tables) -> int | None:
        """One installment's row (and its repayment, held for ``flush_repayments``). Returns 0 when it is
        paid, the days it is overdue when it is not, None when it is not paid and not yet overdue."""
        payment_id = self.next_payment_id
        self.next_payment_id += 1
        state = self._installment_state(due, Components(principal, interest, 0), disbursed)
        if state.paid.total and state.paid_on is not None:
            self.repayments.append(PendingRepayment(
                b.partner_id, b.customer_id, b.loan_id, payment_id, state.paid_on, self.rng.choice(REPAYMENT_SOURCES),
                state.paid, state.outstanding.total,
            ))
        outstanding, paid, paid_on = state.outstanding, state.paid, state.paid_on
        out.add("payment", (
            payment_id, b.loan_id, n, int(state.status), due.isoformat(), outstanding.total, principal, interest,
            outstanding.late_fee, paid_on.isoformat() if paid_on else None, paid.total, paid.principal,
            paid.interest, paid.late_fee, robocall_active_loan and self.rng.random() < 0.97, False,
            b.has_whatsapp, False, self.promise_to_pay_number(payment_id, b.phone, due), None,
        ))
        if state.status >= PaymentStatus.PAID_ON_TIME:
            return 0
        return state.unpaid_late_days or None

    def _installment_state(self, due: date, owed: Components, disbursed: bool) -> _Installment:
        rng = self.rng
        days_to_due = (due - self.business_date).days
        if not disbursed or days_to_due > 3:
            if disbursed and due in self.t3_dues and rng.random() < 0.10:  # an early payer
                return _Installment(PaymentStatus.PAID_ON_TIME, owed, owed,
                                    self.business_date - timedelta(days=rng.randint(0, 2)))
            return _Installment(PaymentStatus.NOT_DUE, owed)
        if days_to_due >= 0:
            if days_to_due == 3 and rng.random() < 0.10:  # paid before the reminder
                return _Installment(PaymentStatus.PAID_ON_TIME, owed, owed,
                                    self.business_date - timedelta(days=rng.randint(0, 2)))
            return _Installment(PaymentStatus.DUE_IN_3_DAYS if days_to_due == 3 else PaymentStatus.DUE_TODAY, owed)
        if rng.random() < 0.9:
            return self._paid_after_due(due, owed)
        return self._unpaid_overdue(due, owed, -days_to_due)

    def _paid_after_due(self, due: date, owed: Components) -> _Installment:
        paid_on = min(due + timedelta(days=self.rng.choice((-3, -1, 0, 0, 0, 2, 6, 12))), self.business_date)
        paid_late = (paid_on - due).days
        if paid_late > 4:
            owed = Components(owed.principal, owed.interest, 50_000)
        status = (PaymentStatus.PAID_ON_TIME if paid_late <= 0 else
                  PaymentStatus.PAID_WITHIN_GRACE if paid_late <= 4 else PaymentStatus.PAID_LATE)
        return _Installment(status, owed, owed, paid_on)

    def _unpaid_overdue(self, due: date, owed: Components, late_days: int) -> _Installment:
        rng = self.rng
        fee = 0 if late_days <= 4 else 50_000 if late_days <= 30 else 100_000
        outstanding = Components(owed.principal, owed.interest, fee)
        status = (PaymentStatus.LATE_1_4 if late_days <= 4 else
                  PaymentStatus.LATE_5_29 if late_days <= 29 else PaymentStatus.LATE_30_PLUS)
        if rng.random() < 0.3:  # a partial payment
            paid_on = due + timedelta(days=rng.randint(1, max(1, min(late_days, 20))))
            partial = rng.randrange(50_000, outstanding.total, 50_000) if outstanding.total > 50_000 else 0
            return _Installment(status, outstanding, allocate(partial, outstanding), paid_on, late_days)
        return _Installment(status, outstanding, unpaid_late_days=late_days)

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

