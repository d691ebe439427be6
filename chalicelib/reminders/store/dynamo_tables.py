"""The reminder store's DynamoDB tables as pynamodb models, and how their items read as the store's records.

- table ``reminder-ledger``: one item per payment and stage (partition ``<zone>#<date>#<stage>``,
  sort key the payment id); a keys-only index on ``provider_id`` (which entries hold a provider id);
- table ``reminder-stages``: one item per zone, date and stage; plus one item per channel
  (partition ``pacing``) with the pacing the dispatch function measured.

Statuses are stored as the values of ``EntryStatus`` / ``Outcome`` (model.py). The model classes are
built per table pair, endpoint and region (``models_for``): nothing global is rewritten, and two
stores on two endpoints can live in one process.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

from pynamodb.attributes import (
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.reminders.stages import Stage, StageRun
from chalicelib.reminders.store.model import COUNTERS, Entry, EntryStatus, Outcome, StageState
from chalicelib.zones import Zone

LEDGER_TABLE = "reminder-ledger"
PROVIDER_ID = "provider_id"  # the ledger's indexed attribute (infra/functions.yaml: indexes)
STAGES_TABLE = "reminder-stages"
PACING_PK = "pacing"
R = TypeVar("R")
_CONNECTING = threading.Lock()


class ProviderIdIndex(GlobalSecondaryIndex["LedgerItem"]):
    """Which entries a provider id is bound to (keys only; at most one, unless someone cross-binds)."""

    class Meta:
        index_name = resources.index_name(PROVIDER_ID)
        projection = KeysOnlyProjection()

    provider_id = UnicodeAttribute(hash_key=True)


class LedgerItem(Model):
    by_provider_id = ProviderIdIndex()
    pk = UnicodeAttribute(hash_key=True)     # StageRun.ledger_key: "<zone>#<business_date>#<stage>"
    payment_id = UnicodeAttribute(range_key=True)
    attempt = NumberAttribute(default=0)
    channel = UnicodeAttribute()
    status = UnicodeAttribute()
    provider_id = UnicodeAttribute(null=True)
    outcome = UnicodeAttribute(null=True)     # succeeded | failed
    provider_status = UnicodeAttribute(null=True)
    attempts = NumberAttribute(default=0)
    error = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute()
    expires_at = TTLAttribute(null=True)
    # an SMS of several parts only (model.Entry): how many, their ids, and the parts' final receipts
    parts = NumberAttribute(null=True)
    part_ids = UnicodeSetAttribute(null=True)
    parts_delivered = UnicodeSetAttribute(null=True)
    parts_failed = UnicodeSetAttribute(null=True)


class StageItem(Model):
    pk = UnicodeAttribute(hash_key=True)     # StageRun.day_key: "<zone>#<business_date>"
    stage = UnicodeAttribute(range_key=True)
    attempt = NumberAttribute(default=0)
    task_token = UnicodeAttribute(null=True)
    chunks_total = NumberAttribute(null=True)
    done_chunks = UnicodeSetAttribute(null=True)
    completed = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    enqueued_all = NumberAttribute(default=0)
    answer = UnicodeAttribute(null=True)      # the task's result (JSON), stored with completed
    answered = NumberAttribute(default=0)
    selection_id = UnicodeAttribute(null=True)  # the attempt's sealed selection (stage_selection)
    selected = NumberAttribute(default=0)
    enqueued = NumberAttribute(default=0)
    not_placed = NumberAttribute(default=0)
    zone_fallback = NumberAttribute(default=0)
    no_whatsapp = NumberAttribute(default=0)
    placed = NumberAttribute(default=0)
    place_failed = NumberAttribute(default=0)
    unknown = NumberAttribute(default=0)
    skipped = NumberAttribute(default=0)
    updated_at = UTCDateTimeAttribute(null=True)
    expires_at = TTLAttribute(null=True)


class PacingItem(Model):
    pk = UnicodeAttribute(hash_key=True)     # "pacing"
    stage = UnicodeAttribute(range_key=True)  # the channel
    per_second = NumberAttribute()
    timeout_seconds = NumberAttribute()
    updated_at = UTCDateTimeAttribute(null=True)


@dataclass(frozen=True)
class Models:
    entry: type[LedgerItem]
    stage: type[StageItem]
    pacing: type[PacingItem]


class FirstCalls:
    """Runs the first call of each kind alone. pynamodb makes a model's botocore client on the model's first
    request, in a botocore session per thread (service model read from disk: ~0.1 s of CPU), without a lock:
    threads that first used a model together each made one (the API container's first burst of webhooks, each
    dispatch container's first chunk: a quarter of their busy samples in the demo's T-3 day). The first call
    of a kind (a store method) runs alone and the others wait for it; after it, calls run side by side."""

    def __init__(self) -> None:
        self._done: set[Hashable] = set()
        self._lock = threading.RLock()  # a store method that calls another runs both alone

    def first_alone(self, kind: Hashable, call: Callable[[], R]) -> R:
        if kind not in self._done:
            with self._lock:
                if kind not in self._done:
                    try:
                        return call()
                    finally:
                        self._done.add(kind)
        return call()


FIRST_CALLS = FirstCalls()


def connecting() -> threading.Lock:
    """The lock the model classes are made under: threads asking at once share the same classes."""
    return _CONNECTING


def _bound(base: type[Model], table: str, host: str | None, region: str) -> Any:
    meta = type("Meta", (), {"table_name": table, "host": host, "region": region})
    return type(base.__name__, (base,), {"Meta": meta})


def models_for(ledger_table: str, stages_table: str, host: str | None, region: str) -> Models:
    """Model classes bound to one endpoint and table pair (cached: each keeps its own connection; threads asking
    at once get the same ones, so each class makes its client once: ``FirstCalls``)."""
    with _CONNECTING:
        return _models_for(ledger_table, stages_table, host, region)


@lru_cache(maxsize=8)
def _models_for(ledger_table: str, stages_table: str, host: str | None, region: str) -> Models:
    return Models(_bound(LedgerItem, ledger_table, host, region),
                  _bound(StageItem, stages_table, host, region),
                  _bound(PacingItem, stages_table, host, region))


def entry_of(item: LedgerItem) -> Entry:
    return Entry(int(item.payment_id), int(item.attempt or 0), item.channel, EntryStatus(item.status),
                 item.provider_id, Outcome(item.outcome) if item.outcome else None, item.provider_status,
                 int(item.attempts or 0), item.error, parts=int(item.parts or 1),
                 part_ids=frozenset(item.part_ids or ()),
                 parts_delivered=frozenset(item.parts_delivered or ()), parts_failed=frozenset(item.parts_failed or ()))


def state_of(item: StageItem) -> StageState:
    zone, day = item.pk.split("#", 1)
    run = StageRun(Zone[zone], datetime.fromisoformat(day).date(), Stage(item.stage), int(item.attempt or 0))
    return StageState(run, item.task_token, None if item.chunks_total is None else int(item.chunks_total),
                      frozenset(item.done_chunks or ()), bool(item.completed),
                      {k: int(getattr(item, k) or 0) for k in COUNTERS}, bool(item.failed),
                      enqueued_all=bool(item.enqueued_all), answer=json.loads(item.answer) if item.answer else None,
                      answered=bool(item.answered), selection_id=item.selection_id)
