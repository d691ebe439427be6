-- Contact preferences per phone number and channel (chalicelib/contact_data/preferences.py):
-- 'whatsapp' is 'allowed' or 'opted_out' (a signed inbound WhatsApp opt-out keyword, or staff);
-- 'calls' is 'allowed' or 'ignored' (staff). A row keeps its last change (cleared = 'allowed'), and
-- every change appends a row to contact_preference_audit (who: staff key or the inbound message;
-- when; why). Phone numbers are international digits (62812...).
CREATE TABLE IF NOT EXISTS contact_preference (
    phone       TEXT NOT NULL CHECK (phone ~ '^[0-9]{8,15}$'),
    channel     TEXT NOT NULL CHECK (channel IN ('whatsapp', 'calls')),
    state       TEXT NOT NULL CHECK (state IN ('allowed', 'opted_out', 'ignored')),
    source      TEXT NOT NULL CHECK (source IN ('whatsapp_inbound', 'staff')),
    reason      TEXT NOT NULL,
    changed_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    changed_by  BIGINT,   -- the staff key; NULL for an inbound opt-out
    PRIMARY KEY (phone, channel),
    CHECK ((channel = 'whatsapp' AND state IN ('allowed', 'opted_out'))
        OR (channel = 'calls' AND state IN ('allowed', 'ignored')))
);

CREATE TABLE IF NOT EXISTS contact_preference_audit (
    audit_id            BIGSERIAL PRIMARY KEY,
    phone               TEXT NOT NULL,
    channel             TEXT NOT NULL,
    before_state        TEXT NOT NULL,
    after_state         TEXT NOT NULL,
    source              TEXT NOT NULL,
    reason              TEXT NOT NULL,
    api_key_id          BIGINT,
    inbound_message_id  TEXT,
    at                  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS contact_preference_audit_phone_idx ON contact_preference_audit (phone, at);

-- Inbound WhatsApp texts (Meta's "messages" webhook): stored for customer service, one row per
-- message id (a redelivered webhook changes nothing). An opt-out keyword that changed the number's
-- state gets exactly one confirmation reply: reply_state 'pending' -> 'sending' (claimed by the
-- dispatch function) -> 'sent' | 'uncertain' (maybe sent: never again) | 'failed' (refused for good);
-- back to 'pending' when the provider said nothing was sent.
CREATE TABLE IF NOT EXISTS whatsapp_inbound (
    message_id    TEXT PRIMARY KEY,
    phone         TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('opt_out', 'other')),
    body          TEXT,
    sent_at       TIMESTAMPTZ,            -- Meta's timestamp of the message
    received_at   TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    reply_state   TEXT CHECK (reply_state IN ('pending', 'sending', 'sent', 'uncertain', 'failed')),
    reply_id      TEXT,
    reply_error   TEXT,
    replied_at    TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS whatsapp_inbound_phone_idx ON whatsapp_inbound (phone, received_at);
