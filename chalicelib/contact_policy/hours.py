"""The allowed contact hours, in the borrower's local time.

POJK 22/2023 Pasal 62 ayat (2) huruf f: 08:00-20:00 in the consumer's local time; SEOJK 19/2023
(P2P lending) repeats it for the zone of the borrower's address. The setting ``CONTACT_HOURS`` is
``HH:MM-HH:MM`` for every zone, optionally followed by per-zone overrides:
``08:00-20:00,WIT=09:00-20:00``. A window is half-open: 20:00:00 is outside.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from chalicelib.zones import Zone

DEFAULT = "08:00-20:00"
_WINDOW = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


@dataclass(frozen=True, slots=True)
class Window:
    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> Window:
        m = _WINDOW.match(text.strip())
        if not m:
            raise ValueError(f"contact hours must be HH:MM-HH:MM, got {text!r}")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            raise ValueError(f"not a time of day in {text!r}")
        start, end = time(h1, m1), (time.max if h2 == 24 else time(h2, m2))
        if start >= end:
            raise ValueError(f"contact hours must start before they end: {text!r}")
        return cls(start, end)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{'24:00' if self.end == time.max else f'{self.end:%H:%M}'}"


@dataclass(frozen=True)
class ContactHours:
    default: Window = field(default_factory=lambda: Window.parse(DEFAULT))
    zones: Mapping[Zone, Window] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> ContactHours:
        parts = [p.strip() for p in (text or DEFAULT).split(",") if p.strip()]
        if not parts or "=" in parts[0]:
            raise ValueError(f"CONTACT_HOURS must start with the window of every zone: {text!r}")
        zones: dict[Zone, Window] = {}
        for part in parts[1:]:
            name, _, window = part.partition("=")
            try:
                zone = Zone[name.strip()]
            except KeyError as exc:
                raise ValueError(f"unknown zone {name!r} in contact hours (WIB, WITA, WIT)") from exc
            zones[zone] = Window.parse(window)
        return cls(Window.parse(parts[0]), zones)

    def window(self, zone: Zone) -> Window:
        return self.zones.get(zone, self.default)

    def window_utc(self, zone: Zone, day: date) -> tuple[datetime, datetime]:
        """The allowed window of ``day`` in ``zone`` as UTC instants."""
        w = self.window(zone)
        start = datetime.combine(day, w.start, tzinfo=zone.tzinfo)
        end = datetime.combine(day, w.end, tzinfo=zone.tzinfo)
        return start.astimezone(UTC), end.astimezone(UTC)

    def contains(self, zone: Zone, instant: datetime) -> bool:
        w = self.window(zone)
        local = instant.astimezone(zone.tzinfo).time()
        return w.start <= local < w.end if w.end != time.max else w.start <= local
