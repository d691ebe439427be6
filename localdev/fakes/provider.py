"""A fake provider's API: records every request, answers with a seeded outcome mix, fails on demand
or at configured rates (``faults.py``), and posts signed status webhooks (``webhooks.py``), on the
shared fake server (``server.py``).

Outcomes are a deterministic function of (seed, recipient, callback reference), so the same
day gives the same outcomes whatever order the calls arrive in. Random fault draws use their
own seeded generator.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import ssl
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

import requests
from requests.structures import CaseInsensitiveDict

from localdev.fakes.faults import FAULT_KINDS, LIMIT_FAULTS, REQUEST_FAULTS, WEBHOOK_FAULTS, FaultQueue, FaultRates
from localdev.fakes.server import FakeHandler, FakeServer
from localdev.fakes.webhooks import Webhook, WebhookSender


@dataclass
class ProviderRecord:
    channel: str
    path: str
    body: dict[str, Any]
    http_status: int              # 0: no answer was given (timeout, answer lost, cut)
    outcome: str                  # final status of the call/message, or http_429 / http_500 / timeout / http_4xx
    provider_id: str | None       # set when the provider placed the call / message
    received_at: float = field(default_factory=time.time)
    fault: str | None = None

    @property
    def placed(self) -> bool:
        return self.provider_id is not None


@dataclass(frozen=True)
class Handled:
    status: int
    answer: dict[str, Any]
    webhooks: list[Webhook]
    outcome: str
    provider_id: str | None


class FakeProvider(ABC):
    channel = ""

    def __init__(self, *, seed: int = 7, callback_delay: float = 0.02, timeout_sleep: float = 2.0,
                 slow_sleep: float = 0.2, callback_workers: int = 4, rates: FaultRates | None = None,
                 tls: ssl.SSLContext | None = None, strict_rate: float | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.seed = seed
        # strict mode: more than ``strict_rate`` requests in a rolling second get 429 (Retry-After: the
        # whole seconds until the window has room), as Vonage and the Cloud API enforce a contract
        self.strict_rate = strict_rate
        self.clock = clock
        self._window: deque[float] = deque()  # arrival times of the requests admitted in the last second
        self.timeout_sleep = timeout_sleep
        self.slow_sleep = slow_sleep
        self.rates = rates or FaultRates()
        self.records: list[ProviderRecord] = []
        self.faults = FaultQueue(FAULT_KINDS)
        self.forced: dict[str, str] = {}  # recipient -> outcome
        self.auth_refused = 0  # requests answered 401: credentials not (or no longer) valid, or an injected blip
        self._rng = random.Random(f"faults|{seed}")
        self._lock = threading.Lock()
        # every wait of the fake's threads is on this event (never time.sleep), so stop() ends them
        # at once and a test that patches time.sleep never sees a fake's retries
        self._stopping = threading.Event()
        # looked up at each use (lambdas), so a test may wrap a fake class's methods after it was made
        self._webhooks = WebhookSender(delay=callback_delay, workers=callback_workers, stopping=self._stopping,
                                       headers=lambda body: self.webhook_headers(body),
                                       ready=lambda session: self.before_delivery(session),
                                       deliver=lambda session, hook: self._deliver(session, hook))
        handler = type("Handler", (_ProviderHandler,), {"provider": self})
        self._server = FakeServer(handler, tls=tls, name=f"fake-{self.channel}")

    # --- lifecycle ---
    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> Self:
        self._server.start()
        self._webhooks.start()
        return self

    def stop(self) -> None:
        """Stop serving; webhooks not yet delivered are dropped (no thread outlives the fake for long)."""
        self._stopping.set()
        self._server.stop()
        self._webhooks.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- control ---
    def inject(self, kind: str, count: int = 1, recipient: str | None = None) -> None:
        """The next ``count`` requests (to ``recipient``, or any) get fault ``kind``."""
        self.faults.add(kind, count, recipient)

    def set_rates(self, rates: FaultRates) -> None:
        with self._lock:
            self.rates = rates

    def force_outcome(self, recipient: str, outcome: str) -> None:
        self.forced[recipient] = outcome

    @property
    def callbacks_posted(self) -> int:
        return self._webhooks.posted

    @property
    def callbacks_failed(self) -> int:
        """Webhooks the app refused after retries."""
        return self._webhooks.failed

    @property
    def callbacks_dropped(self) -> int:
        """Webhooks not delivered (WhatsApp: the subscription handshake failed; or the fake stopped)."""
        return self._webhooks.dropped

    def outstanding_callbacks(self) -> int:
        return self._webhooks.pending

    def wait_idle(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.outstanding_callbacks() == 0:
                return True
            time.sleep(0.01)
        return False

    def limit_refusals(self) -> int:
        """How many requests the strict mode answered 429 (over the rate or the concurrent-call limit)."""
        with self._lock:
            return sum(1 for r in self.records if r.fault in LIMIT_FAULTS)

    def _admit(self, arrived: float) -> tuple[str, float] | None:
        """None when the contract admits a request arriving now; else (fault, seconds until it would)."""
        with self._lock:
            while self._window and self._window[0] <= arrived - 1.0:
                self._window.popleft()
            if self.strict_rate is not None and len(self._window) + 1 > self.strict_rate:
                return "rate_limit", self._window[0] + 1.0 - arrived
            busy = self.busy_until(arrived)
            if busy is not None:
                return "concurrency", busy - arrived
            self._window.append(arrived)
        return None

    def busy_until(self, now: float) -> float | None:
        """When a request refused for concurrency could go (None: not refused). Voice overrides it."""
        return None

    def placed_by_reference(self) -> dict[str, int]:
        """How many calls/messages were placed per callback reference (2+ means someone got it twice)."""
        counts: dict[str, int] = {}
        with self._lock:
            for rec in self.records:
                ref = self.reference(rec.body) if rec.placed else None
                if ref:
                    counts[ref] = counts.get(ref, 0) + 1
        return counts

    # --- behaviour, per provider ---
    @abstractmethod
    def authorize(self, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]] | None:
        """None when the request's credentials are good; else the error answer."""

    @abstractmethod
    def handle(self, path: str, body: dict[str, Any]) -> Handled:
        """Validate and place the request; the answer and the webhooks that follow."""

    # the request body's top-level fields holding the recipient and our callback reference (a provider
    # whose body nests them overrides ``recipient`` / ``reference``)
    recipient_field = "to"
    reference_field = ""

    def recipient(self, body: dict[str, Any]) -> str | None:
        """The phone number a request is for (faults and forced outcomes are per number)."""
        value = body.get(self.recipient_field)
        return str(value) if value else None

    def reference(self, body: dict[str, Any]) -> str | None:
        """Our callback reference carried by a request."""
        value = body.get(self.reference_field)
        return str(value) if value else None

    @abstractmethod
    def error_answer(self, status: int) -> dict[str, Any]:
        """The provider's error body for a 429 or 5xx."""

    @abstractmethod
    def auth_error_answer(self) -> dict[str, Any]:
        """The provider's 401 body (credentials refused)."""

    @abstractmethod
    def webhook_headers(self, body: bytes) -> dict[str, str]:
        """Signature headers for one webhook body."""

    def parse_body(self, raw: bytes, content_type: str) -> dict[str, Any]:
        """The request body as the provider reads it (JSON here; ``ValueError`` when unreadable)."""
        body = json.loads(raw)
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
        return body

    def fault_status(self, status: int) -> int:
        """The HTTP status a ``429`` / ``500`` fault is answered with (a provider may say it in the body)."""
        return status

    def before_delivery(self, session: requests.Session) -> bool:
        """Whether webhooks may be delivered now (Meta: only after the subscription handshake)."""
        return True

    def pick_outcome(self, mix: tuple[tuple[str, float], ...], recipient: str, ref: str) -> str:
        if recipient in self.forced:
            return self.forced[recipient]
        digest = hashlib.sha256(f"{self.seed}|{recipient}|{ref}".encode()).digest()
        roll = random.Random(digest).random()
        total = 0.0
        for outcome, weight in mix:
            total += weight
            if roll < total:
                return outcome
        return mix[-1][0]

    # --- internals ---
    def _take_fault(self, recipient: str | None, kinds: tuple[str, ...]) -> str | None:
        """A fault asked for by ``inject``, else one drawn at the configured rates."""
        asked = self.faults.take(recipient, kinds)
        if asked is not None:
            return asked.kind
        with self._lock:
            if kinds == REQUEST_FAULTS:
                return self.rates.request_fault(self._rng.random())
            for kind in kinds:
                if self._rng.random() < getattr(self.rates, kind):
                    return kind
        return None

    def _deliver(self, session: requests.Session, hook: Webhook) -> bool:
        """One webhook to the app, retried (tests wrap it to see every attempt)."""
        return self._webhooks.post(session, hook)

    def _record(self, rec: ProviderRecord) -> None:
        with self._lock:
            self.records.append(rec)

    def _refused_auth(self) -> None:
        with self._lock:
            self.auth_refused += 1

    def _enqueue(self, webhooks: list[Webhook], recipient: str | None) -> None:
        if not webhooks:
            return
        sequence = list(webhooks)
        for kind in WEBHOOK_FAULTS:
            if self._take_fault(recipient, (kind,)) == kind:
                if kind == "duplicate":
                    sequence = [w for w in sequence for _ in (0, 1)]
                else:
                    with self._lock:
                        self._rng.shuffle(sequence)
        self._webhooks.send(sequence)


