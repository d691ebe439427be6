-- A reminder stage attempt's selection, sealed before any of its chunks is enqueued: the ids and
-- counts a stage attempt selected, and the chunks it cut them into (chalicelib/reminders/
-- stage_selection.py). Named by the stage record that started the attempt (its selection_id, in
-- DynamoDB): every delivery of that attempt's stage message (one after a crash included) re-uses it
-- instead of selecting again, so the chunks on the queue and the stage's counts always come from one
-- selection. Kept SELECTION_RETENTION_DAYS (7) days.

CREATE TABLE IF NOT EXISTS reminder_stage_selection (
    selection_id    TEXT PRIMARY KEY,
    zone            TEXT NOT NULL,
    business_date   DATE NOT NULL,
    stage           TEXT NOT NULL,
    attempt         INTEGER NOT NULL,
    selected        INTEGER NOT NULL DEFAULT 0,
    enqueued        INTEGER NOT NULL DEFAULT 0,
    not_placed      INTEGER NOT NULL DEFAULT 0,
    zone_fallback   INTEGER NOT NULL DEFAULT 0,
    no_whatsapp     INTEGER NOT NULL DEFAULT 0,
    chunks          INTEGER NOT NULL DEFAULT 0,
    chunk_size      INTEGER NOT NULL,
    capacity        BIGINT NOT NULL,
    sealed_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS reminder_stage_selection_day_idx ON reminder_stage_selection (business_date);

-- chunk 1..n: the dispatch chunks (chunk id "<attempt>-<chunk>"), rows as the chunk carries them;
-- chunk 0: the payments over capacity (not placed), ids only.
CREATE TABLE IF NOT EXISTS reminder_stage_chunk (
    selection_id    TEXT NOT NULL REFERENCES reminder_stage_selection (selection_id) ON DELETE CASCADE,
    chunk           INTEGER NOT NULL CHECK (chunk >= 0),
    payments        INTEGER NOT NULL,
    zone_fallback   INTEGER NOT NULL,
    payment_ids     BIGINT[] NOT NULL,
    rows            TEXT,
    PRIMARY KEY (selection_id, chunk)
);
