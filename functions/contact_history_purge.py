"""Daily (EventBridge schedule): delete the contact history older than CONTACT_HISTORY_RETENTION_DAYS.

The cut-off is the schedule's firing time minus the retention; rows go in batches, each its own
transaction, so a long purge never holds a lock on the table for long.
"""

from __future__ import annotations

from typing import Any

from chalicelib.contact_data.history import purge
from chalicelib.edge.schedule import ScheduleContext, ScheduledHandler
from chalicelib.settings import ContactHistorySettings


def _purge(ctx: ScheduleContext[ContactHistorySettings]) -> dict[str, Any]:
    deleted = purge(ctx.conn, ctx.settings.retention_days, now=ctx.fired_at)
    return {"deleted": deleted, "retention_days": ctx.settings.retention_days}


handler = ScheduledHandler("contact-history-purge", _purge, settings=ContactHistorySettings)
