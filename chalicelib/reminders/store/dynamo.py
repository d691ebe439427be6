"""The reminder store on DynamoDB (pynamodb): ``DynamoReminderStore`` implements ``ReminderStore``.

The tables (``dynamo_tables``): ``reminder-ledger``, one item per payment and stage, written *before*
the provider is called with ``attribute_not_exists``, so a redelivered chunk, a duplicated or retried
stage never calls anyone twice (each item carries the attempt that claimed or last adopted it: the
stage summary is counted per attempt); ``reminder-stages``, one item per zone, date and stage (the
task token, how many chunks were enqueued and which have finished — a string set, so a redelivered
chunk is counted once — and the attempt's counters), plus the pacing per channel.

Every rule is one conditional write through pynamodb's public model API (see ``store.protocol``).

Throttling (``ProvisionedThroughputExceededException`` and the like, left after the SDK's own
retries) means nothing was written: each operation is tried again with backoff, up to
``STORE_ATTEMPTS`` times. What is left (throttled still, a 5xx, the network) is raised as
``StoreUnavailable``; the caller decides what it costs (one payment's step, not a whole chunk).
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import DeleteError, PutError, PynamoDBException, UpdateError
from pynamodb.expressions.condition import size
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from chalicelib import resources, settings
from chalicelib.reminders.stages import Channel, StageRun
from chalicelib.reminders.store.dynamo_tables import (
    FIRST_CALLS,
    LEDGER_TABLE,
    PACING_PK,
    STAGES_TABLE,
    LedgerItem,
    StageItem,
    entry_of,
    models_for,
    state_of,
)
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
    StoreUnavailable,
    start_outcome,
)

RETENTION = timedelta(days=90)
# A throttled operation is tried this many times in all, 50 ms, 100 ms, 200 ms, 400 ms apart: with
# 15% of writes refused, one in ~13,000 is still refused after five tries.
STORE_ATTEMPTS = 5
THROTTLING_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException",
                              "RequestLimitExceeded", "Throttling", "TooManyRequestsException"})

P = ParamSpec("P")
R = TypeVar("R")


def _error_code(exc: BaseException) -> str | None:
    code = getattr(exc, "cause_response_code", None)
    if code is None and isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code")
    return str(code) if code else None


def _throttled(exc: BaseException) -> bool:
    return _error_code(exc) in THROTTLING_CODES


def _reliable(method: Callable[P, R]) -> Callable[P, R]:
    """Retry ``method`` on throttling with backoff; anything the store could not do is ``StoreUnavailable``."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            for attempt in Retrying(retry=retry_if_exception(_throttled), stop=stop_after_attempt(STORE_ATTEMPTS),
                                    wait=wait_exponential(multiplier=0.05, max=1.0), reraise=True):
                with attempt:
                    # each method's first call alone (its models make their botocore client once: FirstCalls)
                    return FIRST_CALLS.first_alone((getattr(args[0], "models", None), method.__name__),
                                                   lambda: method(*args, **kwargs))
        except (PynamoDBException, BotoCoreError, ClientError) as exc:
            raise StoreUnavailable(f"{method.__name__}: {_error_code(exc) or type(exc).__name__}") from exc
        raise AssertionError("unreachable")  # pragma: no cover - Retrying either returns or raises

    return wrapper


def _now() -> datetime:
    return datetime.now(UTC)


def _is_condition_failure(exc: Exception) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def _written(write: Callable[[], object]) -> bool:
    """One conditional write: True when it was made, False when its condition refused it (nothing was
    written); any other error is raised."""
    try:
        write()
    except (PutError, UpdateError, DeleteError) as exc:
        if _is_condition_failure(exc):
            return False
        raise
    return True


