"""08:00 local, one schedule per zone: start the day's workflow ``t3-<zone>-<date>`` once.

Event: the schedule's constant input ``{"zone": "WITA"}``; ``business_date`` may be given
(replays, the demo), otherwise it is the zone's local date at the firing time.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from chalicelib.edge.schedule import ScheduleContext, ScheduledHandler
from chalicelib.reminders.scheduling import start_day
from chalicelib.settings import ScheduleSettings
from chalicelib.zones import Zone


def _start(ctx: ScheduleContext[ScheduleSettings]) -> dict[str, Any]:
    zone = Zone.parse(ctx.event["zone"])
    return asdict(start_day(zone, ctx.business_date(zone)))


handler = ScheduledHandler("reminder-schedule", _start, settings=ScheduleSettings)
