"""Fake Vonage Voice API: ``POST /v1/calls`` over https, as strict as Vonage about what it accepts.

- Authentication: ``Authorization: Bearer <JWT>`` RS256, verified against the application's public
  key, with ``application_id`` equal to ours, ``iat``/``exp`` present and current and a ``jti``;
  otherwise ``401`` with Vonage's problem body (``type``, ``title``, ``detail``, ``instance``).
  ``rotate_key()`` generates a new key pair: JWTs signed with the old private key get 401.
- Request: ``to[0]`` a phone, ``from`` a phone, an NCCO starting with a ``talk`` action with text,
  ``event_url`` a list of one URL, ``ringing_timer`` 1–120 and ``length_timer`` 1–7200 when given.
  Otherwise ``400`` with ``invalid_parameters``.
- Strict mode (``strict_rate``, ``max_concurrent``): more than ``strict_rate`` calls in a rolling
  second, or a call while ``max_concurrent`` are in progress, get ``429`` with Vonage's throttled
  problem and ``Retry-After``. A placed call is in progress for ``call_seconds``, cut short by the
  request's ``ringing_timer + length_timer`` (Vonage hangs up then).
- Answer: ``201 {"uuid", "status": "started", "direction": "outbound", "conversation_uuid"}``.
- Then the call's event webhooks to ``event_url[0]``, each signed like Vonage's signed webhooks
  (``Authorization: Bearer`` HS256 JWT with the signature secret and ``payload_hash``):
  ``started → ringing → answered → human|machine → completed``, or ``started → ringing →
  busy|timeout|unanswered|rejected|failed``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import jwt

from chalicelib.reminders.providers import E164_DIGITS
from chalicelib.reminders.signatures import vonage_webhook_token
from localdev.fakes.provider import FakeProvider, Handled
from localdev.fakes.tls import local_tls, rsa_key_pair
from localdev.fakes.webhooks import Webhook

DEFAULT_MIX = (("human", 0.45), ("machine", 0.15), ("busy", 0.08), ("unanswered", 0.14), ("timeout", 0.06),
               ("rejected", 0.04), ("failed", 0.08))
ANSWERED = {"human", "machine"}
LOCAL_SIGNATURE_SECRET = "local-vonage-signature-secret-32b"  # noqa: S105 (the local fake's own secret)


def _problem(status: int, title: str, detail: str) -> dict[str, Any]:
    kind = {400: "validation", 401: "unauthorized", 429: "throttled", 500: "internal-error"}.get(status, "error")
    return {"type": f"https://developer.nexmo.com/api-errors#{kind}", "title": title, "detail": detail,
            "instance": str(uuid.uuid4())}


class FakeVoice(FakeProvider):
    channel = "robocall"

    def __init__(self, *, signature_secret: str = LOCAL_SIGNATURE_SECRET, application_id: str | None = None,
                 mix: tuple[tuple[str, float], ...] = DEFAULT_MIX, max_concurrent: int | None = None,
                 call_seconds: float = 0.0, **kwargs: Any) -> None:
        context, self.ca_bundle = local_tls()
        super().__init__(tls=context, **kwargs)
        self.signature_secret = signature_secret
        self.application_id = application_id or str(uuid.uuid4())
        self.private_key, self.public_key = rsa_key_pair()
        self.mix = mix
        self.auth_failures = 0
        self.max_concurrent = max_concurrent
        self.call_seconds = call_seconds
        self._call_ends: list[float] = []  # when each call in progress ends
        self.most_in_progress = 0

    def busy_until(self, now: float) -> float | None:
        self._call_ends = [end for end in self._call_ends if end > now]
        if self.max_concurrent is not None and len(self._call_ends) >= self.max_concurrent:
            return min(self._call_ends)
        return None

    def _call_started(self, body: dict[str, Any]) -> None:
        timers = [body.get("ringing_timer"), body.get("length_timer")]
        duration = self.call_seconds
        if all(isinstance(t, int) for t in timers):
            duration = min(duration, float(sum(t for t in timers if isinstance(t, int))))
        with self._lock:
            now = self.clock()
            self._call_ends = [end for end in self._call_ends if end > now]
            if duration > 0:
                self._call_ends.append(now + duration)
            self.most_in_progress = max(self.most_in_progress, len(self._call_ends))

    def env(self) -> dict[str, str]:
        """Settings that make the app's VoiceClient and robocall callback talk to this fake."""
        return {"VOICE_API_URL": self.url, "VONAGE_APPLICATION_ID": self.application_id,
                "VONAGE_PRIVATE_KEY": self.private_key, "VONAGE_SIGNATURE_SECRET": self.signature_secret,
                "REQUESTS_CA_BUNDLE": self.ca_bundle}

    def recipient(self, body: dict[str, Any]) -> str | None:
        try:
            return str(body["to"][0]["number"])
        except (KeyError, IndexError, TypeError):
            return None

    def reference(self, body: dict[str, Any]) -> str | None:
        try:
            return str(body["event_url"][0])
        except (KeyError, IndexError, TypeError):
            return None

    def error_answer(self, status: int) -> dict[str, Any]:
        if status == 429:
            return _problem(429, "Too Many Requests", "You have exceeded your rate limit.")
        if status == 400:
            return _problem(400, "Bad Request", "The request body is not valid JSON.")
        return _problem(status, "Internal Error", "Something went wrong.")

    def auth_error_answer(self) -> dict[str, Any]:
        return _problem(401, "Unauthorized", "You did not provide correct credentials.")

    def rotate_key(self) -> str:
        """A new application key pair (Vonage's "generate new key"): JWTs signed with the old private key are
        refused (401) from now on. Returns the new private key (PEM)."""
        private_key, public_key = rsa_key_pair()
        with self._lock:
            self.private_key, self.public_key = private_key, public_key
        return private_key

    def authorize(self, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]] | None:
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        with self._lock:
            public_key = self.public_key
        try:
            if scheme != "Bearer" or not token:
                raise jwt.InvalidTokenError("no bearer token")
            claims = jwt.decode(token, public_key, algorithms=["RS256"],
                                options={"require": ["iat", "exp", "jti", "application_id"]})
            if claims["application_id"] != self.application_id:
                raise jwt.InvalidTokenError("wrong application")
        except jwt.PyJWTError:
            with self._lock:
                self.auth_failures += 1
            return 401, _problem(401, "Unauthorized", "You did not provide correct credentials.")
        return None

    def webhook_headers(self, body: bytes) -> dict[str, str]:
        token = vonage_webhook_token(self.signature_secret, body, application_id=self.application_id)
        return {"Authorization": f"Bearer {token}"}

    def handle(self, path: str, body: dict[str, Any]) -> Handled:
        if path != "/v1/calls":
            return Handled(404, _problem(404, "Not Found", "No such resource."), [], "http_404", None)
        problems = []
        to = self.recipient(body)
        if not to or not E164_DIGITS.match(str(to)):
            problems.append({"name": "to", "reason": "to[0].number must be an E.164 number without '+'"})
        if not isinstance(body.get("from"), dict) or not body["from"].get("number"):
            problems.append({"name": "from", "reason": "from.number is required"})
        ncco = body.get("ncco")
        if not (isinstance(ncco, list) and ncco and isinstance(ncco[0], dict) and ncco[0].get("action") == "talk"
                and ncco[0].get("text")):
            problems.append({"name": "ncco", "reason": "must start with a talk action with text"})
        event_url = body.get("event_url")
        if not (isinstance(event_url, list) and len(event_url) == 1 and str(event_url[0]).startswith("http")):
            problems.append({"name": "event_url", "reason": "must be a list with one URL"})
            event_url = [""]
        for name, top in (("ringing_timer", 120), ("length_timer", 7200)):
            value = body.get(name)
            if value is not None and not (isinstance(value, int) and 1 <= value <= top):
                problems.append({"name": name, "reason": f"must be a whole number of seconds, 1 to {top}"})
        if problems:
            answer = {**_problem(400, "Bad Request", "The request failed due to validation errors"),
                      "invalid_parameters": problems}
            return Handled(400, answer, [], "http_400", None)
        call_uuid, conversation = str(uuid.uuid4()), f"CON-{uuid.uuid4()}"
        url = str(event_url[0])
        outcome = self.pick_outcome(self.mix, str(to), url)
        statuses = ["started", "ringing"]
        statuses += ["answered", outcome, "completed"] if outcome in ANSWERED else [outcome]
        hooks = [Webhook(url, json.dumps(self._event(call_uuid, conversation, status, body, i)).encode())
                 for i, status in enumerate(statuses)]
        answer = {"uuid": call_uuid, "status": "started", "direction": "outbound", "conversation_uuid": conversation}
        self._call_started(body)
        return Handled(201, answer, hooks, outcome, call_uuid)

    @staticmethod
    def _event(call_uuid: str, conversation: str, status: str, body: dict[str, Any], seq: int) -> dict[str, Any]:
        stamp = datetime.fromtimestamp(time.time() + seq / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        event: dict[str, Any] = {"uuid": call_uuid, "conversation_uuid": conversation, "status": status,
                                 "direction": "outbound", "from": body.get("from", {}).get("number"),
                                 "to": body["to"][0]["number"], "timestamp": stamp}
        if status == "human" or status == "machine":
            event["sub_state"] = status
        return event