class DynamoReminderStore:
    """``ReminderStore`` on the two DynamoDB tables (names, endpoint and region bound per instance)."""

    def __init__(self, *, ledger_table: str | None = None, stages_table: str | None = None,
                 host: str | None = None, region: str | None = None) -> None:
        self.models = models_for(ledger_table or resources.table_name(LEDGER_TABLE),
                              stages_table or resources.table_name(STAGES_TABLE),
                              host if host is not None else settings.aws_endpoint_url(),
                              region or settings.aws_region())

    # --- ledger entries ---
    def _item(self, run: StageRun, payment_id: int) -> LedgerItem:
        return self.models.entry(run.ledger_key, str(payment_id))

    @_reliable
    def claim(self, run: StageRun, payment_id: int) -> Claim:
        return self._claim(run, payment_id, EntryStatus.ATTEMPTING, None)

    @_reliable
    def claim_settled(self, run: StageRun, payment_id: int, status: EntryStatus, *, error: str) -> Claim:
        return self._claim(run, payment_id, status, error[:500])

    def _claim(self, run: StageRun, payment_id: int, status: EntryStatus, error: str | None) -> Claim:
        m = self.models.entry
        item = m(run.ledger_key, str(payment_id), attempt=run.attempt, channel=str(run.stage.channel),
                 status=status, attempts=0, error=error, updated_at=_now(), expires_at=RETENTION)
        if _written(lambda: item.save(condition=m.pk.does_not_exist())):
            return Claim(entry_of(item), True)
        adopted = self._item(run, payment_id)
        # a newer attempt adopts the entry (counted in its summary), without calling again
        if _written(lambda: adopted.update(actions=[m.attempt.set(run.attempt)],
                                           condition=m.attempt.does_not_exist() | (m.attempt < run.attempt))):
            return Claim(entry_of(adopted), False)
        existing = self.get(run, payment_id)
        if existing is None:  # expired between the two writes: nothing to adopt; claim it afresh
            return self._claim(run, payment_id, status, error)
        return Claim(existing, False)

    @_reliable
    def get(self, run: StageRun, payment_id: int) -> Entry | None:
        try:
            return entry_of(self.models.entry.get(run.ledger_key, str(payment_id), consistent_read=True))
        except self.models.entry.DoesNotExist:
            return None

    @_reliable
    def settle(self, run: StageRun, payment_id: int, status: EntryStatus, *, attempts: int,
               provider_id: str | None = None, error: str | None = None, parts: Parts | None = None) -> Entry | None:
        settled = self._settle_as_claimed(run, payment_id, status, attempts, provider_id, error, parts)
        if settled is not None:
            return settled
        # touched since the claim: the field-by-field rules decide
        m = self.models.entry
        if status == EntryStatus.PLACED:
            condition = m.pk.exists() & (m.provider_id.does_not_exist() | (m.provider_id == provider_id))
        else:
            condition = m.status == EntryStatus.ATTEMPTING
        item = self._item(run, payment_id)
        actions = self._settle_actions(status, attempts, provider_id, error, parts)
        return entry_of(item) if _written(lambda: item.update(actions=actions, condition=condition)) else None

    def _settle_as_claimed(self, run: StageRun, payment_id: int, status: EntryStatus, attempts: int,
                           provider_id: str | None, error: str | None, parts: Parts | None) -> Entry | None:
        """The usual case, one cheap write: the entry is still as this attempt claimed it (no callback bound
        it, no newer attempt adopted it, no parts expected), so the settled entry replaces it whole. None when
        it was touched since the claim."""
        m = self.models.entry
        whole = m(run.ledger_key, str(payment_id), attempt=run.attempt, channel=str(run.stage.channel),
                  status=status, attempts=attempts, provider_id=provider_id or None,
                  error=error[:500] if error else None, updated_at=_now(), expires_at=RETENTION)
        if parts is not None:
            whole.parts, whole.part_ids = parts.count, set(parts.ids) | set(parts.refused_markers)
            if parts.refused:
                whole.parts_failed = set(parts.refused_markers)
                whole.outcome, whole.provider_status = Outcome.FAILED, REFUSED_PART_STATUS
        as_claimed = ((m.status == EntryStatus.ATTEMPTING) & (m.attempt == run.attempt)
                      & m.provider_id.does_not_exist() & m.parts.does_not_exist())
        return entry_of(whole) if _written(lambda: whole.save(condition=as_claimed)) else None

    def _settle_actions(self, status: EntryStatus, attempts: int, provider_id: str | None, error: str | None,
                        parts: Parts | None) -> list[Any]:
        m = self.models.entry
        actions: list[Any] = [m.status.set(status), m.attempts.set(attempts), m.updated_at.set(_now())]
        if provider_id:
            actions.append(m.provider_id.set(provider_id))
        if error:
            actions.append(m.error.set(error[:500]))
        if parts is not None:  # the answer's part ids join those receipts bound already (never fewer parts)
            actions += [m.parts.set(m.parts | parts.count), m.part_ids.add(set(parts.ids) | set(parts.refused_markers))]
            if parts.refused:  # a part refused when sent is a final failure: the message failed, now
                actions += [m.parts_failed.add(set(parts.refused_markers)), m.outcome.set(m.outcome | Outcome.FAILED),
                            m.provider_status.set(m.provider_status | REFUSED_PART_STATUS)]
        return actions

    @_reliable
    def bind(self, run: StageRun, payment_id: int, provider_id: str) -> Entry | None:
        m = self.models.entry
        item = self._item(run, payment_id)
        bound = _written(lambda: item.update(
            actions=[m.provider_id.set(provider_id), m.status.set(EntryStatus.PLACED), m.updated_at.set(_now())],
            condition=m.pk.exists() & (m.provider_id.does_not_exist() | (m.provider_id == provider_id))))
        return entry_of(item) if bound else None

    @_reliable
    def record_outcome(self, run: StageRun, payment_id: int, provider_id: str, outcome: Outcome,
                       provider_status: str) -> bool:
        m = self.models.entry
        return self._set_outcome(run, payment_id, outcome, provider_status,
                                 (m.provider_id == provider_id) & m.parts.does_not_exist())

    def _set_outcome(self, run: StageRun, payment_id: int, outcome: Outcome, provider_status: str,
                     condition: Any) -> bool:
        """The entry's outcome, set once (one part: ``record_outcome``; several: ``record_parts_outcome``)."""
        m = self.models.entry
        return _written(lambda: self._item(run, payment_id).update(
            actions=[m.outcome.set(outcome), m.provider_status.set(provider_status), m.updated_at.set(_now())],
            condition=m.outcome.does_not_exist() & condition))

    # --- the parts of an SMS (Entry.parts) ---
    @_reliable
    def expect_parts(self, run: StageRun, payment_id: int, count: int) -> bool:
        m = self.models.entry
        return _written(lambda: self._item(run, payment_id).update(actions=[m.parts.set(count)],
                                                                   condition=m.status == EntryStatus.ATTEMPTING))

    @_reliable
    def bind_part(self, run: StageRun, payment_id: int, part_id: str) -> Entry | None:
        m = self.models.entry
        entry = self.get(run, payment_id)
        if entry is None:
            return None
        item = self._item(run, payment_id)
        # one more id while fewer are known than the message has parts (read above: the write is refused if
        # another part was bound meanwhile, and the next receipt reads again)
        known = m.part_ids.does_not_exist() if not entry.part_ids else (size(m.part_ids) == len(entry.part_ids))
        bound = _written(lambda: item.update(
            actions=[m.part_ids.add({part_id}), m.provider_id.set(m.provider_id | part_id),
                     m.status.set(EntryStatus.PLACED), m.updated_at.set(_now())],
            condition=m.outcome.does_not_exist() & m.parts_failed.does_not_exist() & known
            & (m.parts > len(entry.part_ids)) & ~m.part_ids.contains(part_id)))
        return entry_of(item) if bound else None

    @_reliable
    def record_part(self, run: StageRun, payment_id: int, part_id: str, outcome: Outcome) -> Entry | None:
        m = self.models.entry
        target = m.parts_delivered if outcome == Outcome.SUCCEEDED else m.parts_failed
        item = self._item(run, payment_id)
        recorded = _written(lambda: item.update(actions=[target.add({part_id}), m.updated_at.set(_now())],
                                                condition=m.outcome.does_not_exist() & m.part_ids.contains(part_id)))
        return entry_of(item) if recorded else None

    @_reliable
    def record_parts_outcome(self, run: StageRun, payment_id: int, outcome: Outcome, provider_status: str) -> bool:
        return self._set_outcome(run, payment_id, outcome, provider_status, self.models.entry.parts.exists())

    @_reliable
    def release_claim(self, run: StageRun, payment_id: int) -> bool:
        m = self.models.entry
        ours = (m.status == EntryStatus.ATTEMPTING) & (m.attempt == run.attempt) & m.provider_id.does_not_exist()
        return _written(lambda: self._item(run, payment_id).delete(condition=ours))

    @_reliable
    def bound_to(self, provider_id: str) -> set[tuple[str, int]]:
        return {(item.pk, int(item.payment_id)) for item in self.models.entry.by_provider_id.query(provider_id)}

    def entries(self, run: StageRun) -> Iterator[Entry]:
        for item in self.models.entry.query(run.ledger_key, consistent_read=True, attributes_to_get=[
                "payment_id", "attempt", "channel", "status", "provider_id", "outcome", "attempts", "error"]):
            yield entry_of(item)

    # --- stage records ---
    def _record(self, run: StageRun) -> StageItem:
        return self.models.stage(run.day_key, str(run.stage))

    @_reliable
    def start_stage(self, run: StageRun, task_token: str) -> StageStart:
        m = self.models.stage
        item = m(run.day_key, str(run.stage), attempt=run.attempt, task_token=task_token, completed=0, failed=0,
                 selection_id=uuid.uuid4().hex, updated_at=_now(), expires_at=RETENTION)
        if _written(lambda: item.save(condition=m.pk.does_not_exist() | ((m.attempt < run.attempt)
                                                                         & (m.completed == 0)))):
            return StageStart(StartOutcome.STARTED, state_of(item))
        current = self.stage(run)
        if current is None:  # expired in between
            return self.start_stage(run, task_token)
        return StageStart(start_outcome(current, run), current)

    @_reliable
    def seal_stage(self, run: StageRun, chunks_total: int, counts: Mapping[str, int]) -> StageState | None:
        m = self.models.stage
        actions: list[Any] = [m.chunks_total.set(chunks_total), m.updated_at.set(_now())]
        actions += [getattr(m, k).set(int(v)) for k, v in counts.items()]
        item = self._record(run)
        if _written(lambda: item.update(actions=actions,
                                        condition=(m.attempt == run.attempt) & m.chunks_total.does_not_exist())):
            return state_of(item)
        current = self.stage(run)
        return current if current is not None and current.run.attempt == run.attempt else None

    @_reliable
    def finish_chunk(self, run: StageRun, chunk_id: str, counts: Mapping[str, int]) -> StageState | None:
        m = self.models.stage
        actions: list[Any] = [m.done_chunks.add({chunk_id}), m.updated_at.set(_now())]
        actions += [getattr(m, k).add(int(v)) for k, v in counts.items() if v]
        return self._stage_update(run, actions, ~m.done_chunks.contains(chunk_id))

    def _stage_update(self, run: StageRun, actions: list[Any], condition: Any) -> StageState | None:
        """One conditional write to ``run``'s record, owned by ``run.attempt``: the record as written, None
        when ``condition`` (or the ownership) refused it."""
        item = self._record(run)
        written = _written(lambda: item.update(actions=actions,
                                               condition=(self.models.stage.attempt == run.attempt) & condition))
        return state_of(item) if written else None

    @_reliable
    def record_enqueued(self, run: StageRun) -> StageState | None:
        m = self.models.stage
        return self._stage_update(run, [m.enqueued_all.set(1), m.updated_at.set(_now())], m.chunks_total.exists())

    @_reliable
    def claim_completion(self, state: StageState, answer: Mapping[str, Any] | None = None) -> bool:
        if not state.all_chunks_done:
            return False
        m = self.models.stage
        actions: list[Any] = [m.completed.set(1), m.updated_at.set(_now())]
        if answer is not None:
            actions.append(m.answer.set(json.dumps(answer, separators=(",", ":"))))
        return self._stage_update(state.run, actions, m.completed == 0) is not None

    @_reliable
    def record_answered(self, run: StageRun) -> None:
        m = self.models.stage
        self._stage_update(run, [m.answered.set(1), m.updated_at.set(_now())], m.completed == 1)

    @_reliable
    def claim_failure(self, run: StageRun) -> StageState | None:
        m = self.models.stage
        return self._stage_update(run, [m.failed.set(1), m.updated_at.set(_now())],
                                  (m.completed == 0) & (m.failed.does_not_exist() | (m.failed == 0)))

    @_reliable
    def release_failure(self, run: StageRun) -> None:
        m = self.models.stage
        self._stage_update(run, [m.failed.set(0), m.updated_at.set(_now())], m.failed == 1)

    @_reliable
    def stage(self, run: StageRun) -> StageState | None:
        try:
            return state_of(self.models.stage.get(run.day_key, str(run.stage), consistent_read=True))
        except self.models.stage.DoesNotExist:
            return None

    # --- pacing ---
    @_reliable
    def record_pacing(self, channel: Channel, pacing: Pacing) -> None:
        self.models.pacing(PACING_PK, str(channel), per_second=pacing.per_second,
                           timeout_seconds=pacing.timeout_seconds, updated_at=_now()).save()

    @_reliable
    def pacing(self, channel: Channel) -> Pacing | None:
        try:
            item = self.models.pacing.get(PACING_PK, str(channel), consistent_read=True)
        except self.models.pacing.DoesNotExist:
            return None
        return Pacing(float(item.per_second), float(item.timeout_seconds))
