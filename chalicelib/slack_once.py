"""Post to Slack at most once per report, whatever retries, duplicates and lost answers happen.

The stuck-disbursement report's mechanism (``stuck_disbursements.posting``), generalised:

- ``AdvisoryLock``: a session advisory lock per report; a second run started at the same time
  (EventBridge and SQS deliver at least once) finds it held and posts nothing.
- ``post_message_once``: one message per ``(kind, key)`` (table ``slack_message_post``). The row is
  committed ``posting`` with a marker (a short id that ends the text) *before* ``chat.postMessage``.
  A run that finds ``posted`` posts nothing. A run that finds ``posting`` (the answer was lost: a cut
  connection, a 5xx after the fact, a crash) asks Slack (``conversations.history``) whether a message
  with the marker is in the channel since the row was written, and posts only when it is not.
"""

from __future__ import annotations

import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import psycopg2.extensions

from chalicelib.db import one
from chalicelib.logs import get_logger

logger = get_logger("slack")

TRY_LOCK = "SELECT pg_try_advisory_lock(%s, %s)"
UNLOCK = "SELECT pg_advisory_unlock(%s, %s)"
MESSAGE_NAMESPACE = 2_3000_1  # the advisory lock space of once-only messages (any constant but the stuck report's)
SELECT_MESSAGE = "SELECT status, marker, message_ts, created_at FROM slack_message_post WHERE kind = %s AND key = %s"
RECORD_POSTING = """
INSERT INTO slack_message_post (kind, key, channel, marker, status) VALUES (%s, %s, %s, %s, 'posting')
ON CONFLICT (kind, key) DO UPDATE SET channel = EXCLUDED.channel, marker = EXCLUDED.marker, status = 'posting',
    created_at = now()
RETURNING created_at
"""
MARK_POSTED = """
UPDATE slack_message_post SET status = 'posted', posted_at = now(), message_ts = %s WHERE kind = %s AND key = %s
"""
LOOKBACK_SECONDS = 120  # clock skew between us and Slack when asking for messages since the row was written


class MessagePoster(Protocol):
    def post_message(self, channel: str, text: str) -> str: ...
    def find_message(self, channel: str, marker: str, oldest: float) -> str | None: ...


@dataclass(frozen=True)
class MessageResult:
    outcome: str               # posted | already_posted | in_progress | found_after_lost_answer
    message_ts: str | None = None


class AdvisoryLock:
    """``pg_try_advisory_lock(k1, k2)`` for one block: ``held`` says whether this session got it."""

    def __init__(self, conn: psycopg2.extensions.connection, k1: int, k2: int) -> None:
        self.conn, self.key = conn, (k1, k2)
        self.held = False

    def __enter__(self) -> AdvisoryLock:
        with self.conn.cursor() as cur:
            cur.execute(TRY_LOCK, self.key)
            self.held = bool(one(cur)[0])
        self.conn.commit()
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.held:
            return
        self.conn.rollback()
        with self.conn.cursor() as cur:
            cur.execute(UNLOCK, self.key)
        self.conn.commit()


def _int32(text: str) -> int:
    return zlib.crc32(text.encode()) - 2**31


def marked(text: str, marker: str) -> str:
    return f"{text}\n_ref {marker}_"


def post_message_once(conn: psycopg2.extensions.connection, slack: MessagePoster, *, kind: str, key: str,
                      channel: str, text: str) -> MessageResult:
    """Post ``text`` to ``channel`` unless the ``(kind, key)`` message was posted already (see the module)."""
    with AdvisoryLock(conn, MESSAGE_NAMESPACE, _int32(f"{kind}|{key}")) as lock:
        if not lock.held:
            logger.warning("another run is posting this message", extra={"kind": kind, "key": key})
            return MessageResult("in_progress")
        with conn.cursor() as cur:
            cur.execute(SELECT_MESSAGE, (kind, key))
            row = cur.fetchone()
        conn.commit()
        if row is not None and row[0] == "posted":
            return MessageResult("already_posted", row[2])
        if row is not None:  # 'posting': the last run's answer was lost; did the post happen?
            _status, marker, _ts, since = row
            found = slack.find_message(channel, marker, _epoch(since) - LOOKBACK_SECONDS)
            if found is not None:
                logger.warning("post answer lost; Slack shows the message", extra={"kind": kind, "key": key})
                _mark_posted(conn, kind, key, found)
                return MessageResult("found_after_lost_answer", found)
        marker = uuid.uuid4().hex[:12]
        with conn.cursor() as cur:
            cur.execute(RECORD_POSTING, (kind, key, channel, marker))
        conn.commit()
        ts = slack.post_message(channel, marked(text, marker))
        _mark_posted(conn, kind, key, ts)
        return MessageResult("posted", ts)


def _mark_posted(conn: psycopg2.extensions.connection, kind: str, key: str, ts: str) -> None:
    with conn.cursor() as cur:
        cur.execute(MARK_POSTED, (ts, kind, key))
    conn.commit()


def _epoch(value: datetime) -> float:
    return value.timestamp()
