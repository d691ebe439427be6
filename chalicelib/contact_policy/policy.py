"""The contact policy: asked when a stage is planned, and again just before each call or message.

- ``plan(zone, day)``: may this zone be contacted on ``day``, and which due dates does the day
  cover (the shift rule, ``ContactCalendar.covered_due_dates``)? On a closed day nothing.
- ``window_left(zone, day, start, end, now)``: what is left of a stage's window ``[start, end)``
  once clipped to the allowed hours and to ``now`` (a stage that starts late gets only the rest).
- ``may_send(send, now)``: may this call or message go out at ``now``? The local day must be the
  day it was planned for and a contact day, the local time inside the hours, the number not opted
  out of the channel and, for calls, the loan not marked do-not-call.

Channel-generic: a channel is a name (``robocall``, ``whatsapp``; ``sms`` later) and the only
thing the policy knows about it is whether it is a call (``CALL_CHANNELS``: do-not-call applies).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from chalicelib.contact_policy.calendar import Closed, ContactCalendar
from chalicelib.contact_policy.hours import ContactHours
from chalicelib.contact_policy.reasons import Reason
from chalicelib.zones import Zone

REMINDER_LEAD_DAYS = 3
CALL_CHANNELS = frozenset({"robocall", "voice"})


@dataclass(frozen=True)
class DayPlan:
    zone: Zone
    day: date
    closed: Closed | None
    covers_due_dates: tuple[date, ...]

    @property
    def allowed(self) -> bool:
        return self.closed is None

    @property
    def reason(self) -> str | None:
        return None if self.closed is None else str(self.closed)

    def as_dict(self) -> dict[str, object]:
        """``contact_day`` of the summary: allowed, reason, covers_due_dates."""
        return {"allowed": self.allowed, "reason": self.reason,
                "covers_due_dates": [d.isoformat() for d in self.covers_due_dates]}


@dataclass(frozen=True)
class Send:
    """One call or message about to go out, with what is known about its recipient."""

    zone: Zone
    planned_day: date                       # the business date the stage was planned for
    channel: str
    opted_out: frozenset[str] = frozenset()  # channels the number opted out of (or staff blocked)
    do_not_call: bool = False                # a loan of the contact is marked do-not-call


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: Reason | None
    detail: str
    local: datetime  # ``now`` in the borrower's zone

    @staticmethod
    def yes(local: datetime) -> Decision:
        return Decision(True, None, "", local)


@dataclass(frozen=True)
class ContactPolicy:
    calendar: ContactCalendar = field(default_factory=ContactCalendar)
    hours: ContactHours = field(default_factory=ContactHours)
    lead_days: int = REMINDER_LEAD_DAYS

    def plan(self, zone: Zone, day: date) -> DayPlan:
        return DayPlan(zone, day, self.calendar.closed(day), self.calendar.covered_due_dates(day, self.lead_days))

    def window_left(self, zone: Zone, day: date, start: datetime, end: datetime,
                    now: datetime) -> tuple[datetime, datetime] | None:
        """``[start, end)`` ∩ the allowed hours of ``day`` ∩ ``[now, ∞)``; None when nothing is left
        (or the day is closed)."""
        if not self.calendar.is_contact_day(day):
            return None
        open_at, close_at = self.hours.window_utc(zone, day)
        lo, hi = max(start, open_at, now), min(end, close_at)
        return (lo, hi) if lo < hi else None

    def may_send(self, send: Send, now: datetime) -> Decision:
        local = now.astimezone(send.zone.tzinfo)
        if local.date() != send.planned_day:
            return Decision(False, Reason.NOT_PLANNED_DAY,
                            f"planned for {send.planned_day}, now {local.date()} local", local)
        closed = self.calendar.closed(local.date())
        if closed is not None:
            return Decision(False, closed.reason, str(closed), local)
        if not self.hours.contains(send.zone, now):
            return Decision(False, Reason.OUTSIDE_HOURS,
                            f"{local:%H:%M:%S} local is outside {self.hours.window(send.zone)}", local)
        if send.channel in CALL_CHANNELS and send.do_not_call:
            return Decision(False, Reason.DO_NOT_CALL, "do-not-call", local)
        if send.channel in send.opted_out or (send.channel in CALL_CHANNELS and "calls" in send.opted_out):
            return Decision(False, Reason.OPTED_OUT, f"opted out of {send.channel}", local)
        return Decision.yes(local)

    def inside_hours(self, zone: Zone, start: datetime, end: datetime) -> bool:
        """Whether the window ``[start, end)`` lies inside the allowed hours of its local day in ``zone``."""
        open_at, close_at = self.hours.window_utc(zone, start.astimezone(zone.tzinfo).date())
        return open_at <= start and end <= close_at
