"""Fake WhatsApp Business Cloud API: ``POST /<version>/<phone-number-id>/messages`` with a template.

- Authentication: ``Authorization: Bearer <access token>``; otherwise ``401`` with a Graph error
  (``{"error": {"message", "type": "OAuthException", "code": 190, "fbtrace_id"}}``).
  ``rotate_token()`` regenerates the token: the old one is refused (401, code 190) from then on.
- Answer: ``200 {"messaging_product": "whatsapp", "contacts": [...], "messages": [{"id": "wamid..."}]}``.
- Webhooks only after the subscription handshake: before the first delivery the fake calls
  ``GET <webhook>?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`` and needs the challenge
  back (200); otherwise nothing is delivered (``callbacks_dropped``).
- Status webhooks, each signed ``X-Hub-Signature-256`` with the app secret: ``sent → delivered →
  read``, or ``sent → failed`` with an error code (``FAILURE_CODES``); and, at ``foreign_rate``, a
  status for a message we did not send (no ``biz_opaque_callback_data``).
- Rate limits answer ``400``/``429`` with code 130429 and ``Retry-After``; in strict mode
  (``strict_rate``) every message over that many in a rolling second gets ``429`` code 130429.
- Inbound messages: ``inbound(number, text)`` posts a signed ``messages`` webhook as if the user had
  written to us, and opens that number's 24-hour customer-service window; a free-form ``text``
  message is accepted only inside it (otherwise ``400`` code 131047, "Re-engagement message", as
  Meta answers).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

import requests

from chalicelib.reminders.signatures import SIGNATURE_HEADER, sign
from localdev.fakes.provider import FakeProvider, Handled
from localdev.fakes.webhooks import Webhook

DEFAULT_MIX = (("delivered", 0.45), ("read", 0.4), ("failed", 0.15))
FAILURE_CODES = ((131026, "Message undeliverable"), (131047, "Re-engagement message"),
                 (132001, "Template name does not exist in the translation"),
                 (131056, "(Business Account, Consumer Account) pair rate limit hit"))
PATH = re.compile(r"^/(v[0-9.]+/)?(?P<phone_number_id>[0-9]+)/messages$")
LOCAL_TOKEN = "local-whatsapp-token"  # noqa: S105 (the local fake's own values)
LOCAL_APP_SECRET = "local-whatsapp-app-secret"  # noqa: S105
LOCAL_VERIFY_TOKEN = "local-whatsapp-verify-token"  # noqa: S105
LOCAL_PHONE_NUMBER_ID = "100000000000001"  # not the docs sample: the dispatch cold start refuses that


def graph_error(code: int, message: str, kind: str = "OAuthException") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": code, "fbtrace_id": uuid.uuid4().hex[:22]}}


class FakeWhatsApp(FakeProvider):
    channel = "whatsapp"
    reference_field = "biz_opaque_callback_data"

    def __init__(self, *, webhook_url: str, app_secret: str = LOCAL_APP_SECRET, token: str = LOCAL_TOKEN,
                 verify_token: str = LOCAL_VERIFY_TOKEN, foreign_rate: float = 0.05,
                 mix: tuple[tuple[str, float], ...] = DEFAULT_MIX, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.webhook_url = webhook_url
        self.app_secret = app_secret
        self.token = token
        self.verify_token = verify_token
        self.foreign_rate = foreign_rate
        self.mix = mix
        self.subscribed = False
        self.handshakes = 0
        self.windows: dict[str, float] = {}  # number -> when its customer-service window opened
        self._subscribe_lock = threading.Lock()

    def env(self) -> dict[str, str]:
        """Settings that make the app's WhatsAppClient and webhook routes talk to this fake."""
        return {"WHATSAPP_API_URL": f"{self.url}/v19.0", "WHATSAPP_API_TOKEN": self.token,
                "WHATSAPP_APP_SECRET": self.app_secret, "WHATSAPP_VERIFY_TOKEN": self.verify_token,
                "WHATSAPP_PHONE_NUMBER_ID": LOCAL_PHONE_NUMBER_ID}

    def error_answer(self, status: int) -> dict[str, Any]:
        if status == 429:
            return graph_error(130429, "Rate limit hit", "OAuthException")
        if status == 400:
            return graph_error(100, "(#100) Invalid parameter")
        return graph_error(1, "An unknown error occurred", "OAuthException")

    def auth_error_answer(self) -> dict[str, Any]:
        return graph_error(190, "Error validating access token: Session has expired.")

    def authorize(self, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]] | None:
        with self._lock:
            valid = headers.get("Authorization") == f"Bearer {self.token}"
        if not valid:
            return 401, graph_error(190, "Invalid OAuth access token.")
        return None

    def rotate_token(self) -> str:
        """A new access token (a system user's token regenerated): the old one is refused from now on."""
        with self._lock:
            self.token = f"{LOCAL_TOKEN}-{secrets.token_hex(8)}"
            return self.token

    def webhook_headers(self, body: bytes) -> dict[str, str]:
        return {SIGNATURE_HEADER: sign(self.app_secret, body)}

    def subscribe(self, session: requests.Session | None = None) -> bool:
        """Meta's verification request; webhooks are delivered only once it succeeded."""
        with self._subscribe_lock:
            if self.subscribed:
                return True
            challenge = secrets.token_hex(8)
            self.handshakes += 1
            try:
                resp = (session or requests).get(self.webhook_url, timeout=10, params={
                    "hub.mode": "subscribe", "hub.verify_token": self.verify_token, "hub.challenge": challenge})
                self.subscribed = resp.status_code == 200 and resp.text == challenge
            except requests.RequestException:
                self.subscribed = False
            return self.subscribed

    def before_delivery(self, session: requests.Session) -> bool:
        return self.subscribe(session)

    def inbound(self, number: str, text: str, phone_number_id: str = LOCAL_PHONE_NUMBER_ID) -> str:
        """The user ``number`` writes ``text`` to us: a signed ``messages`` webhook; its message id."""
        message_id = f"wamid.{uuid.uuid4().hex}"
        with self._lock:
            self.windows[number] = time.time()
        item = {"from": number, "id": message_id, "timestamp": str(int(time.time())), "type": "text",
                "text": {"body": text}}
        payload = {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages",
                   "value": {"messaging_product": "whatsapp",
                             "metadata": {"display_phone_number": "622150851234", "phone_number_id": phone_number_id},
                             "contacts": [{"profile": {"name": "Borrower"}, "wa_id": number}],
                             "messages": [item]}}]}]}
        self._enqueue([Webhook(self.webhook_url, json.dumps(payload).encode())], number)
        return message_id

    def _text(self, phone_number_id: str, body: dict[str, Any]) -> Handled:
        to = str(body.get("to") or "")
        text = body.get("text") or {}
        if not to.isdigit() or not isinstance(text, dict) or not isinstance(text.get("body"), str) \
                or not text["body"]:
            return Handled(400, graph_error(100, "(#100) Invalid parameter"), [], "http_400", None)
        with self._lock:
            opened = self.windows.get(to)
        if opened is None or time.time() - opened > 24 * 3600:
            return Handled(400, graph_error(131047, "Re-engagement message"), [], "http_400", None)
        message_id = f"wamid.{uuid.uuid4().hex}"
        hooks = [self._hook(phone_number_id, message_id, s, to, "", i) for i, s in enumerate(("sent", "delivered"))]
        answer = {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                  "messages": [{"id": message_id}]}
        return Handled(200, answer, hooks, "delivered", message_id)

    def handle(self, path: str, body: dict[str, Any]) -> Handled:
        match = PATH.match(path)
        if not match:
            return Handled(404, graph_error(100, "Unknown path components"), [], "http_404", None)
        if body.get("messaging_product") == "whatsapp" and body.get("type") == "text":
            return self._text(match.group("phone_number_id"), body)
        template = body.get("template") or {}
        if body.get("messaging_product") != "whatsapp" or body.get("type") != "template" or not template.get("name") \
                or not body.get("to") or not str(body["to"]).isdigit():
            return Handled(400, graph_error(100, "(#100) Invalid parameter"), [], "http_400", None)
        to = str(body["to"])
        message_id = f"wamid.{uuid.uuid4().hex}"
        ref = str(body.get("biz_opaque_callback_data", ""))
        outcome = self.pick_outcome(self.mix, to, ref)
        sequence = ["sent", "delivered", "read"][:{"delivered": 2, "read": 3}.get(outcome, 1)]
        if outcome == "failed":
            sequence.append("failed")
        hooks = [self._hook(match.group("phone_number_id"), message_id, s, to, ref, i) for i, s in enumerate(sequence)]
        if self.pick_outcome((("foreign", self.foreign_rate), ("ours", 1.0)), to, ref + "|foreign") == "foreign":
            hooks.append(self._hook(match.group("phone_number_id"), f"wamid.{uuid.uuid4().hex}", "delivered",
                                    "6281100000000", "", 0))
        answer = {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                  "messages": [{"id": message_id}]}
        return Handled(200, answer, hooks, outcome, message_id)

    def _hook(self, phone_number_id: str, message_id: str, status: str, to: str, ref: str, seq: int) -> Webhook:
        item: dict[str, Any] = {"id": message_id, "status": status, "timestamp": str(int(time.time()) + seq),
                                "recipient_id": to}
        if ref:
            item["biz_opaque_callback_data"] = ref
        if status == "failed":
            # which error: seeded by the message, never by a forced outcome (that is the status, "failed")
            pick = hashlib.sha256(f"{self.seed}|{to}|{ref}|error".encode()).digest()[0] % len(FAILURE_CODES)
            code, title = FAILURE_CODES[pick]
            item["errors"] = [{"code": code, "title": title, "message": title,
                               "error_data": {"details": title}}]
        payload = {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages",
                   "value": {"messaging_product": "whatsapp",
                             "metadata": {"display_phone_number": "622150851234", "phone_number_id": phone_number_id},
                             "statuses": [item]}}]}]}
        return Webhook(self.webhook_url, json.dumps(payload).encode())
