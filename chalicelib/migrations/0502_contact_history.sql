-- The contact history (chalicelib/contact_data/history.py): every call or message attempt and
-- every contact-policy skip, kept for CONTACT_HISTORY_RETENTION_DAYS (default 730) by the daily
-- purge, long after the DynamoDB ledger's 90 days: the evidence for a complaint handled months
-- later. Append-only: one row per payment, day and stage (the ledger's own rule: a payment is
-- attempted at most once per stage), so a redelivered chunk records nothing twice.
CREATE TABLE IF NOT EXISTS contact_history (
    contact_id     BIGSERIAL PRIMARY KEY,
    payment_id     BIGINT NOT NULL,
    loan_id        BIGINT,
    customer_id    BIGINT,
    phone          TEXT,                  -- the number contacted (international digits)
    channel        TEXT NOT NULL,
    zone           TEXT NOT NULL,
    business_date  DATE NOT NULL,
    stage          TEXT NOT NULL,
    attempt        INTEGER NOT NULL DEFAULT 0,
    at_utc         TIMESTAMPTZ NOT NULL,  -- when the policy was asked / the request went out
    at_local       TIMESTAMP NOT NULL,    -- the same, wall clock in the borrower's zone
    result         TEXT NOT NULL CHECK (result IN ('placed', 'place_failed', 'unknown', 'skipped')),
    reason         TEXT,                  -- the policy's reason code (skipped), or the provider's error
    provider_id    TEXT,
    contact_of     BIGINT,                -- merged: the payment whose contact reminded this one
    recorded_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (payment_id, business_date, stage)
);
CREATE INDEX IF NOT EXISTS contact_history_at_idx ON contact_history (at_utc);
