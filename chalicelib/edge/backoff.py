"""Exponential backoff for SQS redelivery, expressed as a visibility timeout.

A message that failed for a transient reason (database down, SES throttling, an earlier event
not here yet) is hidden for ``delay(receive_count)`` seconds by ChangeMessageVisibility, so
the queue's ``maxReceiveCount`` tries are spread over hours instead of minutes:

    receive 1 -> 30 s, 2 -> 60 s, 3 -> 120 s, ... doubling, never above 12 h (SQS's limit)

With ``maxReceiveCount`` 10 the tenth try comes ~4 h 15 min after the first, so an outage of
that length loses nothing. A poison message (retrying cannot help) is made visible at once,
so it reaches the DLQ after its bounded tries in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

SQS_MAX_VISIBILITY_S = 43_200  # 12 hours: the most ChangeMessageVisibility accepts


@dataclass(frozen=True)
class Backoff:
    base_s: int = 30
    cap_s: int = SQS_MAX_VISIBILITY_S

    def delay(self, receive_count: int) -> int:
        """Seconds to hide a message that failed on its ``receive_count``-th receive (1-based)."""
        exponent = min(max(receive_count, 1) - 1, 30)
        return min(self.cap_s, self.base_s * 2**exponent)

    def covered(self, max_receive_count: int) -> int:
        """Seconds between the first and the last try of a message that always fails transiently."""
        return sum(self.delay(n) for n in range(1, max_receive_count))
