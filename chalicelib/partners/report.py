"""The partner report: one row per application of the partner, with the summary's figures.

Rows come in ``(cdate, application_id)`` order, newest first unless asked for oldest first (as the
seed's Report View lists them), a page at a time (keyset cursor). Names and emails are masked:
funders do not need borrower PII. Deleted applications are left out, and
Σ of every row's figures = the summary (whose rollup leaves them out too).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import psycopg2.extensions

from chalicelib import paging
from chalicelib.csv_cells import safe_mapping
from chalicelib.partners.figures import Figures
from chalicelib.partners.masking import mask_email, mask_name
from chalicelib.statuses import APPLICATION_STATUS_LABELS
from chalicelib.zones import Zone

_REPORT_PAGE_TEMPLATE = (Path(__file__).with_name("sql") / "report_page.sql").read_text()
ORDERS = ("newest", "oldest")
DEFAULT_ORDER = "newest"
# the page query per order: walk the (partner_id, cdate, application_id) index backwards or forwards
REPORT_PAGE_SQL = {
    "newest": _REPORT_PAGE_TEMPLATE.format(direction="DESC", after="<"),
    "oldest": _REPORT_PAGE_TEMPLATE.format(direction="ASC", after=">"),
}
MAX_LIMIT = 500
DEFAULT_LIMIT = 100
# `from` / `to` are business dates in Jakarta time (WIB), like every date the lender reports.
REPORT_DATE_ZONE = Zone.WIB

CSV_COLUMNS = (
    "application_xid", "cdate", "status", "status_code", "loan_purpose", "credit_grade", "loan_amount",
    "loan_duration", "disbursement", "outstanding", "repayment", "principal", "interest", "late_fee", "fee",
    "net_profit", "fullname", "email",
)


@dataclass(frozen=True)
class ReportQuery:
    partner_id: int
    limit: int = DEFAULT_LIMIT
    after: paging.Position | None = None
    from_date: date | None = None
    to_date: date | None = None
    status: int | None = None
    order: str = DEFAULT_ORDER


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=REPORT_DATE_ZONE.tzinfo)


def report_page(conn: psycopg2.extensions.connection, query: ReportQuery) -> paging.Page:
    params = {
        "partner_id": query.partner_id,
        "after_cdate": query.after.cdate if query.after else None,
        "after_id": query.after.application_id if query.after else None,
        "from_ts": _day_start(query.from_date) if query.from_date else None,
        "to_ts": _day_start(query.to_date + timedelta(days=1)) if query.to_date else None,
        "status": query.status,
    }
    return paging.fetch_page(conn, REPORT_PAGE_SQL[query.order], params, query.limit, _row)


def _row(record: dict[str, Any]) -> dict[str, Any]:
    figures = Figures.from_record(record)
    code = record["application_status_code"]
    return {
        "application_xid": record["application_xid"],
        "cdate": record["cdate"].isoformat(),
        "status": APPLICATION_STATUS_LABELS.get(code, f"Status {code}"),
        "status_code": code,
        "loan_purpose": record["loan_purpose"],
        "credit_grade": record["credit_grade"],
        "loan_amount": None if record["loan_amount"] is None else int(record["loan_amount"]),
        "loan_duration": record["loan_duration"],
        **figures.as_dict(),
        "fullname": mask_name(record["fullname"]),
        "email": mask_email(record["email"]),
    }


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(safe_mapping(row) for row in rows)  # formulas neutralised (CSV injection)
    return out.getvalue()
