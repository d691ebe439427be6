"""The reminder workflow's state: the call ledger, the stage records and the measured pacing.

``ReminderStore`` is the interface the domain code talks to. Two implementations keep the same
rules: ``chalicelib.reminders.ledger.DynamoReminderStore`` (pynamodb, the deployed one) and
``MemoryReminderStore`` here (unit tests, no server). The rules, each one conditional write:

Ledger entries (one per payment and stage, whatever the attempt):
- ``claim`` writes ``attempting`` *before* the provider is called; only the caller that wrote it
  (``Claim.fresh``) may call. A later attempt of the same stage *adopts* an existing entry (its
  ``attempt`` moves up, never down) so the entry is counted in that attempt's summary, but it is
  never called again.
- ``settle`` records what the send did: ``placed`` (with the provider id), ``failed`` (nothing was
  placed) or ``uncertain`` (maybe placed: a timeout after the request went out). ``failed`` and
  ``uncertain`` only replace ``attempting``; ``placed`` never replaces another provider id.
- ``bind`` is the first signed final status carrying our reference: it sets the provider id (if none
  is set) and ``placed`` — also for an entry left ``attempting`` by a crash or ``uncertain``.
- ``record_outcome`` sets the outcome once, for the bound provider id only (a message of one part).
- ``release_claim`` removes an entry its own attempt claimed when the provider certainly placed
  nothing and the payment is not the borrower's failure (our credentials were refused): the
  payment can be claimed and sent again once the configuration is fixed. Only ``attempting``
  entries without a provider id, of the caller's attempt.
- An SMS of several parts is settled on every part's receipt: ``expect_parts`` records, before the
  request goes out, how many parts the text takes (so no receipt of one part can settle it alone,
  however early it comes); ``settle`` adds the parts' ids from the answer (``Parts``); ``bind_part``
  binds a part id the send's answer did not give (lost answer) while fewer ids are known than parts;
  ``record_part`` adds a part's final status (once per part id, until the entry has an
  outcome); ``record_parts_outcome`` sets the entry's outcome once: ``failed`` as soon as a part failed,
  ``succeeded`` when every part was delivered (``parts_outcome``). A part refused when sent (a half-sent
  message) fails the message at ``settle``.
- ``bound_to`` answers which entries hold a provider id (the DynamoDB store asks the ledger's
  ``by-provider_id`` index): a callback may bind only an id no other entry holds.

Stage records (one per zone, day and stage), owned by the newest attempt:
- ``start_stage``: a newer attempt takes the record over (clean counters); the same attempt
  resumes it (redelivered or duplicated stage message); an older attempt changes nothing
  (``SUPERSEDED``); a completed record is never reset (``COMPLETED``).
- ``seal_stage`` stores the number of chunks and the selection counts, once per attempt, *before*
  any chunk is enqueued (the selection itself is sealed in PostgreSQL: ``stage_selection``);
  ``record_enqueued`` notes that every chunk of the sealed selection is on the queue.
- ``finish_chunk`` counts a chunk once per attempt; ``claim_completion`` is true for exactly one
  caller once every chunk of the owning attempt has finished, and stores the task's answer in the
  same write; ``record_answered`` notes that Step Functions took the answer (until then any later
  delivery of a chunk or of the stage message sends the stored answer again);
  ``claim_failure`` gives exactly one caller the right to fail the owning attempt's task (not once
  it completed), ``release_failure`` gives that right back when the failure could not be sent.

A store that cannot read or write (after its own retries of throttling) raises ``StoreUnavailable``;
the operation did not happen, unless the error was one after which it may have (a 5xx): every rule
above is safe to try again.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from chalicelib.reminders.stages import Channel, StageRun

# ledger entry states
ATTEMPTING = "attempting"  # written before the provider call
PLACED = "placed"          # provider accepted it (or a callback proved it); the outcome arrives by callback
FAILED = "failed"          # nothing was placed: refused, or retries exhausted before anything was placed
UNCERTAIN = "uncertain"    # maybe placed (answer lost): never sent again; a callback may still bind it
SKIPPED = "skipped"        # the contact policy refused it (error: "<reason>: <detail>"): nothing was sent, and
                           # it is never sent again in this stage (never retried into a forbidden time)
UNRESOLVED = (ATTEMPTING, UNCERTAIN)
# outcomes
SUCCEEDED = "succeeded"
OUTCOME_FAILED = "failed"
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
    status: str
    provider_id: str | None = None
    outcome: str | None = None
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


def parts_outcome(entry: Entry) -> str | None:
    """The outcome of a message of several parts from its parts' receipts: failed once any part failed (or
    was refused), succeeded once every part was delivered, None while receipts are missing."""
    if entry.parts_failed:
        return OUTCOME_FAILED
    if len(entry.part_ids) >= entry.parts and entry.part_ids <= entry.parts_delivered:
        return SUCCEEDED
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


@dataclass(frozen=True, slots=True)
class Pacing:
    """What a dispatch function measured: payments per second over a whole chunk, and its own timeout."""

    per_second: float
    timeout_seconds: float


def counter_for(entry: Entry) -> str:
    """How an entry counts in its stage: ``placed``, ``place_failed`` (nothing placed), ``skipped`` (the
    contact policy refused it) or ``unknown``."""
    if entry.status == PLACED:
        return "placed"
    if entry.status == FAILED:
        return "place_failed"
    if entry.status == SKIPPED:
        return "skipped"
    return "unknown"


def skip_error(reason: str, detail: str) -> str:
    """The ``error`` of a skipped entry: the policy's reason code first."""
    return f"{reason}: {detail}" if detail else reason


def skip_reason(entry: Entry) -> str:
    """The policy's reason code of a skipped entry."""
    return (entry.error or "unknown").split(":", 1)[0]


class ReminderStore(Protocol):
    # --- ledger entries (run.attempt is the caller's attempt; the entry key ignores it) ---
    def claim(self, run: StageRun, payment_id: int) -> Claim: ...

    def get(self, run: StageRun, payment_id: int) -> Entry | None: ...

    def settle(self, run: StageRun, payment_id: int, status: str, *, attempts: int,
               provider_id: str | None = None, error: str | None = None, parts: Parts | None = None) -> Entry | None:
        ...

    def bind(self, run: StageRun, payment_id: int, provider_id: str) -> Entry | None: ...

    def record_outcome(self, run: StageRun, payment_id: int, provider_id: str, outcome: str,
                       provider_status: str) -> bool: ...

    def release_claim(self, run: StageRun, payment_id: int) -> bool: ...

    def expect_parts(self, run: StageRun, payment_id: int, count: int) -> bool: ...

    def bind_part(self, run: StageRun, payment_id: int, part_id: str) -> Entry | None: ...

    def record_part(self, run: StageRun, payment_id: int, part_id: str, outcome: str) -> Entry | None: ...

    def record_parts_outcome(self, run: StageRun, payment_id: int, outcome: str, provider_status: str) -> bool: ...

    def bound_to(self, provider_id: str) -> set[tuple[str, int]]:
        """(ledger key, payment id) of every entry holding ``provider_id``."""
        ...

    def entries(self, run: StageRun) -> Iterator[Entry]: ...

    # --- stage records ---
    def start_stage(self, run: StageRun, task_token: str) -> StageStart: ...

    def seal_stage(self, run: StageRun, chunks_total: int, counts: Mapping[str, int]) -> StageState | None: ...

    def finish_chunk(self, run: StageRun, chunk_id: str, counts: Mapping[str, int]) -> StageState | None: ...

    def record_enqueued(self, run: StageRun) -> StageState | None: ...

    def claim_completion(self, state: StageState, answer: Mapping[str, Any] | None = None) -> bool: ...

    def record_answered(self, run: StageRun) -> None: ...

    def claim_failure(self, run: StageRun) -> StageState | None: ...

    def release_failure(self, run: StageRun) -> None: ...

    def stage(self, run: StageRun) -> StageState | None: ...

    # --- measured pacing per channel ---
    def record_pacing(self, channel: Channel, pacing: Pacing) -> None: ...

    def pacing(self, channel: Channel) -> Pacing | None: ...


