"""Run the daily report: settings -> streamed query -> .xlsx -> Slack."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psycopg2.extensions

from chalicelib.logs import get_logger
from chalicelib.stuck_disbursements.columns import load_settings
from chalicelib.stuck_disbursements.query import iter_stuck
from chalicelib.stuck_disbursements.slack import SlackFiles
from chalicelib.stuck_disbursements.xlsx import write_report

logger = get_logger("stuck-disbursement-report")


@dataclass(frozen=True)
class ReportResult:
    report_date: date
    rows: int
    path: Path
    slack_file_id: str | None


def report_filename(report_date: date) -> str:
    return f"pending_disbursements_{report_date.isoformat()}.xlsx"


def title_and_comment(report_date: date, rows: int) -> tuple[str, str]:
    title = f"Pending disbursements {report_date.isoformat()}"
    if rows == 0:
        return title, f"No applications stuck at 170/181 with an INITIATED disbursement on {report_date}."
    noun = "application" if rows == 1 else "applications"
    return title, (f"{rows:,} {noun} reached 170 (legal agreement signed) or 181 (fund disbursal failed) "
                   f"and their disbursement is still INITIATED, as of {report_date} 09:00 WIB.")


def run_report(
    conn: psycopg2.extensions.connection, report_date: date, out_dir: Path, slack: SlackFiles | None,
) -> ReportResult:
    settings = load_settings(conn)
    path = out_dir / report_filename(report_date)
    rows = write_report(path, settings.columns, iter_stuck(conn, report_date))
    file_id = None
    if slack is not None and settings.active:
        title, comment = title_and_comment(report_date, rows)
        file_id = slack.post_file(settings.channel, path, title, comment).file_id
    logger.info("stuck disbursement report", extra={"report_date": report_date.isoformat(), "rows": rows,
                                                     "slack_file_id": file_id, "channel": settings.channel})
    return ReportResult(report_date, rows, path, file_id)
