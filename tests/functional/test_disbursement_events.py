"""Disbursement events: transition rules, duplicates, out-of-order delivery, COMPLETED side effects."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib.disbursements.apply import (
    Outcome,
    TransitionRefused,
    UnknownDisbursement,
    WaitForEarlierEvent,
    apply_event,
)
from chalicelib.disbursements.consumer import POISON
from chalicelib.disbursements.event import InvalidEvent, parse_event
from chalicelib.disbursements.transitions import ALLOWED_MOVES, Move, classify
from chalicelib.statuses import ApplicationStatus as AS
from chalicelib.statuses import DisbursementStatus as DS
from chalicelib.statuses import LoanStatus
from tests.factories import add_history, make_loan, make_partner

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
_ids = itertools.count(1)


def event(disbursement_id: int, status: str, at: datetime, event_id: str | None = None, **extra) -> str:
    return json.dumps({"event_id": event_id or f"evt-{next(_ids)}", "disbursement_id": disbursement_id,
                       "status": status, "occurred_at": at.isoformat(), **extra})


def stuck_loan(conn, status: str = "INITIATED", app_status: int = AS.LEGAL_AGREEMENT_SIGNED):
    make_partner(conn, 1, "Bukalapak", "marketplace")
    loan = make_loan(conn, due_dates=[date(2026, 12, 20), date(2027, 1, 20)], disburse_status=status,
                     application_status=app_status, loan_status=LoanStatus.INACTIVE)
    add_history(conn, loan.application_id, [100, 110, 120, 130, 160, 170]
                + ([app_status] if app_status != 170 else []))
    conn.commit()
    return loan


def row(conn, sql: str, *args):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        result = cur.fetchone()
    conn.commit()
    return result


def disbursement(conn, disbursement_id: int) -> tuple[str, int]:
    return row(conn, "SELECT disburse_status, retry_times FROM disbursement WHERE disbursement_id = %s",
               disbursement_id)


EXPECTED_TABLE = {
    ("INITIATED", "PENDING"): Move.ALLOWED,
    ("PENDING", "COMPLETED"): Move.ALLOWED,
    ("PENDING", "FAILED"): Move.ALLOWED,
    ("FAILED", "INITIATED"): Move.ALLOWED,
}


# A disbursement with no event applied yet (last_event_at unknown): what each event does.
EXPECTED_FIRST_EVENT = {
    ("INITIATED", "COMPLETED"): Move.WAIT, ("INITIATED", "FAILED"): Move.WAIT,  # their PENDING is missing
    ("PENDING", "INITIATED"): Move.STALE,
    ("COMPLETED", "INITIATED"): Move.STALE, ("COMPLETED", "PENDING"): Move.STALE, ("COMPLETED", "FAILED"): Move.STALE,
    ("FAILED", "PENDING"): Move.STALE, ("FAILED", "COMPLETED"): Move.STALE,
}


@pytest.mark.parametrize("current,new", list(itertools.product([s.value for s in DS], repeat=2)))
def test_transition_table_every_move(conn, current, new):
    table = Move.UNCHANGED if current == new else EXPECTED_TABLE.get((current, new), Move.REFUSED)
    assert classify(DS(current), DS(new)) is table
    expected = EXPECTED_FIRST_EVENT.get((current, new), table)
    loan = stuck_loan(conn, status=current)
    body = parse_event(event(loan.disbursement_id, new, T0))
    if expected is Move.WAIT:
        with pytest.raises(WaitForEarlierEvent, match=f"{new} waits"):
            apply_event(conn, body)
        assert disbursement(conn, loan.disbursement_id)[0] == current
        assert row(conn, "SELECT count(*) FROM disbursement_event")[0] == 0  # so a retry can apply it
    else:
        result = apply_event(conn, body)
        assert result.outcome is {Move.ALLOWED: Outcome.APPLIED, Move.UNCHANGED: Outcome.UNCHANGED,
                                  Move.STALE: Outcome.STALE}[expected]
        status, retries = disbursement(conn, loan.disbursement_id)
        assert status == (new if expected is Move.ALLOWED else current)
        assert retries == (1 if (current, new) == ("FAILED", "INITIATED") else 0)


def test_a_failed_after_completed_contradicts_it_and_is_refused(conn):
    loan = stuck_loan(conn, status="PENDING")
    apply_event(conn, parse_event(event(loan.disbursement_id, "COMPLETED", T0)))
    with pytest.raises(TransitionRefused, match="COMPLETED -> FAILED"):
        apply_event(conn, parse_event(event(loan.disbursement_id, "FAILED", T0 + timedelta(minutes=5))))
    assert disbursement(conn, loan.disbursement_id)[0] == "COMPLETED"


def test_clock_skew_never_makes_a_later_status_stale(conn):
    """The gateway's COMPLETED clock runs 2 s behind its PENDING clock: still applied."""
    loan = stuck_loan(conn, status="INITIATED")
    apply_event(conn, parse_event(event(loan.disbursement_id, "PENDING", T0 + timedelta(seconds=2))))
    assert apply_event(conn, parse_event(event(loan.disbursement_id, "COMPLETED", T0))).outcome is Outcome.APPLIED
    assert disbursement(conn, loan.disbursement_id)[0] == "COMPLETED"


