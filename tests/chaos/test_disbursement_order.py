"""Disbursement events duplicated, delivered concurrently, out of order, with clock skew."""

from __future__ import annotations

import random
from datetime import timedelta

import psycopg2.extensions
import pytest

from localdev.aws.bootstrap import bootstrap
from tests.chaos.disbursements import email_of, emails_by_recipient, event, statuses, waiting_loans
from tests.chaos.virtual_time import EPOCH, VirtualLambda

SKEW_S = 3  # the gateway's clocks disagree by up to 3 s; consecutive steps are 1-2 s apart


@pytest.mark.chaos(scenario="disbursement events duplicated, concurrent, out of order, clock skew",
                   invariant="no good event is lost; exactly one email per completed disbursement")
def test_every_disbursement_ends_in_its_last_status_with_one_email(
    conn: psycopg2.extensions.connection, aws: str,
) -> None:
    rng = random.Random(20261120)
    loans = waiting_loans(conn, 18, status="INITIATED")
    bootstrap()
    world = VirtualLambda("disbursement-events", "email-outbox", containers=2)
    completes, retries, fails = loans[:8], loans[8:13], loans[13:]

    def skewed(loan_no: int, step_s: float) -> object:
        return EPOCH + timedelta(seconds=loan_no * 10 + step_s + rng.uniform(-SKEW_S, SKEW_S))

    def deliver(bodies: list[str]) -> None:
        copies = [b for b in bodies for _ in range(rng.choice((1, 1, 2, 3)))]  # duplicates
        rng.shuffle(copies)  # out of order
        world.send(copies)
        world.run()

    first: list[str] = []
    for n, loan in enumerate(loans):
        first.append(event(f"d{n}-pending", loan, "PENDING", skewed(n, 1)))
        last = "COMPLETED" if loan in completes else "FAILED"
        first.append(event(f"d{n}-{last.lower()}", loan, last, skewed(n, 2)))
    deliver(first)
    # the gateway retries the failed transfers an hour later; late copies of the first round arrive too
    later = [b for n, loan in enumerate(loans) if loan in retries
             for b in (event(f"d{n}-retry", loan, "INITIATED", skewed(n, 3600)),
                       event(f"d{n}-pending-2", loan, "PENDING", skewed(n, 3601)),
                       event(f"d{n}-completed-2", loan, "COMPLETED", skewed(n, 3602)))]
    deliver(later + rng.sample(first, 6))

    assert world.dead_letters() == []
    final = statuses()
    assert {final[loan.disbursement_id] for loan in completes} == {("COMPLETED", 0)}
    assert {final[loan.disbursement_id] for loan in retries} == {("COMPLETED", 1)}
    assert {final[loan.disbursement_id] for loan in fails} == {("FAILED", 0)}
    assert emails_by_recipient() == {email_of(loan): 1 for loan in completes + retries}
