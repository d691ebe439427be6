"""The staff CRM list: applications with status, partner and (Bukalapak) ``invoice_id``, newest first.

Deleted applications are never listed. ``invoice_id`` finds the application of one Bukalapak
invoice (exact match, index ``application_invoice_id_idx``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg2.extensions

from chalicelib import paging
from chalicelib.statuses import APPLICATION_STATUS_LABELS

CRM_APPLICATIONS_SQL = (Path(__file__).with_name("sql") / "crm_applications.sql").read_text()
MAX_LIMIT = 500
DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class CrmQuery:
    limit: int = DEFAULT_LIMIT
    before: paging.Position | None = None
    partner_id: int | None = None
    status: int | None = None
    invoice_id: str | None = None


def crm_applications(conn: psycopg2.extensions.connection, query: CrmQuery) -> paging.Page:
    params = {
        "partner_id": query.partner_id,
        "status": query.status,
        "invoice_id": query.invoice_id,
        "before_cdate": query.before.cdate if query.before else None,
        "before_id": query.before.application_id if query.before else None,
    }
    return paging.fetch_page(conn, CRM_APPLICATIONS_SQL, params, query.limit, _row)


def _row(record: dict[str, Any]) -> dict[str, Any]:
    code = record["application_status_code"]
    cdate: datetime = record["cdate"]
    return {
        "application_id": record["application_id"],
        "application_xid": record["application_xid"],
        "partner_id": record["partner_id"],
        "partner_name": record["partner_name"],
        "status": APPLICATION_STATUS_LABELS.get(code, f"Status {code}"),
        "status_code": code,
        "invoice_id": record["invoice_id"],
        "product_line_code": record["product_line_code"],
        "cdate": cdate.isoformat(),
    }
