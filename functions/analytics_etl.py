"""Daily analytics ETL (EventBridge schedule): refresh the order analytics incrementally.

The batch time is the schedule's ``time`` (UTC); RFM recency counts days up to its WIB date.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib import db
from chalicelib.analytics.etl import batch_date, parse_batch_time, run_etl


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    batch_time = parse_batch_time(event["time"]) if event.get("time") else datetime.now(UTC)
    conn = db.connect()
    try:
        result = run_etl(conn, batch_time, full=bool(event.get("full")))
    finally:
        conn.close()
    return {"mode": result.mode, "as_of": batch_date(batch_time).isoformat(),
            "groups_refreshed": result.groups_refreshed, "users_scored": result.users_scored}
