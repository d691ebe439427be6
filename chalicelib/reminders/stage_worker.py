"""A workflow stage: select the stage's payments, plan capacity, enqueue dispatch chunks.

robocall_1 takes the T-3 set; the retries the same set restricted to robocall not yet successful
(and still unpaid); whatsapp those who failed all three and have WhatsApp (the ones without are
counted as ``no_whatsapp``); sms those who failed all three and have no WhatsApp, or whose WhatsApp
message failed (``whatsapp_failed``, from the WhatsApp stage's ledger). PostgreSQL orders them by
priority, applies the capacity cut and builds the chunks (``stage_chunks.sql``), so a million
payments never pass through Python one by one.

The stage record belongs to one attempt (``StageRun.attempt``, the task's retry count): a newer
attempt takes it over, the same attempt resumes it, an older one (a late duplicate) changes
nothing. The task token is completed (``SendTaskSuccess``) when the *last* dispatch chunk of the
owning attempt has finished, so "stage done" means "every call of the stage was placed, given up
or left unknown", not "messages enqueued". A stage with nothing to do completes at once.

Chunk size: the payments a dispatch function gets through in half its own timeout at the pacing
it measured (``Pacing``, recorded by the dispatch function after each chunk); before anything was
measured, the planned rate and the configured timeout of the channel's function.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import psycopg2.extensions

from chalicelib import config, db
from chalicelib.contact_policy import Clock, ContactPolicy
from chalicelib.logs import get_logger
from chalicelib.reminders import capacity, metrics
from chalicelib.reminders.adapters import ChunkQueue, TaskCallbacks
from chalicelib.reminders.completion import complete_if_done, stage_output
from chalicelib.reminders.contact import contact_clock, load_policy, stage_now
from chalicelib.reminders.ledger import DynamoReminderStore
from chalicelib.reminders.messages import DISPATCH_QUEUES, StageMessage, chunk_body
from chalicelib.reminders.selection import T3_SELECTION_SQL, selection_params
from chalicelib.reminders.stages import Channel, Stage, StageRun, slot_utc
from chalicelib.reminders.store import FAILED, OUTCOME_FAILED, SKIPPED, Pacing, ReminderStore, StartOutcome

logger = get_logger("reminders")

# The dispatch functions' timeouts (infra/functions.yaml; a test keeps them equal), used until a
# dispatch function has reported its own.
DISPATCH_TIMEOUT_SECONDS = {Channel.ROBOCALL: 900, Channel.WHATSAPP: 300, Channel.SMS: 300}
# A chunk takes at most this share of the timeout at the measured pacing: a chunk that runs twice
# as slow as the last one measured still finishes.
CHUNK_TIME_SHARE = 0.5
# Between MIN and MAX payments a chunk (gzip'd ~25 bytes a payment: 4,000 ≈ 100 KB, under SQS's
# 256 KB). REMINDER_CHUNK_SIZE overrides.
MIN_CHUNK, MAX_CHUNK = 10, 4_000
MERGED_INTO = re.compile(r"^merged: reminded in the contact of payment (\d+)")
STAGE_CHUNKS_SQL = (Path(__file__).with_name("stage_chunks.sql")).read_text()
NO_WHATSAPP_SQL = (f"WITH sel AS (\n{T3_SELECTION_SQL}\n)\n"
                   "SELECT count(*) FROM sel WHERE NOT (is_whatsapp AND has_whatsapp_1) AND NOT is_whatsapp_blasted")


def chunk_size_for(pacing: Pacing) -> int:
    budget = pacing.timeout_seconds * CHUNK_TIME_SHARE
    size = math.floor(pacing.per_second * budget)
    if size / pacing.per_second > budget:  # floating-point rounding up
        size -= 1
    return max(MIN_CHUNK, min(MAX_CHUNK, size))


def dispatch_containers() -> int:
    """How many containers each dispatch function runs (``DISPATCH_MAX_CONCURRENCY``)."""
    return max(1, config.env_int("DISPATCH_MAX_CONCURRENCY", 1))


def dispatch_pacing(store: ReminderStore, channel: Channel) -> Pacing:
    """What the channel's dispatch function measured; before any measurement, the plan."""
    measured = store.pacing(channel)
    if measured is not None and measured.per_second > 0 and measured.timeout_seconds > 0:
        return measured
    return Pacing(capacity.planned_rate(channel), DISPATCH_TIMEOUT_SECONDS[channel])


