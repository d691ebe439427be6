from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.reminders.selection import due_date_for, iter_t3_payments
from chalicelib.statuses import LoanStatus, PaymentStatus
from chalicelib.zones import Zone, zone_for_postcode
from tests.factories import make_loan, make_partner

BUSINESS_DATE = date(2026, 11, 22)
T3 = date(2026, 11, 25)


def _ids(conn, zone, **kw):
    return [p.payment_id for p in iter_t3_payments(conn, zone, BUSINESS_DATE, **kw)]


def test_due_date_is_three_days_after_business_date():
    assert due_date_for(BUSINESS_DATE) == T3
    assert due_date_for(date(2026, 12, 30)) == date(2027, 1, 2)


def test_each_exclusion(conn):
    make_partner(conn, 1, "Bukalapak")
    wanted = make_loan(conn, postcode="90111", due_dates=[T3])                       # WITA, due T-3
    make_loan(conn, postcode="90111", due_dates=[T3], payment_status=PaymentStatus.PAID_ON_TIME)
    make_loan(conn, postcode="90111", due_dates=[T3], is_robocall_active=False)
    make_loan(conn, postcode="10110", due_dates=[T3])                                # other zone (WIB)
    make_loan(conn, postcode="90111", due_dates=[date(2026, 11, 26)])               # other due date
    make_loan(conn, postcode="90111", due_dates=[date(2026, 11, 24)])
    make_loan(conn, postcode="90111", due_dates=[T3], loan_status=LoanStatus.INACTIVE)  # not disbursed
    make_loan(conn, postcode="90111", due_dates=[T3], loan_status=LoanStatus.PAID_OFF)
    assert _ids(conn, Zone.WITA) == wanted.payment_ids


def test_only_the_t3_installment_of_a_schedule(conn):
    make_partner(conn, 1, "Bukalapak")
    loan = make_loan(conn, postcode="99111", due_dates=[date(2026, 10, 25), T3, date(2026, 12, 25)])
    got = list(iter_t3_payments(conn, Zone.WIT, BUSINESS_DATE))
    assert [(p.payment_id, p.payment_number, p.due_date) for p in got] == [(loan.payment_ids[1], 2, T3)]


def test_retry_stage_restricts_to_unsuccessful_robocall(conn):
    make_partner(conn, 1, "Bukalapak")
    called = make_loan(conn, postcode="10110", phone="081200000001", due_dates=[T3])
    not_reached = make_loan(conn, postcode="10110", phone="081200000002", due_dates=[T3])
    # the same borrower (number) as "called": one call named both loans, so it is not called again
    same_number = make_loan(conn, postcode="10110", phone="0812-0000-0001", due_dates=[T3])
    with conn.cursor() as cur:
        cur.execute("UPDATE payment SET is_success_robocall = TRUE WHERE payment_id = %s", (called.payment_ids[0],))
    assert _ids(conn, Zone.WIB) == sorted(called.payment_ids + not_reached.payment_ids + same_number.payment_ids)
    assert _ids(conn, Zone.WIB, only_unsuccessful_robocall=True) == not_reached.payment_ids


def test_missing_and_malformed_postcodes_fall_back_to_wib_and_are_flagged(conn):
    make_partner(conn, 1, "Bukalapak")
    good = make_loan(conn, postcode="10110", due_dates=[T3])
    missing = make_loan(conn, postcode=None, due_dates=[T3])
    bad = make_loan(conn, postcode="18234", due_dates=[T3])
    rows = {p.payment_id: p for p in iter_t3_payments(conn, Zone.WIB, BUSINESS_DATE)}
    assert set(rows) == set(good.payment_ids + missing.payment_ids + bad.payment_ids)
    assert rows[good.payment_ids[0]].zone_fallback is False
    assert rows[missing.payment_ids[0]].zone_fallback is True
    assert rows[bad.payment_ids[0]].zone_fallback is True
    assert _ids(conn, Zone.WITA) == [] and _ids(conn, Zone.WIT) == []


def test_row_carries_what_the_dispatcher_needs(conn):
    make_partner(conn, 1, "Bukalapak")
    loan = make_loan(conn, postcode="80361", due_dates=[T3], product_line_code=100, phone="081311112222",
                     fullname="Made Wijaya", installment_principal=500_000, installment_interest=45_000)
    (row,) = iter_t3_payments(conn, Zone.WITA, BUSINESS_DATE)
    assert (row.loan_id, row.due_amount, row.phone, row.fullname, row.product_family, row.zone) == (
        loan.loan_id, 545_000, "081311112222", "Made Wijaya", "PEDE", Zone.WITA)


def test_amount_desc_ordering(conn):
    make_partner(conn, 1, "Bukalapak")
    small = make_loan(conn, due_dates=[T3], installment_principal=100_000)
    big = make_loan(conn, due_dates=[T3], installment_principal=900_000)
    assert _ids(conn, Zone.WIB, order_by="amount_desc") == big.payment_ids + small.payment_ids


postcodes = st.one_of(
    st.none(),
    st.text(alphabet="0123456789 ", min_size=0, max_size=7),
    st.from_regex(r"\A[0-9]{5}\Z"),
    st.text(max_size=6),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(postcodes)
def test_sql_zone_agrees_with_python(conn, postcode):
    if postcode is not None and "\x00" in postcode:
        return
    with conn.cursor() as cur:
        cur.execute(
            """SELECT z.zone FROM (SELECT %s::text AS k) a
               LEFT JOIN postcode_zone z ON z.prefix = left(btrim(a.k), 2) AND btrim(a.k) ~ '^[0-9]{5}$'""",
            (postcode,),
        )
        sql_zone = cur.fetchone()[0]
    py_zone = zone_for_postcode(postcode)
    assert sql_zone == (py_zone.value if py_zone else None)
