"""Fake Vonage SMS API: ``POST /sms/json`` over https (the SDK speaks nothing else), as strict as Vonage.

- Request: form-encoded (or JSON) ``from``, ``to`` (E.164 digits, no ``+``), ``text``, ``type``
  (``text`` needs every character in GSM 03.38, checked with an independent codec, ``gsm0338``),
  ``client-ref`` (at most 100 characters), ``callback`` (at most 100), ``status-report-req``.
- Authentication: the account's ``api_key``/``api_secret`` as HTTP Basic (what the SDK sends) or as
  parameters. Wrong or missing: HTTP 200 with the part's ``status`` ``4`` (Invalid Credentials), as
  the SMS API answers. ``rotate_secret()`` makes a new API secret: the old one is refused from then on.
- Answer: HTTP 200 ``{"message-count": "N", "messages": [{"to", "message-id", "status": "0",
  "remaining-balance", "message-price", "network", "client-ref"}, ...]}``: one entry per part (160
  septets in one SMS, 153 per part beyond). A refused part has ``status`` and ``error-text``.
- Delivery receipts, one per part, to the message's ``callback`` (or ``receipt_url``), as JSON
  (the dashboard's "POST-JSON"), signed like Vonage's signed webhooks: ``sig`` over every other
  parameter with the signature secret and method, plus ``timestamp`` and ``nonce``:
  ``accepted`` then ``delivered`` (``err-code`` 0), ``failed`` (``err-code`` from ``FAILURE_CODES``)
  or ``expired`` (``err-code`` 2, absent subscriber).
- Inbound SMS (``inbound(number, text)``): the borrower texts our virtual number (``LOCAL_VIRTUAL_NUMBER``);
  the fake posts Vonage's inbound webhook to ``inbound_url`` (the dashboard's inbound URL), as JSON:
  ``msisdn``, ``to``, ``messageId``, ``text``, ``type`` (``text`` or ``unicode``), ``keyword`` (first word,
  upper case), ``message-timestamp``, signed like the receipts (``timestamp``, ``nonce``, ``sig``).
- Faults (the voice fake's modes, ``base.FakeProvider``): a ``429`` fault is answered the SMS API's
  way (HTTP 200, ``status`` ``1`` Throttled), ``500`` as a gateway 500; ``timeout``, ``answer_lost``,
  ``cut``, ``slow``; ``401`` (only by ``inject``: good credentials refused once, HTTP 401 with the
  API's problem body); receipts ``duplicate`` / ``reorder``. ``auth_refused`` counts every refusal
  (status 4 and 401), ``auth_failures`` the status-4 answers to wrong credentials.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from gsm0338 import Codec

from chalicelib.reminders.providers import E164_DIGITS
from chalicelib.reminders.sms_signatures import sign_sms_params
from localdev.fakes.provider import FakeProvider, Handled
from localdev.fakes.tls import local_tls
from localdev.fakes.voice import LOCAL_SIGNATURE_SECRET
from localdev.fakes.webhooks import Webhook

DEFAULT_MIX = (("delivered", 0.8), ("failed", 0.1), ("expired", 0.1))
# delivery receipt err-code for a failed message (Vonage, "Delivery receipt error codes")
FAILURE_CODES = ((1, "Unknown"), (6, "Anti-Spam Rejection"), (9, "Illegal Number"),
                 (12, "Destination Unreachable"), (14, "Number Blocked by Carrier"))
EXPIRED_CODE = 2  # Absent Subscriber - Temporary
LOCAL_API_KEY = "localkey"
LOCAL_API_SECRET = "local-sms-api-secret"  # noqa: S105 (the local fake's own values)
LOCAL_SIGNATURE_METHOD = "sha256"
LOCAL_VIRTUAL_NUMBER = "6281299990000"  # the long number borrowers text back (a Vonage virtual number)
SINGLE, PART = 160, 153
_GSM = Codec()


def _septets(text: str) -> list[int]:
    return [len(_GSM.encode(ch)[0]) for ch in text]


def parts_of(text: str) -> int:
    """How many SMS a GSM-7 text takes (3GPP TS 23.040: 160 septets, or 153 per concatenated part)."""
    sizes = _septets(text)
    if sum(sizes) <= SINGLE:
        return 1
    parts, used = 1, 0
    for size in sizes:
        if used + size > PART:
            parts, used = parts + 1, 0
        used += size
    return parts


def _part(status: str, text: str) -> dict[str, Any]:
    return {"message-count": "1", "messages": [{"status": status, "error-text": text}]}


class FakeSms(FakeProvider):
    channel = "sms"
    reference_field = "client-ref"

    def __init__(self, *, receipt_url: str = "", inbound_url: str = "", api_key: str = LOCAL_API_KEY,
                 api_secret: str = LOCAL_API_SECRET,
                 signature_secret: str = LOCAL_SIGNATURE_SECRET, signature_method: str = LOCAL_SIGNATURE_METHOD,
                 mix: tuple[tuple[str, float], ...] = DEFAULT_MIX, **kwargs: Any) -> None:
        context, self.ca_bundle = local_tls()
        super().__init__(tls=context, **kwargs)
        self.receipt_url = receipt_url
        self.inbound_url = inbound_url
        self.api_key = api_key
        self.api_secret = api_secret
        self.signature_secret = signature_secret
        self.signature_method = signature_method
        self.mix = mix
        self.auth_failures = 0
        self.auth_refused = 0
        self.receipts_sent = 0
        self.part_outcomes: dict[str, list[str]] = {}  # recipient -> final status per part (else one for all)
        self.refused_parts: dict[str, int] = {}       # recipient -> how many last parts the answer refuses

    def force_part_outcomes(self, recipient: str, outcomes: list[str]) -> None:
        """The final receipt of each part of the next messages to ``recipient`` (parts beyond the list: the last)."""
        with self._lock:
            self.part_outcomes[recipient] = list(outcomes)

    def refuse_parts(self, recipient: str, count: int = 1) -> None:
        """Messages to ``recipient`` go out half: the last ``count`` parts are refused in the answer (status 5,
        the SDK's ``PartialFailureError``) and get no receipt."""
        with self._lock:
            self.refused_parts[recipient] = count

    def env(self) -> dict[str, str]:
        """Settings that make the app's SmsClient and receipt route talk to this fake."""
        return {"SMS_API_URL": self.url, "VONAGE_API_KEY": self.api_key, "VONAGE_API_SECRET": self.api_secret,
                "VONAGE_SIGNATURE_SECRET": self.signature_secret, "VONAGE_SIGNATURE_METHOD": self.signature_method,
                "REQUESTS_CA_BUNDLE": self.ca_bundle}

    def rotate_secret(self) -> str:
        """A new API secret (Vonage's dashboard "create new secret", the old one deleted)."""
        fresh = secrets.token_urlsafe(12)
        with self._lock:
            self.api_secret = fresh
        return fresh

    # --- the request ---
    def parse_body(self, raw: bytes, content_type: str) -> dict[str, Any]:
        if content_type.startswith("application/json"):
            return super().parse_body(raw, content_type)
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
        except UnicodeDecodeError as exc:
            raise ValueError("not form-encoded UTF-8") from exc
        return dict(pairs)

    def fault_status(self, status: int) -> int:
        return 200 if status == 429 else status  # the SMS API says "throttled" in the answer's body

    def error_answer(self, status: int) -> dict[str, Any]:
        if status == 429:
            return _part("1", "Throttled")
        if status == 400:
            return _part("2", "Missing from param")
        return {"type": "https://developer.nexmo.com/api-errors#internal-error", "title": "Internal Error"}

    def auth_error_answer(self) -> dict[str, Any]:
        return {"type": "https://developer.nexmo.com/api-errors#unauthorized", "title": "Unauthorized",
                "detail": "You did not provide correct credentials."}

    def authorize(self, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]] | None:
        scheme, _, value = (headers.get("Authorization") or "").partition(" ")
        if not scheme:
            return None  # credentials may come as parameters: checked in handle()
        try:
            key, _, secret = base64.b64decode(value, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            key = secret = ""
        if scheme == "Basic" and self._good(key, secret):
            return None
        return 200, self._bad_credentials()

    def _good(self, key: str, secret: str) -> bool:
        with self._lock:
            expected = (self.api_key, self.api_secret)
        return hmac.compare_digest(f"{key}:{secret}".encode(), f"{expected[0]}:{expected[1]}".encode())

    def _bad_credentials(self) -> dict[str, Any]:
        """Status 4; counted in ``auth_failures`` (``auth_refused`` also counts injected ``401`` blips: the
        base class counts a refusal by ``authorize``, ``handle`` one by parameters)."""
        with self._lock:
            self.auth_failures += 1
        return _part("4", "Bad Credentials")

    def webhook_headers(self, body: bytes) -> dict[str, str]:
        return {}  # the signature is in the body (``sig``)

    def handle(self, path: str, body: dict[str, Any]) -> Handled:
        if path.split("?", 1)[0] != "/sms/json":
            return Handled(404, {"title": "Not Found"}, [], "http_404", None)
        if "api_key" in body or "api_secret" in body:
            if not self._good(str(body.get("api_key", "")), str(body.get("api_secret", ""))):
                with self._lock:
                    self.auth_refused += 1
                return Handled(200, self._bad_credentials(), [], "status_4", None)
        problem = self._problem(body)
        if problem is not None:
            return Handled(200, _part(*problem), [], f"status_{problem[0]}", None)
        to, text, ref = str(body["to"]), str(body["text"]), str(body.get("client-ref") or "")
        count = parts_of(text)
        with self._lock:
            refused = min(self.refused_parts.get(to, 0), count - 1) if count > 1 else 0
            per_part = list(self.part_outcomes.get(to, ()))
        ids = [f"{uuid.uuid4().hex[:16].upper()}" for _ in range(count - refused)]
        outcome = self.pick_outcome(self.mix, to, ref or ids[0])
        finals = [per_part[min(i, len(per_part) - 1)] if per_part else outcome for i in range(len(ids))]
        url = str(body.get("callback") or self.receipt_url)
        hooks = []
        if url and str(body.get("status-report-req", "true")).lower() not in ("false", "0"):
            for message_id, final in zip(ids, finals, strict=True):
                hooks += [self._receipt(url, body, message_id, status) for status in ("accepted", final)]
        common = {"to": to, "remaining-balance": "15.53590000", "message-price": "0.03330000", "network": "51010",
                  **({"client-ref": ref} if ref else {})}
        answer = {"message-count": str(count), "messages": [
            *({**common, "message-id": mid, "status": "0"} for mid in ids),
            *({"to": to, "status": "5", "error-text": "Internal Error"} for _ in range(refused))]}
        if per_part or refused:  # the message as a whole: delivered only if every part was
            outcome = "failed" if refused else next((f for f in finals if f != "delivered"), "delivered")
        return Handled(200, answer, hooks, outcome, ids[0])

    @staticmethod
    def _problem(body: dict[str, Any]) -> tuple[str, str] | None:
        for name in ("from", "to", "text"):
            if not body.get(name):
                return "2", f"Missing {name} param"
        if not E164_DIGITS.match(str(body["to"])):
            return "3", "Invalid to param"
        if len(str(body.get("client-ref") or "")) > 100:
            return "3", "client-ref is longer than 100 characters"
        if len(str(body.get("callback") or "")) > 100 or (body.get("callback")
                                                           and not str(body["callback"]).startswith("http")):
            return "23", "Invalid Callback Url"
        kind = str(body.get("type") or "text")
        if kind not in ("text", "unicode", "binary"):
            return "3", "Invalid type param"
        if kind == "text":
            try:
                _GSM.encode(str(body["text"]))
            except UnicodeEncodeError:
                return "6", "Invalid Message: text has characters outside GSM 03.38"
        return None

    def inbound(self, number: str, text: str, *, to: str = LOCAL_VIRTUAL_NUMBER, url: str | None = None) -> str:
        """``number`` texts ``text`` to our number: Vonage's signed inbound webhook (queued); its messageId."""
        target = url or self.inbound_url
        if not target:
            raise ValueError("the fake has no inbound_url")
        now = time.time()
        stamp = datetime.fromtimestamp(now, UTC)
        message_id = f"{uuid.uuid4().hex[:16].upper()}"
        try:
            _GSM.encode(text)
            kind = "text"
        except UnicodeEncodeError:
            kind = "unicode"
        words = text.split()
        params = {"msisdn": number, "to": to, "messageId": message_id, "text": text, "type": kind,
                  "keyword": words[0].upper() if words else "",
                  "message-timestamp": stamp.strftime("%Y-%m-%d %H:%M:%S"), "timestamp": str(int(now)),
                  "nonce": str(uuid.uuid4())}
        params["sig"] = sign_sms_params(params, self.signature_secret, self.signature_method)
        self._enqueue([Webhook(target, json.dumps(params).encode())], number)
        return message_id

    def _receipt(self, url: str, body: dict[str, Any], message_id: str, status: str) -> Webhook:
        now = time.time()
        err = 0
        if status == "failed":
            err = FAILURE_CODES[sum(message_id.encode()) % len(FAILURE_CODES)][0]
        elif status == "expired":
            err = EXPIRED_CODE
        stamp = datetime.fromtimestamp(now, UTC)
        params = {"msisdn": str(body["to"]), "to": str(body["from"]), "network-code": "51010",
                  "messageId": message_id, "price": "0.03330000", "status": status,
                  "scts": stamp.strftime("%y%m%d%H%M"), "err-code": str(err), "api-key": self.api_key,
                  "message-timestamp": stamp.strftime("%Y-%m-%d %H:%M:%S"), "timestamp": str(int(now)),
                  "nonce": str(uuid.uuid4())}
        if body.get("client-ref"):
            params["client-ref"] = str(body["client-ref"])
        params["sig"] = sign_sms_params(params, self.signature_secret, self.signature_method)
        with self._lock:
            self.receipts_sent += 1
        return Webhook(url, json.dumps(params).encode())

