"""A workflow stage: select the stage's payments, plan capacity, enqueue dispatch chunks.

robocall_1 takes the T-3 set; the retries the same set restricted to robocall not yet successful
(and still unpaid); whatsapp those who failed all three and have WhatsApp. PostgreSQL orders
them by priority, applies the capacity cut and builds the chunks (``stage_chunks.sql``), so a
million payments never pass through Python one by one.

The stage's task token is completed (``SendTaskSuccess``) when the *last* dispatch chunk has
finished — counted atomically in the stage record — so "stage done" means "every call of the
stage was placed or given up", not "messages enqueued". A stage with nothing to do completes
at once.
"""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg2.extensions

from chalicelib import config
from chalicelib.logs import get_logger
from chalicelib.reminders import capacity
from chalicelib.reminders.adapters import ChunkQueue, TaskCallbacks
from chalicelib.reminders.ledger import Ledger, StageRecord, stage_counts
from chalicelib.reminders.selection import T3_SELECTION_SQL, selection_params
from chalicelib.reminders.stages import Channel, Stage, wait_timestamp, window_end_utc
from chalicelib.zones import Zone

logger = get_logger("reminders")

DISPATCH_QUEUES = {Channel.ROBOCALL: "reminder-dispatch-robocall", Channel.WHATSAPP: "reminder-dispatch-whatsapp"}
# Payments per dispatch message: what the provider takes in CHUNK_SECONDS at the planned rate
# (inside the dispatch function's 15-minute timeout), between MIN and MAX (gzip'd ~25 bytes a
# payment: 4,000 ≈ 100 KB, under SQS's 256 KB). REMINDER_CHUNK_SIZE overrides.
CHUNK_SECONDS = 480
MIN_CHUNK, MAX_CHUNK = 50, 4_000
CHUNK_FIELDS = ("payment_id", "loan_id", "phone", "name", "amount", "due_date", "product", "postcode")
STAGE_CHUNKS_SQL = (Path(__file__).with_name("stage_chunks.sql")).read_text()


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


def chunk_size_for(calls_per_second: float) -> int:
    return max(MIN_CHUNK, min(MAX_CHUNK, int(calls_per_second * CHUNK_SECONDS)))


def encode_rows(rows_json: str) -> str:
    """Chunk rows as sent on SQS: gzip + base64 of the JSON array (about 5x smaller; SQS bills per 64 KB)."""
    return base64.b64encode(gzip.compress(rows_json.encode(), compresslevel=5)).decode()


def decode_rows(payload: str) -> list[list[Any]]:
    return json.loads(gzip.decompress(base64.b64decode(payload)))


def iter_chunks(conn: psycopg2.extensions.connection, zone: Zone, business_date: date, stage: Stage,
                capacity_limit: int, chunk_size: int) -> Iterator[tuple[int, int, int, str | None]]:
    """(chunk number or -1 for over capacity, payments, zone fallbacks, rows JSON), streamed."""
    sql = f"WITH sel AS (\n{T3_SELECTION_SQL}\n),\n{STAGE_CHUNKS_SQL}"
    params = selection_params(zone, business_date, only_unsuccessful_robocall=stage is not Stage.ROBOCALL_1,
                              for_whatsapp=stage is Stage.WHATSAPP)
    params.update(capacity=capacity_limit, chunk_size=chunk_size)
    with conn.cursor(name=f"chunks_{uuid.uuid4().hex[:12]}") as cur:
        cur.itersize = 50
        cur.execute(sql, params)
        yield from cur


def run_stage(conn: psycopg2.extensions.connection, msg: StageMessage, *, ledger: Ledger | None = None,
              tasks: TaskCallbacks | None = None, now: datetime | None = None,
              chunk_size: int | None = None) -> dict[str, int]:
    ledger = ledger or Ledger()
    tasks = tasks or TaskCallbacks()
    now = now or datetime.now(UTC)
    queue = ChunkQueue(DISPATCH_QUEUES[msg.stage.channel])
    plan = capacity.plan(msg.zone, msg.business_date, msg.stage, now)
    chunk_size = chunk_size or config.env_int("REMINDER_CHUNK_SIZE", 0) or chunk_size_for(plan.calls_per_second)
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
        for number, payments, fallbacks, rows in iter_chunks(conn, msg.zone, msg.business_date, msg.stage,
                                                              plan.capacity, chunk_size):
            counts["selected"] += payments
            counts["zone_fallback"] += fallbacks
            if number < 0:
                counts["not_placed"] += payments
                continue
            counts["enqueued"] += payments
            chunks += 1
            yield {**header, "chunk_id": f"{msg.attempt}-{number + 1}", "fields": list(CHUNK_FIELDS),
                   "rows_gz": encode_rows(rows)}

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
