"""Post the day's report to Slack at most once per report date, recorded in ``stuck_report_post``.

- A session advisory lock per report date: a second run started at the same time (EventBridge
  delivers at least once) finds it held and posts nothing.
- A row already ``posted`` for the date: nothing is posted again; its file id is returned.
- The file id is committed *before* the post (``uploaded``). If the post's answer is lost (cut
  connection, 5xx after the fact, a crash), the next attempt asks Slack whether the file is
  shared in the channel (``files.info``) and only completes the upload when it is not.
- The "all clear" line has no such question to ask Slack: its row is committed as ``posting``
  before the call, and a run that finds ``posting`` does not post it again (at most once).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol

import psycopg2.extensions

from chalicelib.logs import get_logger
from chalicelib.slack_once import AdvisoryLock
from chalicelib.stuck_disbursements.slack import SlackAuthError

logger = get_logger("stuck-disbursement-report")

LOCK_NAMESPACE = 1_7018_1  # any constant: the report's advisory lock space (170/181)
SELECT_POST = "SELECT kind, status, file_id, message_ts FROM stuck_report_post WHERE report_date = %s"
RECORD_UPLOADED = """
INSERT INTO stuck_report_post (report_date, channel, kind, status, file_id, rows)
VALUES (%(report_date)s, %(channel)s, 'file', 'uploaded', %(file_id)s, %(rows)s)
ON CONFLICT (report_date) DO UPDATE SET channel = EXCLUDED.channel, kind = 'file', status = 'uploaded',
    file_id = EXCLUDED.file_id, rows = EXCLUDED.rows
"""
RECORD_POSTING_ALL_CLEAR = """
INSERT INTO stuck_report_post (report_date, channel, kind, status, rows)
VALUES (%(report_date)s, %(channel)s, 'all_clear', 'posting', 0)
"""
MARK_POSTED = """
UPDATE stuck_report_post SET status = 'posted', posted_at = now(), message_ts = coalesce(%(ts)s, message_ts)
WHERE report_date = %(report_date)s
"""


class Poster(Protocol):
    def upload(self, path: Path, filename: str) -> str: ...
    def share(self, file_id: str, channel: str, title: str, comment: str) -> None: ...
    def is_shared(self, file_id: str, channel: str) -> bool: ...
    def post_message(self, channel: str, text: str) -> str: ...


@dataclass(frozen=True)
class PostResult:
    outcome: str           # posted | already_posted | in_progress | maybe_posted
    file_id: str | None = None


def _lock_key(report_date: date) -> tuple[int, int]:
    return LOCK_NAMESPACE, report_date.toordinal()


PostRow = tuple[str, str, str | None, str | None]  # kind, status, file_id, message_ts


def _existing(conn: psycopg2.extensions.connection, report_date: date) -> PostRow | None:
    with conn.cursor() as cur:
        cur.execute(SELECT_POST, (report_date,))
        row = cur.fetchone()
    conn.commit()
    return row


def _execute(conn: psycopg2.extensions.connection, sql: str, params: dict[str, object]) -> None:
    with conn.cursor() as cur:
        cur.execute(sql, params)
    conn.commit()


class _DateLock(AdvisoryLock):
    """The report date's advisory lock (``chalicelib.slack_once.AdvisoryLock``)."""

    def __init__(self, conn: psycopg2.extensions.connection, report_date: date) -> None:
        super().__init__(conn, *_lock_key(report_date))


def post_file_once(conn: psycopg2.extensions.connection, slack: Poster, *, report_date: date, channel: str,
                   path: Path, rows: int, title: str, comment: str) -> PostResult:
    with _DateLock(conn, report_date) as lock:
        if not lock.held:
            logger.warning("another run is posting this report date", extra={"report_date": str(report_date)})
            return PostResult("in_progress")
        existing = _existing(conn, report_date)
        if existing is not None and existing[1] == "posted":
            return PostResult("already_posted", existing[2])
        if existing is not None and existing[0] == "all_clear":
            return PostResult("maybe_posted")
        previous = existing[2] if existing is not None else None
        if previous is not None and _share_checked(slack, previous, channel, title, comment, fresh=False):
            _execute(conn, MARK_POSTED, {"report_date": report_date, "ts": None})
            return PostResult("posted", previous)
        file_id = slack.upload(path, path.name)
        _execute(conn, RECORD_UPLOADED, {"report_date": report_date, "channel": channel, "file_id": file_id,
                                         "rows": rows})
        _share_checked(slack, file_id, channel, title, comment, fresh=True)
        _execute(conn, MARK_POSTED, {"report_date": report_date, "ts": None})
        return PostResult("posted", file_id)


def _share_checked(slack: Poster, file_id: str, channel: str, title: str, comment: str, *, fresh: bool) -> bool:
    """Share ``file_id`` unless Slack already shows it in ``channel``; True once it is shared.

    A file left by an earlier run is asked about first. If sharing it fails and Slack does not show
    it shared, False: the caller uploads a new file (the old one may be gone). For a fresh file the
    failure is raised: the file id is recorded and the next run picks up from there.
    """
    if not fresh and slack.is_shared(file_id, channel):
        return True
    try:
        slack.share(file_id, channel, title, comment)
    except SlackAuthError:
        raise
    except Exception:
        # the answer may be lost after Slack shared it: ask before anyone tries again
        if slack.is_shared(file_id, channel):
            logger.warning("post answer lost; Slack shows the file shared", extra={"file_id": file_id})
            return True
        if fresh:
            raise
        logger.warning("earlier upload could not be shared; uploading again", extra={"file_id": file_id})
        return False
    return True


def post_all_clear_once(conn: psycopg2.extensions.connection, slack: Poster, *, report_date: date,
                        channel: str, text: str) -> PostResult:
    with _DateLock(conn, report_date) as lock:
        if not lock.held:
            return PostResult("in_progress")
        existing = _existing(conn, report_date)
        if existing is not None:
            return PostResult("already_posted" if existing[1] == "posted" else "maybe_posted", existing[2])
        _execute(conn, RECORD_POSTING_ALL_CLEAR, {"report_date": report_date, "channel": channel})
        ts = slack.post_message(channel, text)
        _execute(conn, MARK_POSTED, {"report_date": report_date, "ts": ts})
        return PostResult("posted")
