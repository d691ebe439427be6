"""The business clock: an event's time, and the business date it falls on in a zone.

Every scheduled function reads its firing time the same way (EventBridge's ``time``,
``2026-11-20T01:00:00Z``) and turns it into a zone's business date with ``zones.local_date``
(the only "local date of an instant" in the code base). An explicit ``business_date`` in the
event (replays, the demo) wins over the firing time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from chalicelib.business_date import parse_date
from chalicelib.zones import Zone, local_date


def parse_instant(text: str) -> datetime:
    """An RFC 3339 instant (``Z`` or an offset); a naive time is refused, never guessed."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"expected an ISO 8601 time with Z or an offset, got {text!r}") from exc
    if value.tzinfo is None:
        raise ValueError(f"time needs a zone offset or Z: {text!r}")
    return value.astimezone(UTC)


def event_time(event: Mapping[str, Any], now: datetime | None = None) -> datetime:
    """When the schedule fired (the event's ``time``), or ``now`` for a hand-made invocation."""
    fired = event.get("time")
    if fired:
        return parse_instant(str(fired))
    return (now or datetime.now(UTC)).astimezone(UTC)


def business_date(event: Mapping[str, Any], zone: Zone, now: datetime | None = None) -> date:
    """The event's ``business_date`` if given, else ``zone``'s local date when the schedule fired."""
    given = event.get("business_date")
    if given:
        return parse_date(str(given))
    return local_date(zone, event_time(event, now))
