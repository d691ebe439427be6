"""Apply one disbursement event in one PostgreSQL transaction.

Events are ordered by the transition table (``transitions.order``), not by timestamps alone:

- A known ``event_id`` is a no-op (``DUPLICATE``).
- A move the transition rules allow is applied (``APPLIED``), whatever its ``occurred_at``
  (a later status is never stale because of clock skew); an event repeating the current
  status is recorded (``UNCHANGED``).
- An event for a status already passed is recorded and ignored (``STALE``): the status never
  moves back.
- An event that skips a step (COMPLETED before its PENDING) raises ``WaitForEarlierEvent`` and
  records nothing: a transient failure, retried with visibility backoff until the missing
  event has landed.
- An event contradicting a final status (FAILED after COMPLETED) raises ``TransitionRefused``:
  poison, dead-lettered after its tries.
- COMPLETED: application -> 180 and loan INACTIVE -> CURRENT with ``fund_transfer_ts``,
  ``application_history`` appended, and the repayment-calendar email put in the outbox.
  FAILED: application -> 181, history appended. FAILED -> INITIATED: ``retry_times`` + 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import psycopg2.errors
import psycopg2.extensions

from chalicelib.db import one, transaction
from chalicelib.disbursements.event import DisbursementEvent
from chalicelib.disbursements.transitions import ALLOWED_MOVES, Move, is_retry, order
from chalicelib.statuses import ApplicationStatus, DisbursementStatus, LoanStatus


class Outcome(StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"
    STALE = "stale"
    DUPLICATE = "duplicate"


class UnknownDisbursement(LookupError):
    pass


class TransitionRefused(ValueError):
    pass


class WaitForEarlierEvent(RuntimeError):
    """An earlier event of this disbursement has not landed yet: retry later (not poison)."""


@dataclass(frozen=True)
class Applied:
    outcome: Outcome
    status_before: DisbursementStatus | None
    status_after: DisbursementStatus | None
    email_queued: bool = False


# The rows are locked, and whether the event was seen is read in the same round trip. Two
# deliveries of one event racing each other: the second one's EXISTS can still read the snapshot
# from before the first committed, but its insert into disbursement_event then hits the primary
# key, and that is answered as a duplicate too.
LOCK_DISBURSEMENT = """
SELECT d.disburse_status, d.last_event_at, d.retry_times,
       EXISTS (SELECT 1 FROM disbursement_event e WHERE e.event_id = %s) AS seen
