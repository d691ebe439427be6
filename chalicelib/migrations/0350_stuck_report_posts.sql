-- The daily stuck-disbursement report is posted to Slack at most once per report date.
-- file_id is known before the post (files.getUploadURLExternal) and is written first, so a
-- run whose post answer was lost can ask Slack (files.info) instead of posting again.
CREATE TABLE IF NOT EXISTS stuck_report_post (
    report_date date PRIMARY KEY,
    channel     text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('file', 'all_clear')),
    status      text NOT NULL CHECK (status IN ('uploaded', 'posting', 'posted')),
    file_id     text,
    message_ts  text,
    rows        integer NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    posted_at   timestamptz
);
