"""What a fake can be asked to get wrong, and how tests ask.

``FaultQueue``: targeted faults, every fake's way of failing on demand: the next N requests (for one
target, or any) fail with a given kind, taken in the order they were asked for. A provider's target
is the phone number a request is for; Slack's, the Web API method.

The providers' vocabulary (``FakeProvider``): request faults, at most one per request, also drawn at
``FaultRates``; the 429s of strict mode (``LIMIT_FAULTS``); webhook faults per status sequence.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields

# Request faults (one per request at most). "timeout": nothing placed, no answer before the client
# gives up; "answer_lost": placed (webhooks follow) but the answer comes too late; "cut": placed,
# then the connection is dropped without an answer (crash-like); "slow": answered, late but in time;
# "401": the provider refuses good credentials (an auth blip), nothing placed; only by ``inject``.
REQUEST_FAULTS = ("429", "500", "timeout", "answer_lost", "cut", "slow", "401")
# What a strict fake answers 429 for (``ProviderRecord.fault``): over the contracted rate in a rolling
# second, or (voice) over the concurrent-call limit.
LIMIT_FAULTS = ("rate_limit", "concurrency")
# Webhook faults (per status sequence): every webhook sent twice; the sequence shuffled.
WEBHOOK_FAULTS = ("duplicate", "reorder")
FAULT_KINDS = REQUEST_FAULTS + WEBHOOK_FAULTS


@dataclass
class Fault:
    kind: str
    remaining: int = 1
    target: str | None = None  # only requests for this target (a phone number, a Slack method); None: any
    retry_after: int = 0       # the Retry-After of a fault answered 429, where the fake lets the test choose


class FaultQueue:
    """Faults asked for by tests, each for the next ``remaining`` matching requests (thread-safe)."""

    def __init__(self, kinds: tuple[str, ...]) -> None:
        self.kinds = kinds
        self.pending: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, kind: str, count: int = 1, target: str | None = None, retry_after: int = 0) -> None:
        if kind not in self.kinds:
            raise ValueError(f"fault must be one of {self.kinds}")
        with self._lock:
            self.pending.append(Fault(kind, count, target, retry_after))

    def take(self, target: str | None, kinds: tuple[str, ...] | None = None) -> Fault | None:
        """The first fault asked for that matches a request for ``target`` (one of ``kinds``), used up by one."""
        with self._lock:
            for f in self.pending:
                if f.remaining > 0 and (kinds is None or f.kind in kinds) and f.target in (None, target):
                    f.remaining -= 1
                    return f
        return None


@dataclass
class FaultRates:
    """Probability of each fault per request (request faults, mutually exclusive) or per status sequence."""

    http_429: float = 0.0
    http_5xx: float = 0.0
    timeout: float = 0.0
    answer_lost: float = 0.0
    cut: float = 0.0
    slow: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0

    @classmethod
    def each(cls, rate: float) -> FaultRates:
        """Every fault mode at ``rate`` (e.g. 0.1 for the 10%-each chaos day)."""
        return cls(**{f.name: rate for f in fields(cls)})

    def request_fault(self, roll: float) -> str | None:
        total = 0.0
        for kind, rate in (("429", self.http_429), ("500", self.http_5xx), ("timeout", self.timeout),
                           ("answer_lost", self.answer_lost), ("cut", self.cut), ("slow", self.slow)):
            total += rate
            if roll < total:
                return kind
        return None
