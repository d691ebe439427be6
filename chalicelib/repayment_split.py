"""How a borrower's payment is allocated and shared, in integer rupiah.

Allocation (waterfall): late fee first, then interest, then principal: the usual order
for Indonesian consumer lenders, and the one the ledger columns imply.
Sharing: the lender (partner) receives all principal; the platform keeps a fee share of
interest and late fee, rounded down to the rupiah in the platform's disfavour, so the
lender is never short-changed by rounding. Every component adds up exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PLATFORM_FEE_BP = 2_000  # 20% of interest and late fee, in basis points


@dataclass(frozen=True)
class Components:
    principal: int
    interest: int
    late_fee: int

    @property
    def total(self) -> int:
        return self.principal + self.interest + self.late_fee


@dataclass(frozen=True)
class Split:
    borrower_repaid: Components
    lender_received: Components
    platform_fee: Components


def allocate(amount: int, outstanding: Components) -> Components:
    """Allocate ``amount`` against what is owed: late fee, then interest, then principal.

    Never allocates more than is owed; an overpayment's excess is left unallocated
    (callers refund or hold it).
    """
    if amount < 0:
        raise ValueError("amount must be >= 0")
    late_fee = min(amount, outstanding.late_fee)
    rest = amount - late_fee
    interest = min(rest, outstanding.interest)
    rest -= interest
    principal = min(rest, outstanding.principal)
    return Components(principal=principal, interest=interest, late_fee=late_fee)


def share(repaid: Components, platform_fee_bp: int = DEFAULT_PLATFORM_FEE_BP) -> Split:
    """Split a repayment between lender and platform."""
    if not 0 <= platform_fee_bp <= 10_000:
        raise ValueError("platform_fee_bp must be between 0 and 10000")
    fee = Components(
        principal=0,
        interest=repaid.interest * platform_fee_bp // 10_000,
        late_fee=repaid.late_fee * platform_fee_bp // 10_000,
    )
    lender = Components(
        principal=repaid.principal - fee.principal,
        interest=repaid.interest - fee.interest,
        late_fee=repaid.late_fee - fee.late_fee,
    )
    return Split(borrower_repaid=repaid, lender_received=lender, platform_fee=fee)
