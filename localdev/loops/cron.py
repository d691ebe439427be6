"""The EventBridge cron subset the manifest uses: ``cron(M H * * ? *)``, a fixed UTC minute and hour
(or ``cron(M * * * ? *)``: every hour at minute M).

Anything else (lists, ranges, steps, a day of month or week, a year) is refused with an error
that says what is supported, so a schedule the local scheduler cannot honour never passes
silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_CRON = re.compile(r"^cron\((?P<body>[^()]*)\)$")
SUPPORTED = "cron(M H * * ? *) or cron(M H ? * * *) with M in 0-59 and H in 0-23 or * (UTC)"


class UnsupportedCron(ValueError):
    """A schedule expression outside the supported subset."""


@dataclass(frozen=True)
class DailyCron:
    """Fires every day at ``hour:minute`` UTC (every hour at ``minute`` when ``hour`` is None)."""

    expression: str
    minute: int
    hour: int | None

    def next_after(self, moment: datetime) -> datetime:
        """The first fire time strictly after ``moment`` (timezone-aware)."""
        if moment.tzinfo is None:
            raise ValueError("moment must be timezone-aware")
        utc = moment.astimezone(UTC)
        if self.hour is None:
            candidate = utc.replace(minute=self.minute, second=0, microsecond=0)
            return candidate if candidate > utc else candidate + timedelta(hours=1)
        candidate = utc.replace(hour=self.hour, minute=self.minute, second=0, microsecond=0)
        if candidate <= utc:
            candidate += timedelta(days=1)
        return candidate

    def fires_between(self, start: datetime, end: datetime) -> list[datetime]:
        """Fire times in the half-open interval (start, end]."""
        times = []
        t = self.next_after(start)
        while t <= end:
            times.append(t)
            t = self.next_after(t)
        return times


def _field(value: str, low: int, high: int, what: str, expression: str) -> int:
    if not value.isdigit() or not low <= int(value) <= high:
        raise UnsupportedCron(f"{expression!r}: {what} must be a number {low}-{high}; supported: {SUPPORTED}")
    return int(value)


def parse(expression: str) -> DailyCron:
    match = _CRON.match(expression.strip())
    if not match:
        raise UnsupportedCron(f"{expression!r} is not a cron(...) expression; supported: {SUPPORTED}")
    fields = match.group("body").split()
    if len(fields) != 6:
        raise UnsupportedCron(f"{expression!r} has {len(fields)} fields, cron() needs 6; supported: {SUPPORTED}")
    minute, hour, day, month, weekday, year = fields
    if (day, month, weekday, year) not in {("*", "*", "?", "*"), ("?", "*", "*", "*")}:
        raise UnsupportedCron(f"{expression!r}: only daily schedules are supported; supported: {SUPPORTED}")
    return DailyCron(expression, _field(minute, 0, 59, "minute", expression),
                     None if hour == "*" else _field(hour, 0, 23, "hour", expression))