def iter_chunks(conn: psycopg2.extensions.connection, run: StageRun, capacity_limit: int,
                chunk_size: int, *, spread: int = 1, min_chunk: int = 1,
                due_dates: Sequence[date] | None = None,
                whatsapp_failed: Sequence[int] = ()) -> Iterator[tuple[int, int, int, str | None]]:
    """(chunk number or -1 for over capacity, payments, zone fallbacks, rows JSON), streamed.

    Chunks hold at most ``chunk_size`` payments and are small enough that the stage makes at least
    ``spread`` of them (never under ``min_chunk`` payments each).
    """
    sql = f"WITH sel AS (\n{T3_SELECTION_SQL}\n),\n{STAGE_CHUNKS_SQL}"
    params = selection_params(run.zone, run.business_date, only_unsuccessful_robocall=run.stage is not Stage.ROBOCALL_1,
                              for_whatsapp=run.stage is Stage.WHATSAPP, due_dates=due_dates,
                              for_sms=run.stage is Stage.SMS, whatsapp_failed=whatsapp_failed)
    params.update(capacity=capacity_limit, chunk_size=chunk_size, spread=max(1, spread), min_chunk=min_chunk)
    with conn.cursor(name=f"chunks_{uuid.uuid4().hex[:12]}") as cur:
        cur.itersize = 50
        cur.execute(sql, params)
        yield from cur


def count_no_whatsapp(conn: psycopg2.extensions.connection, run: StageRun,
                      due_dates: Sequence[date] | None = None) -> int:
    """Borrowers the WhatsApp stage skips because they have no WhatsApp (they failed all robocalls)."""
    with conn.cursor() as cur:
        cur.execute(NO_WHATSAPP_SQL, selection_params(run.zone, run.business_date, only_unsuccessful_robocall=True,
                                                      due_dates=due_dates))
        (count,) = db.one(cur)
    return int(count)


def whatsapp_failed(store: ReminderStore, run: StageRun) -> list[int]:
    """Payments whose WhatsApp message of ``run``'s day failed: nothing was placed, or its final status
    was a failure (131026 undeliverable, 131047 outside the re-engagement window…). The SMS stage
    texts them. A message that may have gone out (unknown) or was skipped by the policy is not."""
    messages = StageRun(run.zone, run.business_date, Stage.WHATSAPP)
    entries = list(store.entries(messages))
    failed = {e.payment_id for e in entries if e.status == FAILED or e.outcome == OUTCOME_FAILED}
    # a payment reminded in another payment's message (one contact per borrower) failed with it
    merged = {e.payment_id for e in entries if e.status == SKIPPED and e.error
              and (m := MERGED_INTO.search(e.error)) and int(m.group(1)) in failed}
    return sorted(failed | merged)


