"""Run the daily report: settings -> streamed query -> .xlsx -> Slack (at most once per date).

Names, emails and phone numbers are masked in the file unless the setting ``show_full_names`` is on. With no
stuck application nothing is posted, unless ``post_all_clear`` asks for one "all clear" line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import psycopg2.extensions

from chalicelib.logs import get_logger
from chalicelib.partners.masking import mask_email, mask_name, mask_phone
from chalicelib.stuck_disbursements.columns import load_settings
from chalicelib.stuck_disbursements.posting import Poster, post_all_clear_once, post_file_once
from chalicelib.stuck_disbursements.query import iter_stuck
from chalicelib.stuck_disbursements.xlsx import write_report

logger = get_logger("stuck-disbursement-report")


@dataclass(frozen=True)
class ReportResult:
    report_date: date
    rows: int
    path: Path
    slack_file_id: str | None
    slack: str = "not_posted"  # posted | already_posted | in_progress | maybe_posted | not_posted | nothing_to_post


def report_filename(report_date: date) -> str:
    return f"pending_disbursements_{report_date.isoformat()}.xlsx"


def all_clear_text(report_date: date) -> str:
    return f"All clear: no application stuck at 170/181 with an INITIATED disbursement on {report_date}."


def masked(rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Borrower names, emails and phone numbers masked (names and emails as the partner report shows them)."""
    for row in rows:
        out = dict(row)
        if "fullname" in out:
            out["fullname"] = mask_name(out["fullname"])
        if "email" in out:
            out["email"] = mask_email(out["email"])
        if "mobile_phone_1" in out:
            out["mobile_phone_1"] = mask_phone(out["mobile_phone_1"])
        yield out


def title_and_comment(report_date: date, rows: int) -> tuple[str, str]:
    title = f"Pending disbursements {report_date.isoformat()}"
    if rows == 0:
        return title, all_clear_text(report_date)
    noun = "application" if rows == 1 else "applications"
    return title, (f"{rows:,} {noun} reached 170 (legal agreement signed) or 181 (fund disbursal failed) "
                   f"and their disbursement is still INITIATED, as of {report_date} 09:00 WIB.")


def run_report(
    conn: psycopg2.extensions.connection, report_date: date, out_dir: Path, slack: Poster | None,
) -> ReportResult:
    settings = load_settings(conn)
    path = out_dir / report_filename(report_date)
    stuck = iter_stuck(conn, report_date)
    rows = write_report(path, settings.columns, stuck if settings.show_full_names else masked(stuck))
    file_id, outcome = None, "not_posted"
    if slack is not None and settings.active:
        if rows:
            title, comment = title_and_comment(report_date, rows)
            posted = post_file_once(conn, slack, report_date=report_date, channel=settings.channel, path=path,
                                    rows=rows, title=title, comment=comment)
            file_id, outcome = posted.file_id, posted.outcome
        elif settings.post_all_clear:
            outcome = post_all_clear_once(conn, slack, report_date=report_date, channel=settings.channel,
                                          text=all_clear_text(report_date)).outcome
        else:
            outcome = "nothing_to_post"
    logger.info("stuck disbursement report", extra={"report_date": report_date.isoformat(), "rows": rows,
                                                     "slack_file_id": file_id, "slack": outcome,
                                                     "channel": settings.channel})
    return ReportResult(report_date, rows, path, file_id, outcome)
