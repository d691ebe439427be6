"""08:00 local, one schedule per zone: start the day's workflow ``t3-<zone>-<date>`` once.

Event: the schedule's constant input ``{"zone": "WITA"}``; ``business_date`` may be given
(replays, the demo), otherwise it is the zone's local date at the firing time.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from chalicelib.business_date import parse_date
from chalicelib.reminders.scheduling import business_date_at, start_day
from chalicelib.zones import Zone


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    zone = Zone.parse(event["zone"])
    if event.get("business_date"):
        business_date = parse_date(event["business_date"])
    else:
        fired = event.get("time")
        at = datetime.strptime(fired, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) if fired else datetime.now(UTC)
        business_date = business_date_at(zone, at)
    return asdict(start_day(zone, business_date))
