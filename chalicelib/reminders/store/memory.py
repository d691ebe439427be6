"""``MemoryReminderStore``: the store's rules (``store.protocol``) in a dict behind one lock, for tests and
tools. The contract tests hold it to the same rules as the DynamoDB store."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from chalicelib.reminders.stages import Channel, StageRun
from chalicelib.reminders.store.model import (
    REFUSED_PART_STATUS,
    Claim,
    Entry,
    EntryStatus,
    Outcome,
    Pacing,
    Parts,
    StageStart,
    StageState,
    StartOutcome,
    start_outcome,
)


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
        return self._claim(run, payment_id, EntryStatus.ATTEMPTING, None)

    def claim_settled(self, run: StageRun, payment_id: int, status: EntryStatus, *, error: str) -> Claim:
        return self._claim(run, payment_id, status, error[:500])

    def _claim(self, run: StageRun, payment_id: int, status: EntryStatus, error: str | None) -> Claim:
        key = self._ekey(run, payment_id)
        with self._lock:
            existing = self._entries.get(key)
            if existing is None:
                entry = self._entries[key] = Entry(int(payment_id), run.attempt, str(run.stage.channel),
                                                      status, error=error)
                return Claim(entry, True)
            if existing.attempt < run.attempt:
                existing = self._entries[key] = replace(existing, attempt=run.attempt)
            return Claim(existing, False)

    def get(self, run: StageRun, payment_id: int) -> Entry | None:
        with self._lock:
            return self._entries.get(self._ekey(run, payment_id))

    def settle(self, run: StageRun, payment_id: int, status: EntryStatus, *, attempts: int,
               provider_id: str | None = None, error: str | None = None, parts: Parts | None = None) -> Entry | None:
        key = self._ekey(run, payment_id)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if status == EntryStatus.PLACED:
                if entry.provider_id is not None and entry.provider_id != provider_id:
                    return None
            elif entry.status != EntryStatus.ATTEMPTING:
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
                    entry = self._entries[key] = replace(entry, outcome=Outcome.FAILED,
                                                         provider_status=REFUSED_PART_STATUS)
            return entry

    def bind(self, run: StageRun, payment_id: int, provider_id: str) -> Entry | None:
        key = self._ekey(run, payment_id)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or (entry.provider_id is not None and entry.provider_id != provider_id):
                return None
            entry = self._entries[key] = replace(entry, provider_id=provider_id, status=EntryStatus.PLACED)
            return entry

    def record_outcome(self, run: StageRun, payment_id: int, provider_id: str, outcome: Outcome,
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
            if entry is None or entry.status != EntryStatus.ATTEMPTING:
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
            entry = self._entries[key] = replace(entry, part_ids=entry.part_ids | {part_id},
                                                 status=EntryStatus.PLACED, provider_id=entry.provider_id or part_id)
            return entry

    def record_part(self, run: StageRun, payment_id: int, part_id: str, outcome: Outcome) -> Entry | None:
        key = self._ekey(run, payment_id)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.outcome is not None or part_id not in entry.part_ids:
                return None
            if outcome == Outcome.SUCCEEDED:
                entry = replace(entry, parts_delivered=entry.parts_delivered | {part_id})
            else:
                entry = replace(entry, parts_failed=entry.parts_failed | {part_id})
            self._entries[key] = entry
            return entry

    def record_parts_outcome(self, run: StageRun, payment_id: int, outcome: Outcome, provider_status: str) -> bool:
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
            if entry is None or entry.status != EntryStatus.ATTEMPTING or entry.provider_id is not None \
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
