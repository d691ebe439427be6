"""DynamoDB state of the reminder workflow (pynamodb): the call ledger and the stage records.

- ``LedgerEntry`` (table ``reminder-ledger``): one item per payment, business date and stage
  (partition ``<zone>#<date>#<stage>``, sort key the payment id), written *before* the provider
  is called with ``attribute_not_exists`` so a redelivered dispatch message or a restarted stage
  never calls anyone twice. The outcome callback sets ``outcome`` once (conditional update). The
  stage's placed/succeeded/failed figures are read back from its partition (one Query), so no
  counter has to be kept in step with the entries (no transactions: moto copies the whole table
  on every TransactWriteItems, which made them unusable locally).
- ``StageRecord`` (table ``reminder-stages``): one item per zone, date and stage: the task
  token, how many dispatch chunks were enqueued and which have finished (a string set, so
  counting a redelivered chunk twice is impossible), and the stage's selection/dispatch counters.

``bind_models()`` points both models at the configured endpoint, region and table names at
adapter construction time (tests and the demo switch endpoints between runs).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from pynamodb.attributes import (
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.models import Model

from chalicelib import config, resources
from chalicelib.reminders.stages import Stage
from chalicelib.zones import Zone

LEDGER_TABLE = "reminder-ledger"
STAGES_TABLE = "reminder-stages"
RETENTION = timedelta(days=90)

# ledger entry states
ATTEMPTING = "attempting"  # written before the provider call
PLACED = "placed"          # provider accepted it; the outcome arrives by callback
FAILED = "failed"          # provider refused it after bounded retries
# outcomes
SUCCEEDED = "succeeded"
OUTCOME_FAILED = "failed"

COUNTERS = ("selected", "enqueued", "not_placed", "placed", "place_failed", "zone_fallback")


class LedgerEntry(Model):
    class Meta:
        table_name = LEDGER_TABLE

    pk = UnicodeAttribute(hash_key=True)     # "<zone>#<business_date>#<stage>"
    payment_id = UnicodeAttribute(range_key=True)
    channel = UnicodeAttribute()
    status = UnicodeAttribute()
    provider_id = UnicodeAttribute(null=True)
    outcome = UnicodeAttribute(null=True)     # succeeded | failed
    provider_status = UnicodeAttribute(null=True)
    attempts = NumberAttribute(default=0)
    error = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute()
    expires_at = TTLAttribute(null=True)


class StageRecord(Model):
    class Meta:
        table_name = STAGES_TABLE

    pk = UnicodeAttribute(hash_key=True)     # "<zone>#<business_date>"
    stage = UnicodeAttribute(range_key=True)
    attempt = NumberAttribute(default=0)
    task_token = UnicodeAttribute(null=True)
    chunks_total = NumberAttribute(null=True)
    done_chunks = UnicodeSetAttribute(null=True)
    completed = NumberAttribute(default=0)
    selected = NumberAttribute(default=0)
    enqueued = NumberAttribute(default=0)
    not_placed = NumberAttribute(default=0)
    zone_fallback = NumberAttribute(default=0)
    placed = NumberAttribute(default=0)
    place_failed = NumberAttribute(default=0)
    updated_at = UTCDateTimeAttribute(null=True)
    expires_at = TTLAttribute(null=True)


def bind_models() -> None:
    """Point the models at the current endpoint/region/tables; keep the connection if nothing changed."""
    for model, name in ((LedgerEntry, LEDGER_TABLE), (StageRecord, STAGES_TABLE)):
        wanted = (resources.table_name(name), config.aws_endpoint_url(), config.aws_region())
        current = (model.Meta.table_name, getattr(model.Meta, "host", None), getattr(model.Meta, "region", None))
        if wanted != current or model._connection is None:
            model.Meta.table_name, model.Meta.host, model.Meta.region = wanted
            model._connection = None


def ledger_key(zone: Zone, business_date: date, stage: Stage) -> str:
    return f"{zone.name}#{business_date.isoformat()}#{stage}"


def stage_key(zone: Zone, business_date: date) -> str:
    return f"{zone.name}#{business_date.isoformat()}"


def _now() -> datetime:
    return datetime.now(UTC)


def _is_condition_failure(exc: Exception) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


class Ledger:
    """Adapter over the two tables; the domain code only talks to this."""

    def __init__(self) -> None:
        bind_models()

    # --- ledger entries ---
    def claim(self, payment_id: int, business_date: date, stage: Stage, zone: Zone) -> LedgerEntry | None:
        """Record an attempt before calling; None if this payment/date/stage was already claimed."""
        entry = LedgerEntry(
            ledger_key(zone, business_date, stage), str(payment_id), channel=str(stage.channel),
            status=ATTEMPTING, attempts=0, updated_at=_now(), expires_at=RETENTION,
        )
        try:
            entry.save(condition=LedgerEntry.pk.does_not_exist())
        except PutError as exc:
            if _is_condition_failure(exc):
                return None
            raise
        return entry

    def get(self, payment_id: int, business_date: date, stage: Stage, zone: Zone) -> LedgerEntry | None:
        try:
            return LedgerEntry.get(ledger_key(zone, business_date, stage), str(payment_id), consistent_read=True)
        except LedgerEntry.DoesNotExist:
            return None

    def mark(self, entry: LedgerEntry, status: str, *, attempts: int, provider_id: str | None = None,
             error: str | None = None) -> None:
        actions = [LedgerEntry.status.set(status), LedgerEntry.attempts.set(attempts),
                   LedgerEntry.updated_at.set(_now())]
        if provider_id:
            actions.append(LedgerEntry.provider_id.set(provider_id))
        if error:
            actions.append(LedgerEntry.error.set(error[:500]))
        entry.update(actions=actions)

    def record_outcome(self, entry: LedgerEntry, provider_id: str, outcome: str, provider_status: str) -> bool:
        """Set the outcome once; False if it was already set or the call id does not match."""
        try:
            entry.update(actions=[LedgerEntry.outcome.set(outcome),
                                  LedgerEntry.provider_status.set(provider_status),
                                  LedgerEntry.updated_at.set(_now())],
                         condition=LedgerEntry.outcome.does_not_exist() & (LedgerEntry.provider_id == provider_id))
        except UpdateError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def stage_results(self, zone: Zone, business_date: date, stage: Stage) -> dict[str, int]:
        """placed / place_failed / succeeded / failed for one stage, from its ledger partition."""
        counts = {"placed": 0, "place_failed": 0, "succeeded": 0, "failed": 0}
        for entry in LedgerEntry.query(ledger_key(zone, business_date, stage), consistent_read=True,
                                       attributes_to_get=["status", "outcome"]):
            if entry.status == PLACED:
                counts["placed"] += 1
                if entry.outcome == SUCCEEDED:
                    counts["succeeded"] += 1
                elif entry.outcome == OUTCOME_FAILED:
                    counts["failed"] += 1
            else:
                counts["place_failed"] += 1
        return counts

    # --- stage records ---
    def start_stage(self, zone: Zone, business_date: date, stage: Stage, attempt: int,
                    task_token: str) -> StageRecord | None:
        """A (re)started stage begins with a clean record for this attempt.

        Returns None (and changes nothing) when the stage has already completed: a duplicate
        stage message must not reset a finished stage.
        """
        record = StageRecord(stage_key(zone, business_date), str(stage), attempt=attempt, task_token=task_token,
                             completed=0, updated_at=_now(), expires_at=RETENTION)
        try:
            record.save(condition=StageRecord.pk.does_not_exist() | (StageRecord.completed == 0))
        except PutError as exc:
            if _is_condition_failure(exc):
                return None
            raise
        return record

    def seal_stage(self, zone: Zone, business_date: date, stage: Stage, attempt: int, chunks_total: int,
                   counts: dict[str, int]) -> StageRecord | None:
        """All chunks are enqueued: store their number and the selection counts."""
        record = StageRecord(stage_key(zone, business_date), str(stage))
        actions = [StageRecord.chunks_total.set(chunks_total), StageRecord.updated_at.set(_now())]
        actions += [getattr(StageRecord, k).set(v) for k, v in counts.items()]
        try:
            record.update(actions=actions, condition=StageRecord.attempt == attempt)
        except UpdateError as exc:
            if _is_condition_failure(exc):
                return None
            raise
        return record

    def finish_chunk(self, zone: Zone, business_date: date, stage: Stage, attempt: int, chunk_id: str,
                     counts: dict[str, int]) -> StageRecord | None:
        """Count a finished chunk once (idempotent); None if already counted or from an older attempt."""
        record = StageRecord(stage_key(zone, business_date), str(stage))
        actions = [StageRecord.done_chunks.add({chunk_id}), StageRecord.updated_at.set(_now())]
        actions += [getattr(StageRecord, k).add(v) for k, v in counts.items() if v]
        try:
            record.update(actions=actions,
                          condition=(StageRecord.attempt == attempt) & ~StageRecord.done_chunks.contains(chunk_id))
        except UpdateError as exc:
            if _is_condition_failure(exc):
                return None
            raise
        return record

    def claim_completion(self, record: StageRecord) -> bool:
        """True for exactly one caller once every chunk of the stage has finished."""
        done = len(record.done_chunks or ())
        if record.chunks_total is None or done < record.chunks_total:
            return False
        try:
            record.update(actions=[StageRecord.completed.set(1)],
                          condition=(StageRecord.completed == 0) & (StageRecord.attempt == record.attempt))
        except UpdateError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def stage(self, zone: Zone, business_date: date, stage: Stage) -> StageRecord | None:
        try:
            return StageRecord.get(stage_key(zone, business_date), str(stage), consistent_read=True)
        except StageRecord.DoesNotExist:
            return None


def stage_counts(record: StageRecord | None) -> dict[str, Any]:
    if record is None:
        return {k: 0 for k in COUNTERS}
    return {k: int(getattr(record, k) or 0) for k in COUNTERS}
