-- SMS opt-out (issue 23): a borrower who texts an opt-out keyword (BERHENTI, STOP...) to our Vonage
-- number is opted out of SMS, as an inbound WhatsApp keyword opts out of WhatsApp (0501).
-- contact_preference gains the channel 'sms' ('allowed' | 'opted_out', set by the inbound SMS or by
-- staff) and the source 'sms_inbound'. The check constraints are dropped and added again under
-- names of their own (0501 left them unnamed).
DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT conname FROM pg_constraint
             WHERE conrelid = 'contact_preference'::regclass AND contype = 'c' LOOP
        EXECUTE format('ALTER TABLE contact_preference DROP CONSTRAINT %I', c.conname);
    END LOOP;
END $$;

ALTER TABLE contact_preference
    ADD CONSTRAINT contact_preference_phone_digits CHECK (phone ~ '^[0-9]{8,15}$'),
    ADD CONSTRAINT contact_preference_channel_known CHECK (channel IN ('whatsapp', 'calls', 'sms')),
    ADD CONSTRAINT contact_preference_state_known CHECK (state IN ('allowed', 'opted_out', 'ignored')),
    ADD CONSTRAINT contact_preference_source_known CHECK (source IN ('whatsapp_inbound', 'sms_inbound', 'staff')),
    ADD CONSTRAINT contact_preference_state_of_channel CHECK (
        (channel IN ('whatsapp', 'sms') AND state IN ('allowed', 'opted_out'))
        OR (channel = 'calls' AND state IN ('allowed', 'ignored')));

-- Inbound SMS (Vonage SMS API inbound webhook, signed): one row per Vonage messageId (a redelivered
-- webhook changes nothing). An opt-out keyword that changed the number's SMS state gets exactly one
-- confirmation SMS: reply_state 'pending' -> 'sending' (claimed by the SMS dispatch function) ->
-- 'sent' | 'uncertain' (maybe sent: never again) | 'failed' (refused for good); back to 'pending'
-- when Vonage said nothing was sent. reply_id is the confirmation's Vonage message id.
CREATE TABLE IF NOT EXISTS sms_inbound (
    message_id    TEXT PRIMARY KEY,
    phone         TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('opt_out', 'other')),
    body          TEXT,
    sent_at       TIMESTAMPTZ,            -- Vonage's message-timestamp
    received_at   TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    reply_state   TEXT CHECK (reply_state IN ('pending', 'sending', 'sent', 'uncertain', 'failed')),
    reply_id      TEXT,
    reply_error   TEXT,
    replied_at    TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS sms_inbound_phone_idx ON sms_inbound (phone, received_at);
