"""Which disbursement status moves are allowed (docs/events.md has the table).

    INITIATED -> PENDING -> COMPLETED
                        -> FAILED -> INITIATED   (a retry; retry_times + 1)

An event carrying the current status is ``UNCHANGED`` (nothing to do). Every other move is
``REFUSED``: COMPLETED is final, and nothing skips PENDING.
"""

from __future__ import annotations

from enum import StrEnum

from chalicelib.statuses import DisbursementStatus as DS


class Move(StrEnum):
    ALLOWED = "allowed"
    UNCHANGED = "unchanged"
    REFUSED = "refused"


ALLOWED_MOVES: frozenset[tuple[DS, DS]] = frozenset({
    (DS.INITIATED, DS.PENDING),
    (DS.PENDING, DS.COMPLETED),
    (DS.PENDING, DS.FAILED),
    (DS.FAILED, DS.INITIATED),
})


def classify(current: DS, new: DS) -> Move:
    if current == new:
        return Move.UNCHANGED
    return Move.ALLOWED if (current, new) in ALLOWED_MOVES else Move.REFUSED


def is_retry(current: DS, new: DS) -> bool:
    """FAILED -> INITIATED: the gateway tries the transfer again."""
    return current == DS.FAILED and new == DS.INITIATED
