"""The clock the contact policy is asked with: injected, so tests, the chaos suite and a replayed
day drive it.

``Clock.now(scene, nominal)``: the current instant, for an activity (``scene``: e.g. one stage of
one zone's day) that is scheduled at ``nominal``. Deployed it is the system clock and ignores both.

``ReplayClock`` (local runs only: ``CONTACT_CLOCK=replay:<file>``) replays a past day as it would
have run: each scene starts at its nominal instant the first time anyone asks about it, and its
time then runs with the real clock (times ``rate``). Scenes are kept in a JSON file shared by every
local function container (a file lock serialises them); a test may put a scene's anchor there first
(``ReplayClock.anchor``) to start it elsewhere, e.g. at 19:50 local, or faster than real time.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

REPLAY_PREFIX = "replay:"


class Clock(Protocol):
    def now(self, scene: str, nominal: datetime) -> datetime: ...


class SystemClock:
    def now(self, scene: str, nominal: datetime) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class FixedClock:
    """Always the same instant (unit tests)."""

    at: datetime

    def now(self, scene: str, nominal: datetime) -> datetime:
        return self.at


@dataclass(frozen=True, slots=True)
class Anchor:
    at: datetime   # the simulated instant ...
    real: float    # ... at this real time (time.time())
    rate: float = 1.0

    def simulated(self, real: float) -> datetime:
        return self.at + timedelta(seconds=(real - self.real) * self.rate)


class ReplayClock:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                state = json.loads(self.path.read_text()) if self.path.exists() else {}
            except ValueError:
                state = {}
            before = dict(state)
            yield state
            if state != before:
                tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(state))
                tmp.replace(self.path)

    @staticmethod
    def _parse(raw: dict[str, Any]) -> Anchor:
        return Anchor(datetime.fromisoformat(raw["at"]), float(raw["real"]), float(raw.get("rate", 1.0)))

    def anchor(self, scene: str, at: datetime, *, rate: float = 1.0, real: float | None = None) -> Anchor:
        """Start ``scene`` at simulated instant ``at`` now (or at real time ``real``), running ``rate`` times
        as fast as the real clock."""
        if at.tzinfo is None:
            raise ValueError("anchor instant must be timezone-aware")
        made = Anchor(at.astimezone(UTC), time.time() if real is None else real, rate)
        with self._locked() as state:
            state[scene] = {"at": made.at.isoformat(), "real": made.real, "rate": made.rate}
        return made

    def scene(self, scene: str) -> Anchor | None:
        with self._locked() as state:
            raw = state.get(scene)
        return self._parse(raw) if raw else None

    def now(self, scene: str, nominal: datetime) -> datetime:
        real = time.time()
        with self._locked() as state:
            raw = state.get(scene)
            if raw is None:
                raw = state[scene] = {"at": nominal.astimezone(UTC).isoformat(), "real": real, "rate": 1.0}
        return self._parse(raw).simulated(real)


def clock_from_setting(value: str | None) -> Clock:
    """``CONTACT_CLOCK``: empty or ``system`` (deployed), or ``replay:<file>`` (a local replayed day)."""
    value = (value or "").strip()
    if value in ("", "system"):
        return SystemClock()
    if value.startswith(REPLAY_PREFIX) and value[len(REPLAY_PREFIX):]:
        return ReplayClock(value[len(REPLAY_PREFIX):])
    raise ValueError(f"CONTACT_CLOCK must be empty, 'system' or 'replay:<file>', got {value!r}")
