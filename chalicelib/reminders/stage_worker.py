"""A workflow stage: select the stage's payments, plan capacity, enqueue dispatch chunks.

The stage's task token is completed (``SendTaskSuccess``) when the *last* dispatch chunk has
finished — counted atomically in the stage record — so "stage done" means "every call of the
stage was placed or given up", not "messages enqueued". A stage with nothing to do completes
at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import psycopg2.extensions

from chalicelib.logs import get_logger
from chalicelib.reminders import capacity
from chalicelib.reminders.adapters import ChunkQueue, TaskCallbacks
from chalicelib.reminders.ledger import Ledger, StageRecord, stage_counts
from chalicelib.reminders.selection import DuePayment, iter_t3_payments
from chalicelib.reminders.stages import Channel, Stage, wait_timestamp, window_end_utc
from chalicelib.zones import Zone

logger = get_logger("reminders")

DISPATCH_QUEUES = {Channel.ROBOCALL: "reminder-dispatch-robocall", Channel.WHATSAPP: "reminder-dispatch-whatsapp"}
CHUNK_SIZE = 100  # payments per dispatch message (~25 KB, well under SQS's 256 KB)


@dataclass(frozen=True)
class StageMessage:
    zone: Zone
    business_date: date
    stage: Stage
    attempt: int
    task_token: str

    @classmethod
    def parse(cls, body: dict[str, Any]) -> StageMessage:
        try:
            return cls(Zone.parse(body["zone"]), date.fromisoformat(body["business_date"]), Stage(body["stage"]),
                       int(body.get("attempt") or 0), str(body["task_token"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"malformed stage message: {exc}") from exc


def payment_item(p: DuePayment) -> dict[str, Any]:
    return {"payment_id": p.payment_id, "loan_id": p.loan_id, "phone": p.phone, "name": p.fullname,
            "amount": p.due_amount, "due_date": p.due_date.isoformat(), "product": p.product_family,
            "postcode": p.address_kodepos}


def select_for_stage(conn: psycopg2.extensions.connection, zone: Zone, business_date: date,
                     stage: Stage) -> Iterator[DuePayment]:
    """robocall_1: the T-3 set; retries: not yet successful (and unpaid); whatsapp: failed all, has WhatsApp."""
    return iter_t3_payments(conn, zone, business_date, only_unsuccessful_robocall=stage is not Stage.ROBOCALL_1,
                            for_whatsapp=stage is Stage.WHATSAPP, order_by=capacity.PRIORITY_ORDER)


def stage_output(zone: Zone, business_date: date, stage: Stage, record: StageRecord | None) -> dict[str, Any]:
    return {"zone": zone.name, "business_date": business_date.isoformat(), "stage": str(stage),
            **stage_counts(record), "next_at": wait_timestamp(window_end_utc(zone, business_date, stage))}


def complete_if_done(ledger: Ledger, tasks: TaskCallbacks, record: StageRecord | None, zone: Zone,
                     business_date: date, stage: Stage) -> bool:
    if record is None or not ledger.claim_completion(record):
        return False
    if not tasks.succeed(record.task_token, stage_output(zone, business_date, stage, record)):
        logger.warning("stage finished but its task is no longer waiting",
                       extra={"zone": zone.name, "business_date": str(business_date), "stage": str(stage)})
    logger.info("stage complete", extra={"zone": zone.name, "business_date": str(business_date),
                                         "stage": str(stage), **stage_counts(record)})
    return True


def run_stage(conn: psycopg2.extensions.connection, msg: StageMessage, *, ledger: Ledger | None = None,
              tasks: TaskCallbacks | None = None, now: datetime | None = None,
              chunk_size: int = CHUNK_SIZE) -> dict[str, int]:
    ledger = ledger or Ledger()
    tasks = tasks or TaskCallbacks()
    now = now or datetime.now(UTC)
    queue = ChunkQueue(DISPATCH_QUEUES[msg.stage.channel])
    plan = capacity.plan(msg.zone, msg.business_date, msg.stage, now)
    if ledger.start_stage(msg.zone, msg.business_date, msg.stage, msg.attempt, msg.task_token) is None:
        done = ledger.stage(msg.zone, msg.business_date, msg.stage)
        logger.warning("stage already completed; answering with its result",
                       extra={"zone": msg.zone.name, "business_date": str(msg.business_date), "stage": str(msg.stage)})
        tasks.succeed(msg.task_token, stage_output(msg.zone, msg.business_date, msg.stage, done))
        return {**stage_counts(done), "chunks": 0, "capacity": plan.capacity}
    counts = {"selected": 0, "enqueued": 0, "not_placed": 0, "zone_fallback": 0}
    header = {"zone": msg.zone.name, "business_date": msg.business_date.isoformat(), "stage": str(msg.stage),
              "attempt": msg.attempt}
    chunks = 0

    def chunk_bodies() -> Iterator[dict[str, Any]]:
        nonlocal chunks
        items: list[dict[str, Any]] = []
        for p in select_for_stage(conn, msg.zone, msg.business_date, msg.stage):
            counts["selected"] += 1
            counts["zone_fallback"] += p.zone_fallback
            if counts["enqueued"] >= plan.capacity:
                counts["not_placed"] += 1
                continue
            counts["enqueued"] += 1
            items.append(payment_item(p))
            if len(items) == chunk_size:
                chunks += 1
                yield {**header, "chunk_id": f"{msg.attempt}-{chunks}", "payments": items}
                items = []
        if items:
            chunks += 1
            yield {**header, "chunk_id": f"{msg.attempt}-{chunks}", "payments": items}

    queue.send(chunk_bodies())
    conn.commit()
    record = ledger.seal_stage(msg.zone, msg.business_date, msg.stage, msg.attempt, chunks, counts)
    logger.info("stage dispatched", extra={**header, **counts, "chunks": chunks, "capacity": plan.capacity,
                                           "calls_per_second": plan.calls_per_second})
    if counts["not_placed"]:
        logger.warning("stage over capacity", extra={**header, "not_placed": counts["not_placed"],
                                                     "capacity": plan.capacity})
    complete_if_done(ledger, tasks, record, msg.zone, msg.business_date, msg.stage)
    return {**counts, "chunks": chunks, "capacity": plan.capacity}
