"""A provider's status webhooks, posted to the app from background threads as the providers do:
each status sequence after ``delay`` seconds, each webhook retried with backoff while the app
answers 5xx or not at all, nothing more once the fake stops."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import requests


@dataclass(frozen=True)
class Webhook:
    url: str
    body: bytes
    params: Mapping[str, str] | None = None


class WebhookSender:
    """``send(sequence)`` queues one status sequence; ``workers`` threads deliver them in order.

    ``deliver(session, hook)`` posts one webhook (``post``, retried, unless the owner wraps it);
    ``headers(body)`` signs a body; ``ready(session)`` says whether webhooks may go now (Meta: only
    after the subscription handshake; a sequence that may not is counted ``dropped``). Every wait is
    on ``stopping`` (never ``time.sleep``), so the fake's stop ends them at once and a test that
    patches ``time.sleep`` never sees a retry."""

    def __init__(self, *, delay: float, workers: int, headers: Callable[[bytes], dict[str, str]],
                 ready: Callable[[requests.Session], bool], stopping: threading.Event,
                 deliver: Callable[[requests.Session, Webhook], bool] | None = None) -> None:
        self.delay = delay
        self.posted = 0
        self.failed = 0   # webhooks the app refused after retries
        self.dropped = 0  # webhooks never sent (not ready, or the fake stopped)
        self._headers = headers
        self._deliver = deliver or self.post
        self._ready = ready
        self._stopping = stopping
        self._lock = threading.Lock()
        self._pending = 0
        self._queue: queue.Queue[tuple[float, list[Webhook]] | None] = queue.Queue()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(workers)]

    @property
    def pending(self) -> int:
        """Status sequences queued or being delivered."""
        with self._lock:
            return self._pending

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        for _ in self._threads:
            self._queue.put(None)

    def send(self, sequence: list[Webhook]) -> None:
        with self._lock:
            self._pending += 1
        self._queue.put((time.monotonic() + self.delay, sequence))

    def _run(self) -> None:
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
            deliverable = not self._stopping.is_set() and self._ready(session)
            posted = failed = dropped = 0
            for hook in sequence:
                if not deliverable:
                    dropped += 1
                elif self._deliver(session, hook):
                    posted += 1
                else:
                    failed += 1
            with self._lock:
                self._pending -= 1
                self.posted += posted
                self.failed += failed
                self.dropped += dropped

    def post(self, session: requests.Session, hook: Webhook) -> bool:
        """One webhook, retried with backoff while the app answers 5xx or not at all; True when it took it."""
        for attempt in range(8):  # providers retry webhooks that fail
            if self._stopping.is_set():
                return False
            try:
                resp = session.post(hook.url, data=hook.body, params=hook.params, timeout=10, headers={
                    "Content-Type": "application/json", **self._headers(hook.body)})
                if resp.status_code < 500:
                    return resp.status_code < 300
            except requests.RequestException:
                pass
            self._stopping.wait(0.02 * 2 ** attempt)
        return False
