"""What the reminder store holds: ledger entries and their statuses, stage records, pacing.

Statuses are enums whose values are what the tables store (existing items, the API's answers and
the docs use them):

- ``EntryStatus``: what the send did — ``attempting`` (claimed, before the provider is called),
  ``placed``, ``failed`` (nothing was placed), ``uncertain`` (maybe placed), ``skipped`` (the
  contact policy refused it);
- ``Outcome``: how a placed call or message ended, by the provider's final status —
  ``succeeded`` or ``failed``.

``EntryStatus.FAILED`` and ``Outcome.FAILED`` are both stored as ``"failed"`` but are different
things (nothing was placed / it was placed and did not reach the borrower), kept in two fields
(``Entry.status`` / ``Entry.outcome``) and two types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from chalicelib.reminders.stages import StageRun


class EntryStatus(StrEnum):
    """A ledger entry's status (``Entry.status``), stored as its value."""

    ATTEMPTING = "attempting"  # written before the provider call
    PLACED = "placed"          # provider accepted it (or a callback proved it); the outcome arrives by callback
    FAILED = "failed"          # nothing was placed: refused, or retries exhausted before anything was placed
    UNCERTAIN = "uncertain"    # maybe placed (answer lost): never sent again; a callback may still bind it
    SKIPPED = "skipped"        # the contact policy refused it (error: "<reason>: <detail>"): nothing was sent,
                               # and it is never sent again in this stage (never retried into a forbidden time)


class Outcome(StrEnum):
    """A placed entry's final outcome (``Entry.outcome``), stored as its value."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # stored like EntryStatus.FAILED, but it is the outcome of something that was placed


UNRESOLVED = frozenset({EntryStatus.ATTEMPTING, EntryStatus.UNCERTAIN})
REFUSED_PART_STATUS = "rejected"  # provider_status of a message a part of which the provider refused when sent

SELECTION_COUNTERS = ("selected", "enqueued", "not_placed", "zone_fallback", "no_whatsapp")
DISPATCH_COUNTERS = ("placed", "place_failed", "unknown", "skipped")
COUNTERS = SELECTION_COUNTERS + DISPATCH_COUNTERS


class StoreUnavailable(RuntimeError):
    """The store did not answer (throttled past its retries, or a server error): try again later."""


@dataclass(frozen=True, slots=True)
class Entry:
    payment_id: int
    attempt: int
    channel: str
    status: EntryStatus
    provider_id: str | None = None
    outcome: Outcome | None = None
    provider_status: str | None = None
    attempts: int = 0
    error: str | None = None
    # an SMS of several parts (1: one part, or a channel without parts): the parts' ids as far as known, and
    # the ids whose final receipt said delivered / failed (a part refused when sent: "refused#<n>")
    parts: int = 1
    part_ids: frozenset[str] = frozenset()
    parts_delivered: frozenset[str] = frozenset()
    parts_failed: frozenset[str] = frozenset()

    @property
    def multipart(self) -> bool:
        return self.parts > 1 or bool(self.part_ids)


@dataclass(frozen=True, slots=True)
class Parts:
    """How an SMS went out in parts (the provider's answer): the sent parts' message ids and how many
    parts the provider refused."""

    ids: tuple[str, ...]
    refused: int = 0

    @property
    def count(self) -> int:
        return len(self.ids) + self.refused

    @property
    def refused_markers(self) -> frozenset[str]:
        return frozenset(f"refused#{i + 1}" for i in range(self.refused))


def parts_outcome(entry: Entry) -> Outcome | None:
    """The outcome of a message of several parts from its parts' receipts: failed once any part failed (or
    was refused), succeeded once every part was delivered, None while receipts are missing."""
    if entry.parts_failed:
        return Outcome.FAILED
    if len(entry.part_ids) >= entry.parts and entry.part_ids <= entry.parts_delivered:
        return Outcome.SUCCEEDED
    return None


@dataclass(frozen=True, slots=True)
class Claim:
    entry: Entry
    fresh: bool  # True only for the caller that wrote the entry: it (and nobody else) calls the provider


@dataclass(frozen=True, slots=True)
class StageState:
    run: StageRun  # run.attempt is the attempt that owns the record
    task_token: str | None = None
    chunks_total: int | None = None
    done_chunks: frozenset[str] = frozenset()
    completed: bool = False
    counts: Mapping[str, int] = field(default_factory=dict)
    failed: bool = False  # this attempt's task was failed (SendTaskFailure): once per attempt
    enqueued_all: bool = False  # every chunk of the sealed selection was put on the dispatch queue
    answer: Mapping[str, Any] | None = None  # the task's result, stored when the stage completed
    answered: bool = False  # Step Functions took the answer (or the task had already closed)
    # names this record's sealed selection (PostgreSQL): set when an attempt starts the record, shared by
    # every delivery that resumes it; a record started afresh (another attempt) selects afresh
    selection_id: str | None = None

    @property
    def all_chunks_done(self) -> bool:
        return self.chunks_total is not None and len(self.done_chunks) >= self.chunks_total

    def counters(self) -> dict[str, int]:
        return {k: int(self.counts.get(k, 0)) for k in COUNTERS}


class StartOutcome(StrEnum):
    STARTED = "started"        # a clean record for this attempt (first try or a newer attempt)
    RESUMED = "resumed"        # this attempt already owns the record (message redelivered or duplicated)
    COMPLETED = "completed"    # the stage has finished: answer with its result, change nothing
    SUPERSEDED = "superseded"  # a newer attempt owns the stage: this (late) message is ignored


@dataclass(frozen=True, slots=True)
class StageStart:
    outcome: StartOutcome
    state: StageState


def start_outcome(current: StageState, run: StageRun) -> StartOutcome:
    """Why ``run`` did not get a clean record: the current owner is newer, done, or ``run`` itself."""
    if current.run.attempt > run.attempt:
        return StartOutcome.SUPERSEDED
    if current.completed:
        return StartOutcome.COMPLETED
    return StartOutcome.RESUMED


@dataclass(frozen=True, slots=True)
class Pacing:
    """What a dispatch function measured: payments per second over a whole chunk, and its own timeout."""

    per_second: float
    timeout_seconds: float


_COUNTER_OF = {EntryStatus.PLACED: "placed", EntryStatus.FAILED: "place_failed", EntryStatus.SKIPPED: "skipped"}


def counter_for(entry: Entry) -> str:
    """How an entry counts in its stage: ``placed``, ``place_failed`` (nothing placed), ``skipped`` (the
    contact policy refused it) or ``unknown``."""
    return _COUNTER_OF.get(entry.status, "unknown")


def skip_error(reason: str, detail: str) -> str:
    """The ``error`` of a skipped entry: the policy's reason code first."""
    return f"{reason}: {detail}" if detail else reason


def skip_reason(entry: Entry) -> str:
    """The policy's reason code of a skipped entry."""
    return (entry.error or "unknown").split(":", 1)[0]