class MemoryReminderStore:
    """The same rules as the DynamoDB store, in a dict behind one lock (tests, tools)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, int], Entry] = {}
        self._stages: dict[tuple[str, str], StageState] = {}
        self._pacing: dict[str, Pacing] = {}

    @staticmethod
    def _ekey(run: StageRun, payment_id: int) -> tuple[str, int]:
        return run.ledger_key, int(payment_id)

    @staticmethod
    def _skey(run: StageRun) -> tuple[str, str]:
        return run.day_key, str(run.stage)

    def claim(self, run: StageRun, payment_id: int) -> Claim:
        key = self._ekey(run, payment_id)
        with self._lock:
            existing = self._entries.get(key)
            if existing is None:
                entry = self._entries[key] = Entry(int(payment_id), run.attempt, str(run.stage.channel), ATTEMPTING)
                return Claim(entry, True)
            if existing.attempt < run.attempt:
                existing = self._entries[key] = replace(existing, attempt=run.attempt)
            return Claim(existing, False)

    def get(self, run: StageRun, payment_id: int) -> Entry | None:
        with self._lock:
            return self._entries.get(self._ekey(run, payment_id))

    def settle(self, run: StageRun, payment_id: int, status: str, *, attempts: int,
               provider_id: str | None = None, error: str | None = None, parts: Parts | None = None) -> Entry | None:
        key = self._ekey(run, payment_id)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if status == PLACED:
                if entry.provider_id is not None and entry.provider_id != provider_id:
                    return None
            elif entry.status != ATTEMPTING:
                return None
            entry = self._entries[key] = replace(
                entry, status=status, attempts=attempts, provider_id=provider_id or entry.provider_id,
                error=error[:500] if error else entry.error)
            if parts is not None:
                entry = self._entries[key] = replace(
                    entry, parts=max(entry.parts, parts.count),
                    part_ids=entry.part_ids | frozenset(parts.ids) | parts.refused_markers,
                    parts_failed=entry.parts_failed | parts.refused_markers)
                if parts.refused and entry.outcome is None:  # a part refused when sent: the message failed, now
                    entry = self._entries[key] = replace(entry, outcome=OUTCOME_FAILED,
                                                         provider_status=REFUSED_PART_STATUS)
            return entry

    def bind(self, run: StageRun, payment_id: int, provider_id: str) -> Entry | None:
        key = self._ekey(run, payment_id)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or (entry.provider_id is not None and entry.provider_id != provider_id):
                return None
            entry = self._entries[key] = replace(entry, provider_id=provider_id, status=PLACED)
            return entry

    def record_outcome(self, run: StageRun, payment_id: int, provider_id: str, outcome: str,
                       provider_status: str) -> bool:
        key = self._ekey(run, payment_id)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.outcome is not None or entry.provider_id != provider_id or entry.multipart:
                return False
            self._entries[key] = replace(entry, outcome=outcome, provider_status=provider_status)
            return True

    def expect_parts(self, run: StageRun, payment_id: int, count: int) -> bool:
        key = self._ekey(run, payment_id)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.status != ATTEMPTING:
                return False
            self._entries[key] = replace(entry, parts=count)
            return True

    def bind_part(self, run: StageRun, payment_id: int, part_id: str) -> Entry | None:
        key = self._ekey(run, payment_id)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.outcome is not None or entry.parts_failed or part_id in entry.part_ids \
                    or len(entry.part_ids) >= entry.parts:
                return None
            entry = self._entries[key] = replace(entry, part_ids=entry.part_ids | {part_id}, status=PLACED,
                                                 provider_id=entry.provider_id or part_id)
            return entry

    def record_part(self, run: StageRun, payment_id: int, part_id: str, outcome: str) -> Entry | None:
        key = self._ekey(run, payment_id)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.outcome is not None or part_id not in entry.part_ids:
                return None
            if outcome == SUCCEEDED:
                entry = replace(entry, parts_delivered=entry.parts_delivered | {part_id})
            else:
                entry = replace(entry, parts_failed=entry.parts_failed | {part_id})
            self._entries[key] = entry
            return entry

    def record_parts_outcome(self, run: StageRun, payment_id: int, outcome: str, provider_status: str) -> bool:
        key = self._ekey(run, payment_id)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.outcome is not None or not entry.multipart:
                return False
            self._entries[key] = replace(entry, outcome=outcome, provider_status=provider_status)
            return True

    def release_claim(self, run: StageRun, payment_id: int) -> bool:
        key = self._ekey(run, payment_id)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.status != ATTEMPTING or entry.provider_id is not None \
                    or entry.attempt != run.attempt:
                return False
            del self._entries[key]
            return True

    def bound_to(self, provider_id: str) -> set[tuple[str, int]]:
        with self._lock:
            return {key for key, e in self._entries.items() if e.provider_id == provider_id}

    def entries(self, run: StageRun) -> Iterator[Entry]:
        with self._lock:
            found = [e for (pk, _), e in self._entries.items() if pk == run.ledger_key]
        return iter(found)

    def start_stage(self, run: StageRun, task_token: str) -> StageStart:
        key = self._skey(run)
        with self._lock:
            current = self._stages.get(key)
            if current is None or (current.run.attempt < run.attempt and not current.completed):
                state = self._stages[key] = StageState(run, task_token, selection_id=uuid.uuid4().hex)
                return StageStart(StartOutcome.STARTED, state)
            return StageStart(start_outcome(current, run), current)

    def seal_stage(self, run: StageRun, chunks_total: int, counts: Mapping[str, int]) -> StageState | None:
        key = self._skey(run)
        with self._lock:
            current = self._stages.get(key)
            if current is None or current.run.attempt != run.attempt:
                return None
            if current.chunks_total is None:
                current = self._stages[key] = replace(current, chunks_total=chunks_total,
                                                      counts={**current.counts, **counts})
            return current

    def finish_chunk(self, run: StageRun, chunk_id: str, counts: Mapping[str, int]) -> StageState | None:
        key = self._skey(run)
        with self._lock:
            current = self._stages.get(key)
            if current is None or current.run.attempt != run.attempt or chunk_id in current.done_chunks:
                return None
            added = {k: int(current.counts.get(k, 0)) + int(v) for k, v in counts.items()}
            current = self._stages[key] = replace(current, done_chunks=current.done_chunks | {chunk_id},
                                                  counts={**current.counts, **added})
            return current

    def record_enqueued(self, run: StageRun) -> StageState | None:
        key = self._skey(run)
        with self._lock:
            current = self._stages.get(key)
            if current is None or current.run.attempt != run.attempt or current.chunks_total is None:
                return None
            current = self._stages[key] = replace(current, enqueued_all=True)
            return current

    def claim_completion(self, state: StageState, answer: Mapping[str, Any] | None = None) -> bool:
        if not state.all_chunks_done:
            return False
        key = self._skey(state.run)
        with self._lock:
            current = self._stages.get(key)
            if current is None or current.completed or current.run.attempt != state.run.attempt:
                return False
            self._stages[key] = replace(current, completed=True, answer=dict(answer) if answer is not None else None)
            return True

    def record_answered(self, run: StageRun) -> None:
        key = self._skey(run)
        with self._lock:
            current = self._stages.get(key)
            if current is not None and current.run.attempt == run.attempt and current.completed:
                self._stages[key] = replace(current, answered=True)

    def claim_failure(self, run: StageRun) -> StageState | None:
        key = self._skey(run)
        with self._lock:
            current = self._stages.get(key)
            if current is None or current.run.attempt != run.attempt or current.completed or current.failed:
                return None
            current = self._stages[key] = replace(current, failed=True)
            return current

    def release_failure(self, run: StageRun) -> None:
        key = self._skey(run)
        with self._lock:
            current = self._stages.get(key)
            if current is not None and current.run.attempt == run.attempt and current.failed:
                self._stages[key] = replace(current, failed=False)

    def stage(self, run: StageRun) -> StageState | None:
        with self._lock:
            return self._stages.get(self._skey(run))

    def record_pacing(self, channel: Channel, pacing: Pacing) -> None:
        with self._lock:
            self._pacing[str(channel)] = pacing

    def pacing(self, channel: Channel) -> Pacing | None:
        with self._lock:
            return self._pacing.get(str(channel))


def start_outcome(current: StageState, run: StageRun) -> StartOutcome:
    """Why ``run`` did not get a clean record: the current owner is newer, done, or ``run`` itself."""
    if current.run.attempt > run.attempt:
        return StartOutcome.SUPERSEDED
    if current.completed:
        return StartOutcome.COMPLETED
    return StartOutcome.RESUMED

