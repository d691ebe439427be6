"""Which disbursement status moves are allowed, and how an event is ordered (docs/events.md).

    INITIATED -> PENDING -> COMPLETED
                        -> FAILED -> INITIATED   (a retry; retry_times + 1)

Events are ordered by this table, not by their timestamps: an allowed move is applied whatever
its ``occurred_at`` says (the gateway's clocks disagree by seconds), an event for a status the
disbursement has already passed is stale, and an event that skips a step (COMPLETED before its
PENDING) waits for the missing one. Timestamps only settle the one question the table cannot:
whether an event belongs to the current attempt or to the next one (after a FAILED), and then
only when they are further apart than ``SKEW_TOLERANCE``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from chalicelib.statuses import DisbursementStatus as DS


class Move(StrEnum):
    ALLOWED = "allowed"      # apply it
    UNCHANGED = "unchanged"  # the current status again: record it, nothing to do
    STALE = "stale"          # a status already passed: record it, nothing to do
    WAIT = "wait"            # an earlier event is missing: retry later (visibility backoff)
    REFUSED = "refused"      # contradicts a final status: poison, dead-lettered


ALLOWED_MOVES: frozenset[tuple[DS, DS]] = frozenset({
    (DS.INITIATED, DS.PENDING),
    (DS.PENDING, DS.COMPLETED),
    (DS.PENDING, DS.FAILED),
    (DS.FAILED, DS.INITIATED),
})

# Clocks of the gateway's machines disagree by at most this much; attempts are further apart.
SKEW_TOLERANCE = timedelta(minutes=1)


def classify(current: DS, new: DS) -> Move:
    """The transition table alone: ALLOWED, UNCHANGED or REFUSED."""
    if current == new:
        return Move.UNCHANGED
    return Move.ALLOWED if (current, new) in ALLOWED_MOVES else Move.REFUSED


def order(current: DS, new: DS, occurred_at: datetime, last_event_at: datetime | None, retried: bool) -> Move:
    """Where an event stands relative to the disbursement's current status.

    ``last_event_at``: the newest ``occurred_at`` applied so far; ``retried``: at least one
    FAILED -> INITIATED happened (so leftovers of an earlier attempt can still arrive).
    """
    move = classify(current, new)
    if move is not Move.REFUSED:
        return move
    next_attempt = last_event_at is not None and occurred_at > last_event_at + SKEW_TOLERANCE
    if current is DS.COMPLETED:  # final: PENDING/INITIATED are behind it; a later FAILED contradicts it
        return Move.REFUSED if new is DS.FAILED and next_attempt else Move.STALE
    if current is DS.FAILED:  # PENDING/COMPLETED: the next attempt's (its INITIATED is missing) or a leftover
        return Move.WAIT if next_attempt else Move.STALE
    if current is DS.PENDING:  # INITIATED: the next attempt's (the FAILED is missing) or this attempt's, late
        return Move.WAIT if next_attempt else Move.STALE
    # INITIATED, and COMPLETED or FAILED arrives: its PENDING is missing, unless it is a leftover of a failed attempt
    if retried and last_event_at is not None and occurred_at < last_event_at - SKEW_TOLERANCE:
        return Move.STALE
    return Move.WAIT


def is_retry(current: DS, new: DS) -> bool:
    """FAILED -> INITIATED: the gateway tries the transfer again."""
    return current == DS.FAILED and new == DS.INITIATED
