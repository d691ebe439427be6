"""Daily analytics ETL (EventBridge schedule): refresh the order analytics incrementally.

The batch time is the schedule's ``time`` (UTC); RFM recency counts days up to its WIB date.
"""

from __future__ import annotations

from typing import Any

from chalicelib.analytics.etl import batch_date, run_etl
from chalicelib.edge.schedule import ScheduleContext, ScheduledHandler
from chalicelib.settings import AnalyticsSettings


def _etl(ctx: ScheduleContext[AnalyticsSettings]) -> dict[str, Any]:
    result = run_etl(ctx.conn, ctx.fired_at, full=bool(ctx.event.get("full")))
    return {"mode": result.mode, "as_of": batch_date(ctx.fired_at).isoformat(),
            "groups_refreshed": result.groups_refreshed, "users_scored": result.users_scored}


handler = ScheduledHandler("analytics-etl", _etl, settings=AnalyticsSettings)
