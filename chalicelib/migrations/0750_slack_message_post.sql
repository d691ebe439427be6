-- One Slack message per (kind, key) at most, whatever retries, duplicates or lost answers happen:
-- the reminder-day report posts one message per zone and business date (kind 'reminder-day', key
-- '<zone>#<date>'). The row is written 'posting' with a marker before chat.postMessage; a run that
-- finds 'posting' asks Slack (conversations.history) whether a message with the marker is in the
-- channel before it posts again (chalicelib/slack_once.py).
CREATE TABLE IF NOT EXISTS slack_message_post (
    kind        text NOT NULL,
    key         text NOT NULL,
    channel     text NOT NULL,
    marker      text NOT NULL,
    status      text NOT NULL CHECK (status IN ('posting', 'posted')),
    message_ts  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    posted_at   timestamptz,
    PRIMARY KEY (kind, key)
);
