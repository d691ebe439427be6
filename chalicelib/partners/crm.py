"""The staff CRM list: applications with status, partner and (Bukalapak) ``invoice_id``, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg2.extensions
import psycopg2.extras

from chalicelib.partners import cursors
from chalicelib.statuses import APPLICATION_STATUS_LABELS

CRM_APPLICATIONS_SQL = (Path(__file__).with_name("sql") / "crm_applications.sql").read_text()
MAX_LIMIT = 500
DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class CrmQuery:
    limit: int = DEFAULT_LIMIT
    before: cursors.Position | None = None
    partner_id: int | None = None
    status: int | None = None


@dataclass(frozen=True)
class CrmPage:
    rows: list[dict[str, Any]]
    next_cursor: str | None


def crm_applications(conn: psycopg2.extensions.connection, query: CrmQuery) -> CrmPage:
    params = {
        "partner_id": query.partner_id,
        "status": query.status,
        "before_cdate": query.before.cdate if query.before else None,
        "before_id": query.before.application_id if query.before else None,
        "limit": query.limit + 1,
    }
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute(CRM_APPLICATIONS_SQL, params)
        records = cur.fetchall()
    more = len(records) > query.limit
    records = records[: query.limit]
    next_cursor = None
    if more:
        last = records[-1]
        next_cursor = cursors.encode(cursors.Position(last["cdate"], last["application_id"]))
    return CrmPage([_row(r) for r in records], next_cursor)


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
