"""A stage attempt's selection, sealed in PostgreSQL before any of its chunks is enqueued.

``seal`` runs the stage's selection once per attempt: in one transaction it writes the attempt's
header row (``reminder_stage_selection``, keyed by the ``selection_id`` the stage record got when
the attempt started it), the chunks
PostgreSQL cut the selection into (``reminder_stage_chunk``: payment ids, and the rows the dispatch
chunk carries) and the counts. Whoever comes second — the same attempt's stage message delivered
again after a crash, or a duplicate delivered at the same moment (its insert waits for the first
transaction, then finds the row) — gets the sealed selection back instead of selecting again. So
the chunks on the queue, their ids (``<attempt>-<n>``) and the counts the stage reports all come
from one selection, whatever happened in between.

``chunk_bodies`` streams the sealed chunks (server-side cursor) as dispatch messages, skipping the
chunks already finished. Selections are kept ``SELECTION_RETENTION_DAYS`` days (purged when a day's
first stage is sealed).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import psycopg2.extensions

from chalicelib import db
from chalicelib.reminders.messages import chunk_body
from chalicelib.reminders.selection import T3_SELECTION_SQL, selection_params
from chalicelib.reminders.stages import Stage, StageRun

STAGE_CHUNKS_SQL = Path(__file__).with_name("stage_chunks.sql").read_text()
SELECTION_RETENTION_DAYS = 7
COUNT_FIELDS = ("selected", "enqueued", "not_placed", "zone_fallback", "no_whatsapp")

_KEY = "selection_id = %(selection_id)s"

INSERT_HEADER_SQL = """
INSERT INTO reminder_stage_selection (selection_id, zone, business_date, stage, attempt, chunk_size, capacity)
VALUES (%(selection_id)s, %(run_zone)s, %(run_date)s, %(run_stage)s, %(run_attempt)s, %(chunk_size)s,
        %(capacity)s)
ON CONFLICT DO NOTHING
RETURNING 1
"""
READ_HEADER_SQL = f"""
SELECT selected, enqueued, not_placed, zone_fallback, no_whatsapp, chunks, chunk_size, capacity
FROM reminder_stage_selection WHERE {_KEY}
"""
# the chunks as stage_chunks.sql cuts them (-1, over capacity, becomes chunk 0)
INSERT_CHUNKS_SQL = """
INSERT INTO reminder_stage_chunk (selection_id, chunk, payments, zone_fallback, payment_ids, rows)
SELECT %(selection_id)s, c.chunk + 1, c.payments, c.zone_fallback, c.payment_ids, c.rows
FROM ({chunks_sql}) AS c
"""
COUNT_SQL = f"""
UPDATE reminder_stage_selection s
SET selected = c.selected, enqueued = c.enqueued, not_placed = c.not_placed, zone_fallback = c.zone_fallback,
    chunks = c.chunks, no_whatsapp = %(no_whatsapp)s
FROM (SELECT COALESCE(sum(payments), 0) AS selected,
             COALESCE(sum(payments) FILTER (WHERE chunk > 0), 0) AS enqueued,
             COALESCE(sum(payments) FILTER (WHERE chunk = 0), 0) AS not_placed,
             COALESCE(sum(zone_fallback), 0) AS zone_fallback,
             count(*) FILTER (WHERE chunk > 0) AS chunks
      FROM reminder_stage_chunk WHERE {_KEY}) AS c
