-- Disbursement events (SQS): the applied-event log, the newest event time per disbursement,
-- the email outbox (exactly one repayment-calendar email per disbursement), and feature
-- settings (the stuck-disbursement report's columns and Slack channel).

-- One row per event_id ever applied or ignored: a redelivered event finds its row and is a no-op.
CREATE TABLE IF NOT EXISTS disbursement_event (
    event_id            TEXT PRIMARY KEY,
    disbursement_id     BIGINT NOT NULL REFERENCES disbursement (disbursement_id),
    status              TEXT NOT NULL CHECK (status IN ('INITIATED', 'PENDING', 'COMPLETED', 'FAILED')),
    occurred_at         TIMESTAMPTZ NOT NULL,
    outcome             TEXT NOT NULL CHECK (outcome IN ('applied', 'unchanged', 'stale')),
    status_before       TEXT NOT NULL,
    received_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS disbursement_event_disbursement_idx
    ON disbursement_event (disbursement_id, occurred_at);

-- occurred_at of the newest event applied: an older event never moves the status back.
ALTER TABLE disbursement ADD COLUMN IF NOT EXISTS last_event_at TIMESTAMPTZ;

-- Written in the same transaction as the COMPLETED transition; sent_at is set in the
-- transaction that holds the row lock while SES accepts the message.
CREATE TABLE IF NOT EXISTS email_outbox (
    disbursement_id     BIGINT NOT NULL REFERENCES disbursement (disbursement_id),
    kind                TEXT NOT NULL CHECK (kind IN ('repayment_calendar')),
    recipient           TEXT NOT NULL,
    cdate               TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at             TIMESTAMPTZ,
    ses_message_id      TEXT,
    attempts            INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (disbursement_id, kind)
);
CREATE INDEX IF NOT EXISTS email_outbox_unsent_idx ON email_outbox (cdate) WHERE sent_at IS NULL;

-- Feature settings (name -> JSON parameters), as in the lender's back office.
CREATE TABLE IF NOT EXISTS feature_setting (
    feature_name    TEXT PRIMARY KEY,
    is_active       BOOLEAN NOT NULL DEFAULT TRUE,
    parameters      JSONB NOT NULL DEFAULT '{}'::jsonb,
    description     TEXT,
    udate           TIMESTAMPTZ NOT NULL DEFAULT now()
);

INSERT INTO feature_setting (feature_name, parameters, description) VALUES (
    'stuck_disbursement_report',
    '{"channel": "#disbursement-ops",
      "columns": ["application_id", "application_xid", "fullname", "product_line", "bank_name",
                  "application_status", "reached_at", "days_stuck", "loan_amount",
                  "disburse_amount", "retry_times", "disbursement_id"]}'::jsonb,
    'Daily stuck-disbursement report: Slack channel and the columns of the .xlsx, in order'
) ON CONFLICT (feature_name) DO NOTHING;

-- The report's scan: INITIATED disbursements are few, so start from them.
CREATE INDEX IF NOT EXISTS disbursement_initiated_idx ON disbursement (loan_id) WHERE disburse_status = 'INITIATED';
