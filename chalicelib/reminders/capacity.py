"""Can a stage place its calls before the next slot?

capacity = floor(seconds in the stage window × planned calls per second × headroom).
The window runs from the stage's slot (or from now, if the stage starts late within its
window) to the next slot; a replayed past day or a future day uses the whole nominal window.
When more payments are selected than fit, they are dispatched in priority order —
**highest amount due first, then oldest payment id** — and the rest are reported as
``not_placed`` in the stage summary; a wave never runs into the next one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime

from chalicelib import config
from chalicelib.reminders.stages import Channel, Stage, slot_utc, window_end_utc
from chalicelib.zones import Zone


@dataclass(frozen=True)
class CapacityPlan:
    calls_per_second: float
    window_seconds: int
    capacity: int


def planned_rate(channel: Channel) -> float:
    """Calls per second to plan with: the provider's rate unless a planning override is set."""
    if channel is Channel.ROBOCALL:
        rate = config.env_float("CALLS_PER_SECOND", 1.0)
        return config.env_float("VOICE_PLANNED_CALLS_PER_SECOND", rate)
    rate = config.env_float("WHATSAPP_MESSAGES_PER_SECOND", 20.0)
    return config.env_float("WHATSAPP_PLANNED_MESSAGES_PER_SECOND", rate)


def plan(zone: Zone, business_date: date, stage: Stage, now: datetime, rate: float | None = None) -> CapacityPlan:
    start, end = slot_utc(zone, business_date, stage), window_end_utc(zone, business_date, stage)
    if start <= now < end:
        start = now
    seconds = max(0, int((end - start).total_seconds()))
    rate = planned_rate(stage.channel) if rate is None else rate
    headroom = config.env_float("REMINDER_CAPACITY_HEADROOM", 0.9)
    return CapacityPlan(rate, seconds, math.floor(seconds * rate * headroom))
