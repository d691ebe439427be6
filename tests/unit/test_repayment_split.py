import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.repayment_split import Components, allocate, share

rupiah = st.integers(min_value=0, max_value=10**12)


@given(rupiah, rupiah, rupiah, rupiah)
def test_allocation_never_exceeds_amount_or_debt(amount, principal, interest, late_fee):
    owed = Components(principal, interest, late_fee)
    got = allocate(amount, owed)
    assert got.total == min(amount, owed.total)
    assert 0 <= got.principal <= principal
    assert 0 <= got.interest <= interest
    assert 0 <= got.late_fee <= late_fee


@given(rupiah, rupiah, rupiah, rupiah)
def test_waterfall_order(amount, principal, interest, late_fee):
    got = allocate(amount, Components(principal, interest, late_fee))
    # interest only once the late fee is covered, principal only once interest is
    if got.interest > 0:
        assert got.late_fee == late_fee
    if got.principal > 0:
        assert got.interest == interest


@given(rupiah, rupiah, rupiah, st.integers(0, 10_000))
def test_share_adds_up_component_by_component(principal, interest, late_fee, fee_bp):
    split = share(Components(principal, interest, late_fee), fee_bp)
    for part in ("principal", "interest", "late_fee"):
        assert getattr(split.borrower_repaid, part) == (
            getattr(split.lender_received, part) + getattr(split.platform_fee, part)
        )
    assert split.lender_received.principal == principal  # the lender gets all principal
    assert split.platform_fee.interest <= interest * fee_bp / 10_000  # rounding favours the lender
    assert all(isinstance(v, int) for v in vars(split.platform_fee).values())


def test_hand_computed_example():
    owed = Components(principal=1_000_000, interest=160_000, late_fee=50_000)
    got = allocate(600_000, owed)
    assert got == Components(principal=390_000, interest=160_000, late_fee=50_000)
    split = share(got, 2_000)
    assert split.platform_fee == Components(0, 32_000, 10_000)
    assert split.lender_received == Components(390_000, 128_000, 40_000)


def test_bad_arguments():
    with pytest.raises(ValueError):
        allocate(-1, Components(1, 1, 1))
    with pytest.raises(ValueError):
        share(Components(1, 1, 1), 10_001)
