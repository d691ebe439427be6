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

Sealed before enqueued: an attempt's selection (ids, chunks, counts) is committed in PostgreSQL
(``stage_selection.seal``) and its counts written to the stage record (``seal_stage``) before any
chunk is on the queue. The worker may die at any step; the stage message comes back and the same
attempt resumes: it re-uses the sealed selection (never selects again), enqueues the sealed chunks
that have not finished unless all were already enqueued (``record_enqueued``), and completes or
answers the stage if its chunks are done. So per attempt selected = placed + place_failed +
unknown + not_placed, whatever step the worker died at.

Chunk size: the payments a dispatch function gets through in half its own timeout at the pacing
it measured (``Pacing``, recorded by the dispatch function after each chunk); before anything was
measured, the planned rate and the configured timeout of the channel's function.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg2.extensions

from chalicelib.contact_policy import Clock, ContactPolicy
from chalicelib.logs import get_logger
from chalicelib.reminders import capacity, metrics, stage_selection
from chalicelib.reminders.adapters import ChunkQueue, TaskCallbacks
from chalicelib.reminders.completion import complete_if_done, stage_output
from chalicelib.reminders.contact import contact_clock, contact_hours, load_policy, stage_now
from chalicelib.reminders.messages import DISPATCH_QUEUES, StageMessage
from chalicelib.reminders.stages import Channel, Stage, StageRun, Timetable, slot_utc
from chalicelib.reminders.store import EntryStatus, Outcome, Pacing, ReminderStore, StageState, StartOutcome
from chalicelib.settings import StageSettings

logger = get_logger("reminders")

# The dispatch functions' timeouts (infra/functions.yaml; a test keeps them equal), used until a
# dispatch function has reported its own.
DISPATCH_TIMEOUT_SECONDS = {Channel.ROBOCALL: 900, Channel.WHATSAPP: 300, Channel.SMS: 300}
# A chunk takes at most this share of the timeout at the measured pacing: a chunk that runs twice
# as slow as the last one measured still finishes.
CHUNK_TIME_SHARE = 0.5
# Between MIN and MAX payments a chunk (gzip'd ~25 bytes a payment: 4,000 ≈ 100 KB, under SQS's
# 256 KB). REMINDER_CHUNK_SIZE (StageSettings.chunk_size) overrides.
MIN_CHUNK, MAX_CHUNK = 10, 4_000
MERGED_INTO = re.compile(r"^merged: reminded in the contact of payment (\d+)")


def chunk_size_for(pacing: Pacing) -> int:
    budget = pacing.timeout_seconds * CHUNK_TIME_SHARE
    size = math.floor(pacing.per_second * budget)
    if size / pacing.per_second > budget:  # floating-point rounding up
        size -= 1
    return max(MIN_CHUNK, min(MAX_CHUNK, size))


def dispatch_containers(settings: StageSettings) -> int:
    """How many containers each dispatch function runs (``DISPATCH_MAX_CONCURRENCY``)."""
    return max(1, settings.max_concurrency)


def dispatch_pacing(store: ReminderStore, channel: Channel, settings: StageSettings) -> Pacing:
    """What the channel's dispatch function measured; before any measurement, the plan."""
    measured = store.pacing(channel)
    if measured is not None and measured.per_second > 0 and measured.timeout_seconds > 0:
        return measured
    return Pacing(capacity.planned_rate(channel, settings), DISPATCH_TIMEOUT_SECONDS[channel])


def whatsapp_failed(store: ReminderStore, run: StageRun) -> list[int]:
    """Payments whose WhatsApp message of ``run``'s day failed: nothing was placed, or its final status
    was a failure (131026 undeliverable, 131047 outside the re-engagement window…). The SMS stage
    texts them. A message that may have gone out (unknown) or was skipped by the policy is not."""
    messages = StageRun(run.zone, run.business_date, Stage.WHATSAPP)
    entries = list(store.entries(messages))
    failed = {e.payment_id for e in entries if e.status == EntryStatus.FAILED or e.outcome == Outcome.FAILED}
    # a payment reminded in another payment's message (one contact per borrower) failed with it
    merged = {e.payment_id for e in entries if e.status == EntryStatus.SKIPPED and e.error
              and (m := MERGED_INTO.search(e.error)) and int(m.group(1)) in failed}
    return sorted(failed | merged)


def run_stage(conn: psycopg2.extensions.connection, msg: StageMessage, settings: StageSettings, *,
              store: ReminderStore, tasks: TaskCallbacks, now: datetime | None = None,
              chunk_size: int | None = None, queue: ChunkQueue | None = None, clock: Clock | None = None,
              policy: ContactPolicy | None = None) -> dict[str, Any]:
    """Select, plan and enqueue one stage. The contact policy decides which due dates the day covers
    (none on a closed day) and how much of the stage's window is left (``now``: the clock's, unless
    given). A resumed attempt re-uses what its first delivery sealed: plan and selection included."""
    timetable = Timetable.of(settings)
    run = msg.run
    start = store.start_stage(run, msg.task_token)
    if start.outcome is StartOutcome.SUPERSEDED:
        logger.warning("late stage message of an older attempt ignored",
                       extra={**run.ids(), "owner_attempt": start.state.run.attempt})
        return {"outcome": str(start.outcome), "chunks": 0}
    if start.outcome is StartOutcome.COMPLETED:
        logger.warning("stage already completed; answering with its result", extra=run.ids())
        answer_completed(store, tasks, start.state, msg.task_token, timetable)
        return {"outcome": str(start.outcome), **start.state.counters(), "chunks": 0}

    state = start.state
    details: dict[str, Any] = {}
    if state.chunks_total is None:  # not sealed on the stage record yet (in PostgreSQL maybe: re-used then)
        policy = policy or load_policy(conn, run.business_date, contact_hours(settings.contact_hours))
        day = policy.plan(run.zone, run.business_date)
        now = now or stage_now(clock or contact_clock(settings.contact_clock), run, timetable)
        window = policy.window_left(run.zone, run.business_date,
                                    slot_utc(run.zone, run.business_date, run.stage, timetable),
                                    run.window_end_in(timetable), now)
        plan = capacity.plan(window, run.stage.channel, settings)
        pacing = dispatch_pacing(store, run.stage.channel, settings)
        fixed = chunk_size or settings.chunk_size
        size = fixed or chunk_size_for(pacing)
        # sized by the pacing: spread over every dispatch container, so that each has calls in flight
        # (they share one provider grid: a container alone gets the whole rate only if its threads keep up)
        spread = 1 if fixed else dispatch_containers(settings)
        failed_messages = whatsapp_failed(store, run) if run.stage is Stage.SMS else []
        selection = stage_selection.seal(conn, run, selection_key(state), capacity=plan.capacity, chunk_size=size,
                                         spread=spread, min_chunk=1 if fixed else MIN_CHUNK,
                                         due_dates=day.covers_due_dates, whatsapp_failed=failed_messages)
        sealed = store.seal_stage(run, selection.chunks, selection.counts)
        if sealed is None:
            logger.warning("a newer attempt took the stage over while this one selected", extra=run.ids())
            return {"outcome": str(StartOutcome.SUPERSEDED), "chunks": 0}
        state = sealed
        if selection.fresh:  # counted once per selection, not again by a resumed delivery
            metrics.emit(metrics.run_dimensions(run.zone.name, str(run.stage), str(run.stage.channel)),
                         metrics.renamed(selection.counts, metrics.SELECTION_COUNTS))
        details = {"capacity": selection.capacity, "chunk_size": selection.chunk_size,
                   "selection": "selected" if selection.fresh else "re-used", "contact_day": day.as_dict(),
                   "window_seconds": plan.window_seconds, "pacing_per_second": pacing.per_second,
                   "spread": spread}
        if selection.counts["not_placed"]:
            logger.warning("stage over capacity", extra={**run.ids(), "not_placed": selection.counts["not_placed"],
                                                         "capacity": selection.capacity})
    chunks = 0
    if not state.enqueued_all:
        queue = queue or ChunkQueue(DISPATCH_QUEUES[run.stage.channel])

        def counted(bodies: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
            nonlocal chunks
            for body in bodies:
                chunks += 1
                yield body

        queue.send(counted(stage_selection.chunk_bodies(conn, run, selection_key(state), state.done_chunks)))
        state = store.record_enqueued(run) or state
    logger.info("stage dispatched", extra={**run.ids(), **state.counters(), "chunks": state.chunks_total,
                                           "enqueued_now": chunks, "resumed": start.outcome is StartOutcome.RESUMED,
                                           **details})
    complete_if_done(store, tasks, store.stage(run) if chunks else state, timetable)
    return {"outcome": str(start.outcome), **state.counters(), "chunks": chunks, **details}


def selection_key(state: StageState) -> str:
    """The name of the stage attempt's sealed selection (a record written before it had one: its key)."""
    return state.selection_id or f"{state.run.ledger_key}#{state.run.attempt}"


def answer_completed(store: ReminderStore, tasks: TaskCallbacks, state: StageState, task_token: str,
                     timetable: Timetable) -> None:
    """A completed stage's message again (redelivered, or a newer attempt's): its stored answer to that token."""
    answer = dict(state.answer) if state.answer is not None else stage_output(state, timetable)
    tasks.succeed(task_token, answer)
    if task_token == state.task_token and not state.answered:
        store.record_answered(state.run)