FROM disbursement d
JOIN loan l ON l.loan_id = d.loan_id
JOIN application a ON a.application_id = l.application_id
WHERE d.disbursement_id = %s
FOR UPDATE OF d, l, a
"""
TOUCH_LAST_EVENT = """
UPDATE disbursement SET last_event_at = GREATEST(last_event_at, %s) WHERE disbursement_id = %s
"""
INSERT_EVENT = """
INSERT INTO disbursement_event (event_id, disbursement_id, status, occurred_at, outcome, status_before)
VALUES (%s, %s, %s, %s, %s, %s)
"""
# The usual event is the next step (PENDING after INITIATED, COMPLETED after PENDING, ...): one
# statement locks the rows if the status is the event's one predecessor and the event is new,
# and applies every side effect of the move (the disbursement, the application's status with
# its history row, the loan's activation, the email's outbox row, the event row). When nothing
# matched (``moved`` = 0), the general path below decides (stale, unchanged, wait, refused).
APPLY_NEXT = """
WITH target AS (
    SELECT d.disbursement_id, l.loan_id, a.application_id, a.application_status_code AS app_old, a.email
    FROM disbursement d
    JOIN loan l ON l.loan_id = d.loan_id
    JOIN application a ON a.application_id = l.application_id
    WHERE d.disbursement_id = %(disbursement_id)s AND d.disburse_status = %(status_before)s
      AND NOT EXISTS (SELECT 1 FROM disbursement_event e WHERE e.event_id = %(event_id)s)
    FOR UPDATE OF d, l, a
), moved AS (
    UPDATE disbursement d
    SET disburse_status = %(status)s,
        last_event_at = GREATEST(d.last_event_at, %(occurred_at)s),
        retry_times = d.retry_times + %(retry)s,
        external_id = COALESCE(%(external_id)s, d.external_id),
        udate = now()
    FROM target WHERE d.disbursement_id = target.disbursement_id
    RETURNING 1
), application_moved AS (
    UPDATE application a SET application_status_code = %(app_new)s, udate = now()
    FROM target
    WHERE a.application_id = target.application_id AND %(app_new)s::int IS NOT NULL
      AND a.application_status_code IS DISTINCT FROM %(app_new)s::int
    RETURNING a.application_id, target.app_old
), history AS (
    INSERT INTO application_history (application_id, status_old, status_new, change_reason, cdate)
    SELECT application_id, app_old, %(app_new)s, %(reason)s, %(occurred_at)s FROM application_moved
), loan_activated AS (
    UPDATE loan l SET loan_status_code = %(loan_current)s, fund_transfer_ts = %(occurred_at)s, udate = now()
    FROM target
    WHERE l.loan_id = target.loan_id AND %(completed)s AND l.loan_status_code = %(loan_inactive)s
), queued AS (
    INSERT INTO email_outbox (disbursement_id, kind, recipient)
    SELECT disbursement_id, 'repayment_calendar', email FROM target WHERE %(completed)s AND email IS NOT NULL
    ON CONFLICT (disbursement_id, kind) DO NOTHING
    RETURNING 1
), recorded AS (
    INSERT INTO disbursement_event (event_id, disbursement_id, status, occurred_at, outcome, status_before)
    SELECT %(event_id)s, disbursement_id, %(status)s, %(occurred_at)s, 'applied', %(status_before)s FROM target
)
SELECT (SELECT count(*) FROM moved), (SELECT count(*) FROM queued)
"""
# The one status each status follows (INITIATED follows FAILED: a retry).
PREDECESSOR = {new: old for old, new in ALLOWED_MOVES}
EMAIL_UNSENT = """
SELECT 1 FROM email_outbox WHERE disbursement_id = %s AND kind = 'repayment_calendar' AND sent_at IS NULL
"""
APPLICATION_STATUS_AFTER = {
    DisbursementStatus.COMPLETED: ApplicationStatus.FUND_DISBURSAL_SUCCESSFUL,
    DisbursementStatus.FAILED: ApplicationStatus.FUND_DISBURSAL_FAILED,
}


def apply_event(conn: psycopg2.extensions.connection, event: DisbursementEvent) -> Applied:
    try:
        return _apply(conn, event)
    except psycopg2.errors.UniqueViolation as exc:  # a concurrent delivery of the same event won
        if exc.diag.constraint_name != "disbursement_event_pkey":
            raise
        return _duplicate(conn, event)


def _duplicate(conn: psycopg2.extensions.connection, event: DisbursementEvent) -> Applied:
    """A redelivery: its email may still wait (the relay's message was lost), so say so."""
    with transaction(conn) as cur:
        cur.execute(EMAIL_UNSENT, (event.disbursement_id,))
        return Applied(Outcome.DUPLICATE, None, None, cur.fetchone() is not None)


def _apply_next(cur: psycopg2.extensions.cursor, event: DisbursementEvent) -> tuple[int, int]:
    """APPLY_NEXT: (1, emails queued) when the event was the next step and is now applied, else (0, 0)."""
    before = PREDECESSOR[event.status]
    app_new = APPLICATION_STATUS_AFTER.get(event.status)
    cur.execute(APPLY_NEXT, {
        "status": event.status.value, "occurred_at": event.occurred_at,
        "retry": 1 if is_retry(before, event.status) else 0, "external_id": event.external_id,
        "disbursement_id": event.disbursement_id, "status_before": before.value,
        "app_new": None if app_new is None else int(app_new),
        "reason": f"disbursement {event.disbursement_id} {event.status.value.lower()}",
        "completed": event.status is DisbursementStatus.COMPLETED,
        "loan_current": int(LoanStatus.CURRENT), "loan_inactive": int(LoanStatus.INACTIVE),
        "event_id": event.event_id,
    })
    moved, queued = one(cur)
    return int(moved), int(queued)


def _apply(conn: psycopg2.extensions.connection, event: DisbursementEvent) -> Applied:
    with transaction(conn) as cur:
        moved, queued = _apply_next(cur, event)
        if moved:
            return Applied(Outcome.APPLIED, PREDECESSOR[event.status], event.status, queued == 1)

        cur.execute(LOCK_DISBURSEMENT, (event.event_id, event.disbursement_id))
        row = cur.fetchone()
        if row is None:
            raise UnknownDisbursement(f"disbursement {event.disbursement_id} does not exist")
        status_s, last_event_at, retry_times, seen = row
        current = DisbursementStatus(status_s)
        if seen:
            cur.execute(EMAIL_UNSENT, (event.disbursement_id,))
            return Applied(Outcome.DUPLICATE, None, None, cur.fetchone() is not None)

        move = order(current, event.status, event.occurred_at, last_event_at, retry_times > 0)
        if move is Move.REFUSED:
            raise TransitionRefused(
                f"disbursement {event.disbursement_id}: {current.value} -> {event.status.value} is not allowed"
            )
        if move is Move.WAIT:
            raise WaitForEarlierEvent(
                f"disbursement {event.disbursement_id}: {event.status.value} waits for an earlier event "
                f"(now {current.value})"
            )
        if move is Move.STALE:
            cur.execute(INSERT_EVENT, (event.event_id, event.disbursement_id, event.status, event.occurred_at,
                                       Outcome.STALE.value, current.value))
            return Applied(Outcome.STALE, current, current)
        if move is Move.UNCHANGED:
            cur.execute(TOUCH_LAST_EVENT, (event.occurred_at, event.disbursement_id))
            cur.execute(INSERT_EVENT, (event.event_id, event.disbursement_id, event.status, event.occurred_at,
                                       Outcome.UNCHANGED.value, current.value))
            return Applied(Outcome.UNCHANGED, current, current)

        # ALLOWED: the status became the predecessor between the two statements; the rows are ours now
        moved, queued = _apply_next(cur, event)
        return Applied(Outcome.APPLIED, current, event.status, queued == 1)
