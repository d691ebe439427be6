"""A threaded fake HTTP provider: records every request, answers with a seeded outcome mix,
fails on demand or at configured rates, and posts signed status webhooks from background threads.

Outcomes are a deterministic function of (seed, recipient, callback reference), so the same
day gives the same outcomes whatever order the calls arrive in. Random fault draws use their
own seeded generator.
"""

from __future__ import annotations

import hashlib
import json
import math
import queue
import random
import ssl
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socket import socket
from typing import Any, Self

import requests
from requests.structures import CaseInsensitiveDict

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
    kind: str                     # one of FAULT_KINDS
    remaining: int = 1
    recipient: str | None = None  # only requests to this number; None: any request


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
class Webhook:
    url: str
    body: bytes
    params: Mapping[str, str] | None = None


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
        self.callback_delay = callback_delay
        self.timeout_sleep = timeout_sleep
        self.slow_sleep = slow_sleep
        self.rates = rates or FaultRates()
        self.records: list[ProviderRecord] = []
        self.faults: list[Fault] = []
        self.forced: dict[str, str] = {}  # recipient -> outcome
        self.callbacks_posted = 0
        self.auth_refused = 0  # requests answered 401: credentials not (or no longer) valid, or an injected blip
        self.callbacks_failed = 0
        self.callbacks_dropped = 0
        self._rng = random.Random(f"faults|{seed}")
        self._lock = threading.Lock()
        self._pending = 0
        # every wait of the fake's threads is on this event (never time.sleep), so stop() ends them
        # at once and a test that patches time.sleep never sees a fake's retries
        self._stopping = threading.Event()
        self._queue: queue.Queue[tuple[float, list[Webhook]] | None] = queue.Queue()
        self._server = _Server(("127.0.0.1", 0), self._handler_class(), tls)
        self._server.daemon_threads = True
        self._scheme = "https" if tls else "http"
        self._threads = [threading.Thread(target=self._server.serve_forever, daemon=True)]
        self._threads += [threading.Thread(target=self._post_callbacks, daemon=True) for _ in range(callback_workers)]

    # --- lifecycle ---
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self._scheme}://{host!s}:{port}"

    def start(self) -> Self:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        """Stop serving; webhooks not yet delivered are dropped (no thread outlives the fake for long)."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        for _ in self._threads[1:]:
            self._queue.put(None)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- control ---
    def inject(self, kind: str, count: int = 1, recipient: str | None = None) -> None:
        """The next ``count`` requests (to ``recipient``, or any) get fault ``kind``."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault must be one of {FAULT_KINDS}")
        with self._lock:
            self.faults.append(Fault(kind, count, recipient))

    def set_rates(self, rates: FaultRates) -> None:
        with self._lock:
            self.rates = rates

    def force_outcome(self, recipient: str, outcome: str) -> None:
        self.forced[recipient] = outcome

    def outstanding_callbacks(self) -> int:
        with self._lock:
            return self._pending

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

    @abstractmethod
    def recipient(self, body: dict[str, Any]) -> str | None:
        """The phone number a request is for (faults and forced outcomes are per number)."""

    @abstractmethod
    def reference(self, body: dict[str, Any]) -> str | None:
        """Our callback reference carried by a request."""

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
        with self._lock:
            for f in self.faults:
                if f.kind in kinds and f.remaining > 0 and (f.recipient is None or f.recipient == recipient):
                    f.remaining -= 1
                    return f.kind
            if kinds == REQUEST_FAULTS:
                return self.rates.request_fault(self._rng.random())
            for kind in kinds:
                if self._rng.random() < getattr(self.rates, kind):
                    return kind
        return None

    def _record(self, rec: ProviderRecord) -> None:
        with self._lock:
            self.records.append(rec)

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
        with self._lock:
            self._pending += 1
        self._queue.put((time.monotonic() + self.callback_delay, sequence))

    def _post_callbacks(self) -> None:
        session = requests.Session()
        session.trust_env = False  # webhooks go to 127.0.0.1: no proxy lookup in os.environ per post
        while True:
            item = self._queue.get()
            if item is None:
                return
            due, sequence = item
            wait = due - time.monotonic()
            if wait > 0:
                self._stopping.wait(wait)
            deliverable = not self._stopping.is_set() and self.before_delivery(session)
            posted = failed = dropped = 0
            for hook in sequence:
                if not deliverable:
                    dropped += 1
                    continue
                if self._deliver(session, hook):
                    posted += 1
                else:
                    failed += 1
            with self._lock:
                self._pending -= 1
                self.callbacks_posted += posted
                self.callbacks_failed += failed
                self.callbacks_dropped += dropped

    def _deliver(self, session: requests.Session, hook: Webhook) -> bool:
        for attempt in range(8):  # providers retry webhooks that fail
            if self._stopping.is_set():
                return False
            try:
                resp = session.post(hook.url, data=hook.body, params=hook.params, timeout=10, headers={
                    "Content-Type": "application/json", **self.webhook_headers(hook.body)})
                if resp.status_code < 500:
                    return resp.status_code < 300
            except requests.RequestException:
                pass
            self._stopping.wait(0.02 * 2 ** attempt)
        return False

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall per response

            def setup(self) -> None:
                if isinstance(self.request, ssl.SSLSocket):
                    self.request.do_handshake()
                super().setup()

            def handle(self) -> None:
                try:
                    super().handle()
                except (ssl.SSLError, ConnectionError, OSError):
                    self.close_connection = True

            def log_message(self, *args: Any) -> None:
                return

            def _answer(self, status: int, payload: dict[str, Any], headers: Mapping[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _no_answer(self, sleep: float) -> None:
                if sleep:
                    provider._stopping.wait(sleep)
                self.close_connection = True
                self.wfile.flush()

            def do_POST(self) -> None:
                arrived = provider.clock()
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                refused = provider.authorize(CaseInsensitiveDict(self.headers.items()))
                if refused is not None:
                    with provider._lock:
                        provider.auth_refused += 1
                    self._answer(*refused)
                    return
                try:
                    body = provider.parse_body(raw, self.headers.get("Content-Type") or "")
                except ValueError:
                    self._answer(400, provider.error_answer(400))
                    return
                recipient = provider.recipient(body)
                over = provider._admit(arrived)
                if over is not None:
                    limit, wait = over
                    # 429, or the provider's own way of saying it (the SMS API: HTTP 200, status 1 Throttled)
                    provider._record(ProviderRecord(provider.channel, self.path, body, provider.fault_status(429),
                                                    "http_429", None, received_at=arrived, fault=limit))
                    self._answer(provider.fault_status(429), provider.error_answer(429),
                                 {"Retry-After": str(max(1, math.ceil(wait)))})
                    return
                fault = provider._take_fault(recipient, REQUEST_FAULTS)
                if fault == "timeout":
                    provider._record(ProviderRecord(provider.channel, self.path, body, 0, "timeout", None,
                                                    received_at=arrived, fault=fault))
                    self._no_answer(provider.timeout_sleep)
                    return
                if fault == "401":
                    with provider._lock:
                        provider.auth_refused += 1
                    provider._record(ProviderRecord(provider.channel, self.path, body, 401, "http_401", None,
                                                    received_at=arrived, fault=fault))
                    self._answer(401, provider.auth_error_answer())
                    return
                if fault in ("429", "500"):
                    status = int(fault)
                    provider._record(ProviderRecord(provider.channel, self.path, body, provider.fault_status(status),
                                                    f"http_{fault}", None, received_at=arrived, fault=fault))
                    self._answer(provider.fault_status(status), provider.error_answer(status),
                                 {"Retry-After": "0"} if status == 429 else None)
                    return
                done = provider.handle(self.path, body)
                placed = done.provider_id is not None
                answered = not (placed and fault in ("answer_lost", "cut"))
                provider._record(ProviderRecord(provider.channel, self.path, body, done.status if answered else 0,
                                                done.outcome, done.provider_id, received_at=arrived, fault=fault))
                provider._enqueue(done.webhooks, recipient)
                if not answered:
                    self._no_answer(provider.timeout_sleep if fault == "answer_lost" else 0.0)
                    return
                if fault == "slow":
                    provider._stopping.wait(provider.slow_sleep)
                self._answer(done.status, done.answer)

        return Handler


class _Server(ThreadingHTTPServer):
    """Plain or TLS; the TLS handshake happens in the request thread, not the accept loop."""

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 tls: ssl.SSLContext | None) -> None:
        self.tls = tls
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that drops the connection or refuses our certificate is not the fake's problem

    def get_request(self) -> tuple[socket, Any]:
        sock, addr = self.socket.accept()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr
