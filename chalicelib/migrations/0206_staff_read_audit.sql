-- Audit log of staff reads (CRM, push-notification catalogue, analytics): one row per
-- authorised request, written by the @staff_route decorator before the read runs.
CREATE TABLE IF NOT EXISTS staff_read_audit (
    audit_id    BIGSERIAL PRIMARY KEY,
    api_key_id  BIGINT NOT NULL REFERENCES partner_api_key (api_key_id),
    route       TEXT NOT NULL,
    parameters  JSONB NOT NULL DEFAULT '{}'::jsonb,
    read_at     TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS staff_read_audit_key_time_idx ON staff_read_audit (api_key_id, read_at);
