"""Indonesian time zones and the postal-code → zone mapping.

Indonesian postal codes have five digits; the first two identify the province (or part
of one). Every assigned two-digit prefix is listed in ``POSTCODE_PREFIXES``; a code whose
prefix is not assigned (18, 19, 47-49, 88, 89, 0x) is treated as malformed.

Kalimantan is split: West (78-79) and Central (73-74) Kalimantan are WIB; South (70-72),
East (75-76) and North (77) Kalimantan are WITA.

Fallback: a missing or malformed postal code returns ``None``; callers use
``FALLBACK_ZONE`` (WIB) and count the fallbacks. WIB is chosen because 08:00 WIB is 09:00
WITA and 10:00 WIT: a borrower in an unknown zone is never called before 08:00 local.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from enum import Enum
from zoneinfo import ZoneInfo


class Zone(Enum):
    WIB = "Asia/Jakarta"
    WITA = "Asia/Makassar"
    WIT = "Asia/Jayapura"

    @property
    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.value)

    @property
    def utc_offset_hours(self) -> int:
        return {"WIB": 7, "WITA": 8, "WIT": 9}[self.name]

    @classmethod
    def parse(cls, text: str) -> Zone:
        """Accept a member name (``WITA``) or an IANA name (``Asia/Makassar``)."""
        for zone in cls:
            if text in (zone.name, zone.value):
                return zone
        raise ValueError(f"unknown zone {text!r}; expected one of WIB, WITA, WIT")


FALLBACK_ZONE = Zone.WIB

# prefix -> (zone, region). One row per assigned two-digit prefix.
POSTCODE_PREFIXES: dict[str, tuple[Zone, str]] = {}


def _assign(prefixes: range | tuple[int, ...], zone: Zone, region: str) -> None:
    for p in prefixes:
        POSTCODE_PREFIXES[f"{p:02d}"] = (zone, region)


_assign(range(10, 15), Zone.WIB, "DKI Jakarta")
_assign((15,), Zone.WIB, "Banten (Tangerang)")
_assign((16, 17), Zone.WIB, "Jawa Barat (Bogor, Depok, Bekasi)")
_assign(range(20, 23), Zone.WIB, "Sumatera Utara")
_assign((23, 24), Zone.WIB, "Aceh")
_assign(range(25, 28), Zone.WIB, "Sumatera Barat")
_assign((28,), Zone.WIB, "Riau")
_assign((29,), Zone.WIB, "Kepulauan Riau")
_assign(range(30, 33), Zone.WIB, "Sumatera Selatan")
_assign((33,), Zone.WIB, "Kepulauan Bangka Belitung")
_assign((34, 35), Zone.WIB, "Lampung")
_assign((36, 37), Zone.WIB, "Jambi")
_assign((38, 39), Zone.WIB, "Bengkulu")
_assign((40, 41, 43, 44, 45, 46), Zone.WIB, "Jawa Barat")
_assign((42,), Zone.WIB, "Banten")
_assign(range(50, 55), Zone.WIB, "Jawa Tengah")
_assign((55,), Zone.WIB, "DI Yogyakarta")
_assign(range(56, 60), Zone.WIB, "Jawa Tengah")
_assign(range(60, 70), Zone.WIB, "Jawa Timur")
_assign(range(70, 73), Zone.WITA, "Kalimantan Selatan")
_assign((73, 74), Zone.WIB, "Kalimantan Tengah")
_assign((75, 76), Zone.WITA, "Kalimantan Timur")
_assign((77,), Zone.WITA, "Kalimantan Utara")
_assign((78, 79), Zone.WIB, "Kalimantan Barat")
_assign(range(80, 83), Zone.WITA, "Bali")
_assign((83, 84), Zone.WITA, "Nusa Tenggara Barat")
_assign(range(85, 88), Zone.WITA, "Nusa Tenggara Timur")
_assign((90, 91, 92), Zone.WITA, "Sulawesi Selatan dan Barat")
_assign((93,), Zone.WITA, "Sulawesi Tenggara")
_assign((94,), Zone.WITA, "Sulawesi Tengah")
_assign((95,), Zone.WITA, "Sulawesi Utara")
_assign((96,), Zone.WITA, "Gorontalo")
_assign((97,), Zone.WIT, "Maluku dan Maluku Utara")
_assign((98, 99), Zone.WIT, "Papua")

POSTCODE_RE = re.compile(r"^[0-9]{5}$")


def zone_for_postcode(postcode: str | None) -> Zone | None:
    """The borrower's zone, or None for a missing or malformed postal code."""
    if postcode is None:
        return None
    code = postcode.strip()
    if not POSTCODE_RE.match(code):
        return None
    entry = POSTCODE_PREFIXES.get(code[:2])
    return entry[0] if entry else None


def zone_or_fallback(postcode: str | None) -> tuple[Zone, bool]:
    """(zone, fell_back): the zone to use and whether the fallback was applied."""
    zone = zone_for_postcode(postcode)
    return (zone, False) if zone else (FALLBACK_ZONE, True)


def local_to_utc(zone: Zone, day: date, at: time) -> datetime:
    """The UTC instant of wall-clock time ``at`` on ``day`` in ``zone``."""
    if at.tzinfo is not None:
        raise ValueError("pass a naive wall-clock time; the zone gives the offset")
    return datetime.combine(day, at, tzinfo=zone.tzinfo).astimezone(UTC)


def local_date(zone: Zone, instant: datetime) -> date:
    """The calendar date in ``zone`` at an aware instant."""
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    return instant.astimezone(zone.tzinfo).date()


def utc_cron_for_local(zone: Zone, at: time) -> str:
    """EventBridge cron (UTC) that fires daily at wall-clock ``at`` in ``zone``.

    Indonesia has no DST, so a fixed UTC cron is exact all year.
    """
    hour = (at.hour - zone.utc_offset_hours) % 24
    return f"cron({at.minute} {hour} * * ? *)"