def test_the_next_attempts_events_wait_for_the_retry_and_leftovers_are_stale(conn):
    loan = stuck_loan(conn, status="INITIATED")
    apply_event(conn, parse_event(event(loan.disbursement_id, "PENDING", T0)))
    apply_event(conn, parse_event(event(loan.disbursement_id, "FAILED", T0 + timedelta(seconds=5))))
    leftover = apply_event(conn, parse_event(event(loan.disbursement_id, "PENDING", T0 + timedelta(seconds=1))))
    assert leftover.outcome is Outcome.STALE
    retry_at = T0 + timedelta(hours=1)
    next_pending = parse_event(event(loan.disbursement_id, "PENDING", retry_at + timedelta(seconds=1)))
    with pytest.raises(WaitForEarlierEvent):  # its INITIATED (the retry) is not here yet
        apply_event(conn, next_pending)
    apply_event(conn, parse_event(event(loan.disbursement_id, "INITIATED", retry_at)))
    assert apply_event(conn, next_pending).outcome is Outcome.APPLIED
    assert disbursement(conn, loan.disbursement_id) == ("PENDING", 1)


def test_allowed_moves_are_exactly_the_documented_ones():
    assert {(a.value, b.value) for a, b in ALLOWED_MOVES} == set(EXPECTED_TABLE)


def test_completed_activates_loan_and_appends_history(conn):
    loan = stuck_loan(conn)
    apply_event(conn, parse_event(event(loan.disbursement_id, "PENDING", T0)))
    done = apply_event(conn, parse_event(event(loan.disbursement_id, "COMPLETED", T0 + timedelta(minutes=5),
                                               external_id=777)))
    assert done.outcome is Outcome.APPLIED and done.email_queued
    assert row(conn, "SELECT application_status_code FROM application WHERE application_id = %s",
               loan.application_id) == (AS.FUND_DISBURSAL_SUCCESSFUL,)
    assert row(conn, "SELECT loan_status_code, fund_transfer_ts FROM loan WHERE loan_id = %s",
               loan.loan_id) == (LoanStatus.CURRENT, T0 + timedelta(minutes=5))
    assert row(conn, "SELECT status_old, status_new FROM application_history WHERE application_id = %s "
               "ORDER BY application_history_id DESC LIMIT 1", loan.application_id) == (170, 180)
    assert row(conn, "SELECT external_id FROM disbursement WHERE disbursement_id = %s",
               loan.disbursement_id) == (777,)
    assert row(conn, "SELECT recipient, sent_at FROM email_outbox WHERE disbursement_id = %s",
               loan.disbursement_id) == ("budi.santoso@gmail.com", None)


def test_failure_then_retry_marks_181_and_counts_the_retry(conn):
    loan = stuck_loan(conn)
    apply_event(conn, parse_event(event(loan.disbursement_id, "PENDING", T0)))
    apply_event(conn, parse_event(event(loan.disbursement_id, "FAILED", T0 + timedelta(minutes=1))))
    assert row(conn, "SELECT application_status_code FROM application WHERE application_id = %s",
               loan.application_id) == (AS.FUND_DISBURSAL_FAILED,)
    apply_event(conn, parse_event(event(loan.disbursement_id, "INITIATED", T0 + timedelta(hours=1))))
    assert disbursement(conn, loan.disbursement_id) == ("INITIATED", 1)
    assert row(conn, "SELECT count(*) FROM email_outbox")[0] == 0


def test_duplicate_event_id_is_a_no_op(conn):
    loan = stuck_loan(conn)
    apply_event(conn, parse_event(event(loan.disbursement_id, "PENDING", T0)))
    body = event(loan.disbursement_id, "COMPLETED", T0 + timedelta(minutes=1), event_id="dup-1")
    assert apply_event(conn, parse_event(body)).outcome is Outcome.APPLIED
    again = apply_event(conn, parse_event(body))
    # the email has not gone yet: the redelivery asks the relay again (the relay sends it once)
    assert again.outcome is Outcome.DUPLICATE and again.email_queued
    assert row(conn, "SELECT count(*) FROM application_history WHERE application_id = %s AND status_new = 180",
               loan.application_id) == (1,)
    assert row(conn, "SELECT count(*) FROM email_outbox")[0] == 1
    row(conn, "UPDATE email_outbox SET sent_at = now() RETURNING 1")
    assert not apply_event(conn, parse_event(body)).email_queued  # sent: nothing to ask for


