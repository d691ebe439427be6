"""Daily 09:00 WIB (EventBridge ``cron(0 2 * * ? *)``): the stuck-disbursement report to Slack."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from chalicelib.edge.schedule import ScheduleContext, ScheduledHandler
from chalicelib.settings import StuckReportSettings
from chalicelib.stuck_disbursements.report import run_report
from chalicelib.stuck_disbursements.slack import SlackFiles, slack_client
from chalicelib.zones import Zone


def _report(ctx: ScheduleContext[StuckReportSettings]) -> dict[str, Any]:
    out_dir = Path(ctx.settings.report_dir or tempfile.gettempdir())
    slack = SlackFiles(slack_client(ctx.settings.slack_api_url))
    result = run_report(ctx.conn, ctx.business_date(Zone.WIB), out_dir, slack)
    return {"report_date": result.report_date.isoformat(), "rows": result.rows, "file": result.path.name,
            "slack_file_id": result.slack_file_id, "slack": result.slack}


handler = ScheduledHandler("stuck-disbursement-report", _report, settings=StuckReportSettings)