def run_stage(conn: psycopg2.extensions.connection, msg: StageMessage, *, store: ReminderStore | None = None,
              tasks: TaskCallbacks | None = None, now: datetime | None = None, chunk_size: int | None = None,
              queue: ChunkQueue | None = None, clock: Clock | None = None,
              policy: ContactPolicy | None = None) -> dict[str, Any]:
    """Select, plan and enqueue one stage. The contact policy decides which due dates the day covers
    (none on a closed day) and how much of the stage's window is left (``now``: the clock's, unless
    given)."""
    store = store or DynamoReminderStore()
    tasks = tasks or TaskCallbacks()
    run = msg.run
    start = store.start_stage(run, msg.task_token)
    if start.outcome is StartOutcome.SUPERSEDED:
        logger.warning("late stage message of an older attempt ignored",
                       extra={**run.ids(), "owner_attempt": start.state.run.attempt})
        return {"outcome": str(start.outcome), "chunks": 0}
    if start.outcome is StartOutcome.COMPLETED:
        logger.warning("stage already completed; answering with its result", extra=run.ids())
        tasks.succeed(msg.task_token, stage_output(start.state))
        return {"outcome": str(start.outcome), **start.state.counters(), "chunks": 0}
    if start.outcome is StartOutcome.RESUMED and start.state.chunks_total is not None:
        logger.info("stage message again for an enqueued attempt; its chunks are on the queue", extra=run.ids())
        complete_if_done(store, tasks, start.state)
        return {"outcome": str(start.outcome), **start.state.counters(), "chunks": 0}

    policy = policy or load_policy(conn, run.business_date)
    day = policy.plan(run.zone, run.business_date)
    now = now or stage_now(clock or contact_clock(), run)
    window = policy.window_left(run.zone, run.business_date, slot_utc(run.zone, run.business_date, run.stage),
                                run.window_end, now)
    queue = queue or ChunkQueue(DISPATCH_QUEUES[run.stage.channel])
    plan = capacity.plan(window, run.stage.channel)
    pacing = dispatch_pacing(store, run.stage.channel)
    fixed = chunk_size or config.env_int("REMINDER_CHUNK_SIZE", 0)
    chunk_size = fixed or chunk_size_for(pacing)
    # sized by the pacing: spread over every dispatch container (each keeps 1/N of the provider
    # rate, so a stage in one chunk would be placed at 1/N of the rate the plan counted on)
    spread = 1 if fixed else dispatch_containers()
    counts = {"selected": 0, "enqueued": 0, "not_placed": 0, "zone_fallback": 0, "no_whatsapp": 0}
    chunks = 0

    failed_messages = whatsapp_failed(store, run) if run.stage is Stage.SMS else []

    def chunk_bodies() -> Iterator[dict[str, Any]]:
        nonlocal chunks
        for number, payments, fallbacks, rows in iter_chunks(conn, run, plan.capacity, chunk_size, spread=spread,
                                                             min_chunk=1 if fixed else MIN_CHUNK,
                                                             due_dates=day.covers_due_dates,
                                                             whatsapp_failed=failed_messages):
            counts["selected"] += payments
            counts["zone_fallback"] += fallbacks
            if number < 0:
                counts["not_placed"] += payments
                continue
            counts["enqueued"] += payments
            chunks += 1
            yield chunk_body(run, f"{run.attempt}-{number + 1}", rows or "[]")

    queue.send(chunk_bodies())
    if run.stage is Stage.WHATSAPP:
        counts["no_whatsapp"] = count_no_whatsapp(conn, run, day.covers_due_dates)
    conn.commit()
    state = store.seal_stage(run, chunks, counts)
    metrics.emit(metrics.run_dimensions(run.zone.name, str(run.stage), str(run.stage.channel)),
                 metrics.renamed(counts, metrics.SELECTION_COUNTS))
    logger.info("stage dispatched", extra={**run.ids(), **counts, "chunks": chunks, "chunk_size": chunk_size,
                                           "spread": spread, "contact_day": day.as_dict(),
                                           "window_seconds": plan.window_seconds,
                                           "capacity": plan.capacity, "pacing_per_second": pacing.per_second})
    if counts["not_placed"]:
        logger.warning("stage over capacity", extra={**run.ids(), "not_placed": counts["not_placed"],
                                                     "capacity": plan.capacity})
    complete_if_done(store, tasks, state)
    return {"outcome": str(start.outcome), **counts, "chunks": chunks, "capacity": plan.capacity,
            "chunk_size": chunk_size, "contact_day": day.as_dict()}