def test_older_event_after_newer_does_not_move_status_back(conn):
    loan = stuck_loan(conn)
    apply_event(conn, parse_event(event(loan.disbursement_id, "PENDING", T0)))
    apply_event(conn, parse_event(event(loan.disbursement_id, "FAILED", T0 + timedelta(minutes=10))))
    late = apply_event(conn, parse_event(event(loan.disbursement_id, "PENDING", T0 + timedelta(minutes=5))))
    assert late.outcome is Outcome.STALE
    assert disbursement(conn, loan.disbursement_id)[0] == "FAILED"
    assert row(conn, "SELECT outcome FROM disbursement_event ORDER BY occurred_at DESC LIMIT 1") == ("applied",)


def test_newer_event_arriving_first_waits_for_the_older_one(conn):
    """COMPLETED before PENDING: waits (retried by SQS with backoff); once PENDING lands, the retry applies."""
    loan = stuck_loan(conn)
    completed = event(loan.disbursement_id, "COMPLETED", T0 + timedelta(minutes=5))
    with pytest.raises(WaitForEarlierEvent):
        apply_event(conn, parse_event(completed))
    apply_event(conn, parse_event(event(loan.disbursement_id, "PENDING", T0)))
    assert apply_event(conn, parse_event(completed)).outcome is Outcome.APPLIED
    assert disbursement(conn, loan.disbursement_id)[0] == "COMPLETED"


def test_unknown_disbursement_is_an_error(conn):
    with pytest.raises(UnknownDisbursement):
        apply_event(conn, parse_event(event(424242, "PENDING", T0)))


@pytest.mark.parametrize("body,problem", [
    ("not json", "not JSON"),
    (json.dumps({"event_id": "e", "disbursement_id": 1, "status": "DONE", "occurred_at": "2026-11-20T03:00:00Z"}),
     "status"),
    (json.dumps({"event_id": "e", "disbursement_id": 1, "status": "PENDING", "occurred_at": "2026-11-20T03:00:00"}),
     "occurred_at"),
    (json.dumps({"event_id": "e", "status": "PENDING", "occurred_at": "2026-11-20T03:00:00Z"}), "disbursement_id"),
    (json.dumps({"event_id": "", "disbursement_id": "7", "status": "PENDING", "occurred_at": "2026-11-20T03:00Z"}),
     "event_id"),
    (json.dumps([1, 2]), "object"),
    # values PostgreSQL cannot take: refused by the schema, so they are poison at once
    (json.dumps({"event_id": "e\u0000", "disbursement_id": 1, "status": "PENDING",
                 "occurred_at": "2026-11-20T03:00:00Z"}), "event_id"),
    (json.dumps({"event_id": "e\ud800", "disbursement_id": 1, "status": "PENDING",
                 "occurred_at": "2026-11-20T03:00:00Z"}), "event_id"),
    (json.dumps({"event_id": "e", "disbursement_id": 1, "status": "PENDING", "occurred_at": "2026-11-20T03:00:00Z",
                 "external_id": 2**63}), "external_id"),
    (json.dumps({"event_id": "e", "disbursement_id": 2**63, "status": "PENDING",
                 "occurred_at": "2026-11-20T03:00:00Z"}), "disbursement_id"),
    (json.dumps({"event_id": "e", "disbursement_id": 1, "status": "FAILED", "occurred_at": "2026-11-20T03:00:00Z",
                 "reason": "timeout\u0000"}), "reason"),
    ('{"event_id": "e", "x": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deep"),
])
def test_invalid_messages_are_rejected_with_the_reason(body, problem):
    with pytest.raises(InvalidEvent, match=problem):
        parse_event(body)


def test_occurred_at_keeps_its_offset():
    parsed = parse_event(event(5, "PENDING", datetime(2026, 11, 20, 10, 0, tzinfo=UTC).astimezone(
        __import__("zoneinfo").ZoneInfo("Asia/Jakarta"))))
    assert parsed.occurred_at == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def test_a_value_the_database_refuses_is_poison_even_past_the_schema(conn):
    """Defence in depth: an event built without the schema (a bigint overflow reaching PostgreSQL) fails
    with an error the consumer classes as poison, not as a transient one."""
    loan = stuck_loan(conn, "PENDING")
    parsed = replace(parse_event(event(loan.disbursement_id, "COMPLETED", T0)), external_id=2**70)
    with pytest.raises(Exception) as raised:
        apply_event(conn, parsed)
    conn.rollback()
    assert isinstance(raised.value, POISON), type(raised.value)
    assert disbursement(conn, loan.disbursement_id) == ("PENDING", 0)
