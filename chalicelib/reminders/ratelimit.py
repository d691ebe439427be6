"""A thread-safe pacing limiter for one process: at most ``rate`` acquisitions per second, evenly spaced.

Provider clients built with an explicit ``RetryPolicy`` (tests, scripts) use it; the dispatch
containers share one grid per provider instead (``chalicelib/reminders/provider_rate.py``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class RateLimiter:
    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)
        return slot

    def throttled(self, retry_after: float | None) -> None:
        """A 429: nothing leaves before ``Retry-After`` has passed."""
        with self._lock:
            self._next = max(self._next, self._clock() + (retry_after or 0.0))

    @contextmanager
    def chunk(self, expected: int) -> Iterator[None]:
        yield
