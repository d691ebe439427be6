"""Outages under the disbursement consumer: database down 10 minutes, SES down 10 minutes, database restarts.

Time is virtual (tests/chaos/virtual_time.py): the real queue, database and handler, but a failed
message comes back when Lambda would bring it back, without waiting.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg2.extensions
import pytest

from localdev.aws.bootstrap import bootstrap
from tests.chaos.disbursements import email_of, emails_by_recipient, event, statuses, waiting_loans
from tests.chaos.virtual_time import EPOCH, VirtualLambda

NO_LOSS = "no good event is lost (only poison in the DLQ)"
ONE_EMAIL = "exactly one email per completed disbursement"
POISON = '{"event_id": "evt-poison", "status": "COMPLETED"'  # truncated JSON


@pytest.mark.chaos(scenario="10-minute database outage (disbursement events)", invariant=f"{NO_LOSS}; {ONE_EMAIL}")
def test_a_ten_minute_database_outage_loses_no_event(
    conn: psycopg2.extensions.connection, aws: str,
) -> None:
    loans = waiting_loans(conn, 6)
    bootstrap()
    world = VirtualLambda("disbursement-events", "email-outbox")
    world.db_outage(start=0, end=600)
    world.send([event(f"evt-{i}", loan, "COMPLETED", EPOCH + timedelta(seconds=i)) for i, loan in enumerate(loans)]
               + [POISON])
    world.run()

    assert world.dead_letters() == [POISON]
    assert {s for s, _ in statuses().values()} == {"COMPLETED"}
    assert emails_by_recipient() == {email_of(loan): 1 for loan in loans}
    assert world.now > 600  # the events really waited the outage out


@pytest.mark.chaos(scenario="10-minute SES outage (disbursement events)", invariant=f"{NO_LOSS}; {ONE_EMAIL}")
def test_a_ten_minute_ses_outage_sends_every_email_once(
    conn: psycopg2.extensions.connection, aws: str,
) -> None:
    loans = waiting_loans(conn, 6)
    bootstrap()
    world = VirtualLambda("disbursement-events", "email-outbox")
    world.ses_outage(start=0, end=600)
    world.every(3600, "email-outbox-sweeper")
    world.send([event(f"evt-{i}", loan, "COMPLETED", EPOCH) for i, loan in enumerate(loans)])
    world.run()
    world.run_schedules_until(2 * 3600)

    assert world.dead_letters() == []
    assert world.stats.ses_refused > 0
    assert {s for s, _ in statuses().values()} == {"COMPLETED"}
    assert emails_by_recipient() == {email_of(loan): 1 for loan in loans}


@pytest.mark.chaos(scenario="database restart under the disbursement consumer",
                   invariant=f"{NO_LOSS}; the first event after a restart is applied on its first delivery")
def test_database_restarts_between_events_fail_no_delivery(
    conn: psycopg2.extensions.connection, aws: str,
) -> None:
    loans = waiting_loans(conn, 6)
    bootstrap()
    world = VirtualLambda("disbursement-events", "email-outbox")
    for i, loan in enumerate(loans):
        world.send([event(f"evt-{i}", loan, "COMPLETED", EPOCH + timedelta(minutes=i))])
        world.run()
        world.db_restart(at=world.now)  # every session of the database ends, as in a restart

    assert world.stats.failures == 0
    assert {s for s, _ in statuses().values()} == {"COMPLETED"}
    assert emails_by_recipient() == {email_of(loan): 1 for loan in loans}
