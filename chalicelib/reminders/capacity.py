"""Can a stage place its calls before its window closes?

capacity = floor(seconds left in the stage's window × planned calls per second × headroom).
The window is what the contact policy leaves of the stage's nominal window (its slot to the next
slot): clipped to the allowed contact hours, and to *now* for a stage that starts late
(``ContactPolicy.window_left``); nothing left, no capacity. This module only turns that window
into a number of calls: it never compares times itself.
When more payments are selected than fit, they are dispatched in priority order —
**highest amount due first, then oldest payment id** — and the rest are reported as
``not_placed`` in the stage summary; a wave never runs into the next one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from chalicelib.reminders.provider_rate import RateContract
from chalicelib.reminders.stages import Channel
from chalicelib.settings import StageSettings


@dataclass(frozen=True)
class CapacityPlan:
    calls_per_second: float
    window_seconds: int
    capacity: int


def planned_rate(channel: Channel, settings: StageSettings) -> float:
    """Calls per second to plan with: what the shared provider grid hands out (the contract less its
    headroom, or the concurrent-call limit's pace) unless a planning override is set (not 0)."""
    rate = RateContract.of(channel, settings).send_rate
    if channel is Channel.ROBOCALL:
        return settings.planned_calls_per_second or rate
    if channel is Channel.SMS:
        return settings.planned_sms_per_second or rate
    return settings.planned_messages_per_second or rate


def plan(window: tuple[datetime, datetime] | None, channel: Channel, settings: StageSettings,
         rate: float | None = None) -> CapacityPlan:
    """The capacity of ``window`` (the policy's ``window_left``; None: nothing left) for ``channel``."""
    seconds = 0 if window is None else max(0, int((window[1] - window[0]).total_seconds()))
    rate = planned_rate(channel, settings) if rate is None else rate
    return CapacityPlan(rate, seconds, math.floor(seconds * rate * settings.capacity_headroom))
