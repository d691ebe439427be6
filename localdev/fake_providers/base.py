"""A threaded fake HTTP provider: records every request, answers with a seeded outcome mix,
fails on demand (429, 500, timeout) and posts signed status callbacks from background threads.

Outcomes are a deterministic function of (seed, recipient, callback reference), so the same
day gives the same outcomes whatever order the calls arrive in.
"""

from __future__ import annotations

import hashlib
import json
import queue
import random
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import requests

from chalicelib.reminders.signatures import SIGNATURE_HEADER, sign

FAULT_KINDS = ("429", "500", "timeout")


@dataclass
class Fault:
    kind: str              # "429" | "500" | "timeout"
    remaining: int = 1
    recipient: str | None = None  # only requests to this number; None: any request


@dataclass
class ProviderRecord:
    channel: str
    path: str
    body: dict[str, Any]
    http_status: int
    outcome: str           # final status given to the call/message, or http_429 / http_500 / timeout
    provider_id: str | None
    received_at: float = field(default_factory=time.time)


class FakeProvider(ABC):
    channel = ""
    token = "local-token"  # noqa: S105 (the fake's own bearer token, not a secret)

    def __init__(self, *, secret: str, seed: int = 7, callback_delay: float = 0.05, timeout_sleep: float = 2.0,
                 callback_workers: int = 4) -> None:
        self.secret = secret
        self.seed = seed
        self.callback_delay = callback_delay
        self.timeout_sleep = timeout_sleep
        self.records: list[ProviderRecord] = []
        self.faults: list[Fault] = []
        self.forced: dict[str, str] = {}  # recipient -> outcome
        self.callbacks_posted = 0
        self.callbacks_failed = 0
        self._lock = threading.Lock()
        self._pending = 0
        self._queue: queue.Queue[tuple[float, str, bytes] | None] = queue.Queue()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._threads = [threading.Thread(target=self._server.serve_forever, daemon=True)]
        self._threads += [threading.Thread(target=self._post_callbacks, daemon=True) for _ in range(callback_workers)]

    # --- lifecycle ---
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        for _ in self._threads[1:]:
            self._queue.put(None)

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- control ---
    def inject(self, kind: str, count: int = 1, recipient: str | None = None) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault must be one of {FAULT_KINDS}")
        with self._lock:
            self.faults.append(Fault(kind, count, recipient))

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

    # --- behaviour, per provider ---
    @abstractmethod
    def handle(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], tuple[str, bytes] | None, str,
                                                              str | None]:
        """(status, response, callback (url, body) or None, outcome, provider id)."""

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
    def _take_fault(self, recipient: str | None) -> str | None:
        with self._lock:
            for f in self.faults:
                if f.remaining > 0 and (f.recipient is None or f.recipient == recipient):
                    f.remaining -= 1
                    return f.kind
        return None

    def _record(self, rec: ProviderRecord) -> None:
        with self._lock:
            self.records.append(rec)

    def _enqueue_callback(self, url: str, body: bytes) -> None:
        with self._lock:
            self._pending += 1
        self._queue.put((time.monotonic() + self.callback_delay, url, body))

    def _post_callbacks(self) -> None:
        session = requests.Session()
        while True:
            item = self._queue.get()
            if item is None:
                return
            due, url, body = item
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            ok = False
            for attempt in range(8):  # providers retry webhooks that fail
                try:
                    resp = session.post(url, data=body, timeout=10, headers={
                        "Content-Type": "application/json", SIGNATURE_HEADER: sign(self.secret, body)})
                    if resp.status_code < 500:
                        ok = resp.status_code < 300
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.02 * 2 ** attempt)
            with self._lock:
                self._pending -= 1
                self.callbacks_posted += ok
                self.callbacks_failed += not ok

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall per response

            def log_message(self, *args: Any) -> None:
                return

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.headers.get("Authorization") != f"Bearer {provider.token}":
                    self._answer(401, {"title": "Unauthorized", "detail": "invalid token"})
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    self._answer(400, {"title": "Bad Request", "detail": "body is not JSON"})
                    return
                recipient = provider.recipient(body)
                fault = provider._take_fault(recipient)
                if fault == "timeout":
                    provider._record(ProviderRecord(provider.channel, self.path, body, 0, "timeout", None))
                    time.sleep(provider.timeout_sleep)
                    self.close_connection = True
                    return
                if fault in ("429", "500"):
                    provider._record(ProviderRecord(provider.channel, self.path, body, int(fault), f"http_{fault}",
                                                    None))
                    self._answer(int(fault), {"title": "Throttled" if fault == "429" else "Internal Error"})
                    return
                status, payload, callback, outcome, provider_id = provider.handle(self.path, body)
                provider._record(ProviderRecord(provider.channel, self.path, body, status, outcome, provider_id))
                self._answer(status, payload)
                if callback is not None:
                    provider._enqueue_callback(*callback)

        return Handler

    @abstractmethod
    def recipient(self, body: dict[str, Any]) -> str | None:
        """The phone number a request is for (faults and forced outcomes are per number)."""