WHERE s.selection_id = %(selection_id)s
RETURNING s.selected, s.enqueued, s.not_placed, s.zone_fallback, s.no_whatsapp, s.chunks, s.chunk_size, s.capacity
"""
CHUNK_ROWS_SQL = f"""
SELECT chunk, rows FROM reminder_stage_chunk
WHERE {_KEY} AND chunk > 0 AND NOT (chunk = ANY(%(done)s))
ORDER BY chunk
"""
SELECTED_IDS_SQL = f"SELECT unnest(payment_ids) FROM reminder_stage_chunk WHERE {_KEY}"
PURGE_SQL = "DELETE FROM reminder_stage_selection WHERE business_date < %(run_date)s - %(days)s::integer"
NO_WHATSAPP_SQL = (f"WITH sel AS (\n{T3_SELECTION_SQL}\n)\n"
                   "SELECT count(*) FROM sel WHERE NOT (is_whatsapp AND has_whatsapp_1) AND NOT is_whatsapp_blasted")


@dataclass(frozen=True)
class SealedSelection:
    counts: dict[str, int]
    chunks: int
    chunk_size: int
    capacity: int
    fresh: bool  # selected now (False: an earlier delivery of this attempt sealed it)


def _key(run: StageRun, selection_id: str) -> dict[str, Any]:
    return {"selection_id": selection_id, "run_zone": run.zone.name, "run_date": run.business_date,
            "run_stage": str(run.stage), "run_attempt": run.attempt}


def _sealed(row: Any, fresh: bool) -> SealedSelection:
    counts = dict(zip(COUNT_FIELDS, (int(v) for v in row[:5]), strict=True))
    return SealedSelection(counts, int(row[5]), int(row[6]), int(row[7]), fresh)


def seal(conn: psycopg2.extensions.connection, run: StageRun, selection_id: str, *, capacity: int,
         chunk_size: int, spread: int = 1, min_chunk: int = 1, due_dates: Sequence[date] | None = None,
         whatsapp_failed: Sequence[int] = ()) -> SealedSelection:
    """The attempt's selection ``selection_id``: selected, cut into chunks and committed now, or the one
    sealed before. ``due_dates``: the due dates the day covers (the contact policy's plan; default T-3);
    ``whatsapp_failed`` (the SMS stage): the payments whose WhatsApp message failed."""
    key = _key(run, selection_id)
    with conn.cursor() as cur:
        cur.execute(INSERT_HEADER_SQL, {**key, "chunk_size": chunk_size, "capacity": capacity})
        if cur.fetchone() is None:
            cur.execute(READ_HEADER_SQL, key)
            row = cur.fetchone()
            conn.commit()
            if row is None:  # purged between the two statements: nothing sealed to re-use
                raise RuntimeError(f"stage selection of {run.ids()} vanished")
            return _sealed(row, fresh=False)
        if run.stage is Stage.ROBOCALL_1:
            cur.execute(PURGE_SQL, {**key, "days": SELECTION_RETENTION_DAYS})
        params = selection_params(run.zone, run.business_date,
                                  only_unsuccessful_robocall=run.stage is not Stage.ROBOCALL_1,
                                  for_whatsapp=run.stage is Stage.WHATSAPP, due_dates=due_dates,
                                  for_sms=run.stage is Stage.SMS, whatsapp_failed=whatsapp_failed)
        params.update(key, capacity=capacity, chunk_size=chunk_size, spread=max(1, spread), min_chunk=min_chunk)
        chunks_sql = f"WITH sel AS (\n{T3_SELECTION_SQL}\n),\n{STAGE_CHUNKS_SQL}"
        cur.execute(INSERT_CHUNKS_SQL.format(chunks_sql=chunks_sql), params)
        no_whatsapp = 0
        if run.stage is Stage.WHATSAPP:  # failed every robocall but have no WhatsApp: skipped, counted
            cur.execute(NO_WHATSAPP_SQL, selection_params(run.zone, run.business_date,
                                                          only_unsuccessful_robocall=True, due_dates=due_dates))
            (no_whatsapp,) = db.one(cur)
        cur.execute(COUNT_SQL, {**key, "no_whatsapp": int(no_whatsapp)})
        row = db.one(cur)
    conn.commit()
    return _sealed(row, fresh=True)


def chunk_bodies(conn: psycopg2.extensions.connection, run: StageRun, selection_id: str,
                 done: frozenset[str] = frozenset()) -> Iterator[dict[str, Any]]:
    """The sealed chunks of ``run``'s attempt as dispatch messages, but those in ``done`` (chunk ids)."""
    prefix = f"{run.attempt}-"
    done_numbers = [int(c[len(prefix):]) for c in done if c.startswith(prefix) and c[len(prefix):].isdigit()]
    with conn.cursor(name=f"sealed_{uuid.uuid4().hex[:12]}") as cur:
        cur.itersize = 10
        cur.execute(CHUNK_ROWS_SQL, {**_key(run, selection_id), "done": done_numbers})
        for number, rows in cur:
            yield chunk_body(run, f"{run.attempt}-{number}", rows or "[]")
    conn.commit()


def selected_ids(conn: psycopg2.extensions.connection, selection_id: str) -> set[int]:
    """Every payment id the selection holds (the over-capacity ones included)."""
    with conn.cursor() as cur:
        cur.execute(SELECTED_IDS_SQL, {"selection_id": selection_id})
        ids = {int(i) for (i,) in cur.fetchall()}
    conn.commit()
    return ids

