"""Fake WhatsApp Business Cloud API: ``POST /<version>/<phone-number-id>/messages`` with a template.

Answers ``200 {"messaging_product": "whatsapp", "contacts": [...], "messages": [{"id": "wamid..."}]}``,
then posts a signed status webhook (``delivered``, ``read`` or ``failed``, with the message's
``biz_opaque_callback_data``) to the configured webhook URL, as Meta does.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from localdev.fake_providers.base import FakeProvider

DEFAULT_MIX = (("delivered", 0.6), ("read", 0.25), ("failed", 0.15))
PATH = re.compile(r"^/(v[0-9.]+/)?(?P<phone_number_id>[0-9]+)/messages$")


class FakeWhatsApp(FakeProvider):
    channel = "whatsapp"

    def __init__(self, *, webhook_url: str, mix: tuple[tuple[str, float], ...] = DEFAULT_MIX,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.webhook_url = webhook_url
        self.mix = mix

    def recipient(self, body: dict[str, Any]) -> str | None:
        to = body.get("to")
        return str(to) if to else None

    def handle(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], tuple[str, bytes] | None, str,
                                                              str | None]:
        match = PATH.match(path)
        if not match:
            return 404, {"error": {"message": "Unknown path", "code": 100}}, None, "http_404", None
        template = body.get("template") or {}
        if body.get("messaging_product") != "whatsapp" or body.get("type") != "template" or not template.get("name") \
                or not body.get("to"):
            return 400, {"error": {"message": "(#100) Invalid parameter", "code": 100}}, None, "http_400", None
        to = str(body["to"])
        message_id = f"wamid.{uuid.uuid4().hex}"
        outcome = self.pick_outcome(self.mix, to, str(body.get("biz_opaque_callback_data", "")))
        status: dict[str, Any] = {"id": message_id, "status": outcome, "timestamp": str(int(time.time())),
                                  "recipient_id": to}
        if body.get("biz_opaque_callback_data"):
            status["biz_opaque_callback_data"] = body["biz_opaque_callback_data"]
        if outcome == "failed":
            status["errors"] = [{"code": 131026, "title": "Message undeliverable"}]
        webhook = {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages",
                   "value": {"messaging_product": "whatsapp",
                             "metadata": {"phone_number_id": match.group("phone_number_id")},
                             "statuses": [status]}}]}]}
        answer = {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                  "messages": [{"id": message_id}]}
        return 200, answer, (self.webhook_url, json.dumps(webhook).encode()), outcome, message_id