class _ProviderHandler(FakeHandler):
    """One request to a ``FakeProvider`` (bound to it as ``provider``): credentials, body, the strict
    mode's limits, then the request fault if any, else the provider places it."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall per response
    provider: FakeProvider

    def do_POST(self) -> None:
        p = self.provider
        arrived = p.clock()
        raw = self.read_body()
        refused = p.authorize(CaseInsensitiveDict(self.headers.items()))
        if refused is not None:
            p._refused_auth()
            self.send_json(*refused)
            return
        try:
            body = p.parse_body(raw, self.headers.get("Content-Type") or "")
        except ValueError:
            self.send_json(400, p.error_answer(400))
            return
        recipient = p.recipient(body)
        if self._over_limit(body, arrived):
            return
        fault = p._take_fault(recipient, REQUEST_FAULTS)
        if fault in ("timeout", "401", "429", "500"):
            self._fail(fault, body, arrived)
        else:
            self._place(fault, body, recipient, arrived)

    def _record(self, body: dict[str, Any], status: int, outcome: str, provider_id: str | None, arrived: float,
                fault: str | None) -> None:
        p = self.provider
        p._record(ProviderRecord(p.channel, self.path, body, status, outcome, provider_id, received_at=arrived,
                                 fault=fault))

    def _over_limit(self, body: dict[str, Any], arrived: float) -> bool:
        """Strict mode: 429, or the provider's own way of saying it (the SMS API: HTTP 200, status 1 Throttled)."""
        p = self.provider
        over = p._admit(arrived)
        if over is None:
            return False
        limit, wait = over
        self._record(body, p.fault_status(429), "http_429", None, arrived, limit)
        self.send_json(p.fault_status(429), p.error_answer(429), {"Retry-After": str(max(1, math.ceil(wait)))})
        return True

    def _fail(self, fault: str, body: dict[str, Any], arrived: float) -> None:
        """A request fault where nothing is placed: no answer in time, an auth blip, a 429 or a 500."""
        p = self.provider
        if fault == "timeout":
            self._record(body, 0, "timeout", None, arrived, fault)
            self._no_answer(p.timeout_sleep)
        elif fault == "401":
            p._refused_auth()
            self._record(body, 401, "http_401", None, arrived, fault)
            self.send_json(401, p.auth_error_answer())
        else:
            status = int(fault)
            self._record(body, p.fault_status(status), f"http_{fault}", None, arrived, fault)
            self.send_json(p.fault_status(status), p.error_answer(status),
                           {"Retry-After": "0"} if status == 429 else None)

    def _place(self, fault: str | None, body: dict[str, Any], recipient: str | None, arrived: float) -> None:
        """The provider handles it; with ``answer_lost`` / ``cut`` what it placed is never answered."""
        p = self.provider
        done = p.handle(self.path, body)
        placed = done.provider_id is not None
        answered = not (placed and fault in ("answer_lost", "cut"))
        self._record(body, done.status if answered else 0, done.outcome, done.provider_id, arrived, fault)
        p._enqueue(done.webhooks, recipient)
        if not answered:
            self._no_answer(p.timeout_sleep if fault == "answer_lost" else 0.0)
            return
        if fault == "slow":
            p._stopping.wait(p.slow_sleep)
        self.send_json(done.status, done.answer)

    def _no_answer(self, sleep: float) -> None:
        if sleep:
            self.provider._stopping.wait(sleep)
        self.hang_up()
