"""Daily 09:00 WIB (EventBridge ``cron(0 2 * * ? *)``): the stuck-disbursement report to Slack."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalicelib import config, db
from chalicelib.business_date import parse_date
from chalicelib.stuck_disbursements.report import run_report
from chalicelib.stuck_disbursements.slack import SlackFiles, slack_client
from chalicelib.zones import Zone, local_date


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("business_date"):
        report_date = parse_date(event["business_date"])
    else:
        fired = datetime.fromisoformat(event["time"].replace("Z", "+00:00")) if event.get("time") else None
        report_date = local_date(Zone.WIB, fired or datetime.now(UTC))
    out_dir = Path(config.env_str("REPORT_DIR", tempfile.gettempdir()))
    conn = db.connect()
    try:
        result = run_report(conn, report_date, out_dir, SlackFiles(slack_client()))
    finally:
        conn.close()
    return {"report_date": result.report_date.isoformat(), "rows": result.rows, "file": result.path.name,
            "slack_file_id": result.slack_file_id}
