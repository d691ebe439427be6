"""Fake Vonage Voice API: ``POST /v1/calls`` (NCCO talk action + event_url), status callbacks to the event URL.

Answers ``201 {"uuid", "status": "started", "direction": "outbound", "conversation_uuid"}``, then posts
one signed final status event (``human``, ``machine``, ``busy``, ``unanswered``, ``failed``) to
``event_url[0]``.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from localdev.fake_providers.base import FakeProvider

DEFAULT_MIX = (("human", 0.45), ("machine", 0.15), ("busy", 0.10), ("unanswered", 0.20), ("failed", 0.10))


class FakeVoice(FakeProvider):
    channel = "robocall"

    def __init__(self, *, mix: tuple[tuple[str, float], ...] = DEFAULT_MIX, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mix = mix

    def recipient(self, body: dict[str, Any]) -> str | None:
        try:
            return str(body["to"][0]["number"])
        except (KeyError, IndexError, TypeError):
            return None

    def handle(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], tuple[str, bytes] | None, str,
                                                              str | None]:
        problems = []
        if path != "/v1/calls":
            return 404, {"title": "Not Found"}, None, "http_404", None
        to = self.recipient(body)
        if not to:
            problems.append("to[0].number is required")
        ncco = body.get("ncco")
        if not (isinstance(ncco, list) and ncco and ncco[0].get("action") == "talk" and ncco[0].get("text")):
            problems.append("ncco must start with a talk action with text")
        event_url = body.get("event_url") or []
        if not (isinstance(event_url, list) and event_url and str(event_url[0]).startswith("http")):
            problems.append("event_url must be a list with one URL")
        if problems:
            return 400, {"title": "Bad Request", "invalid_parameters": problems}, None, "http_400", None
        call_uuid, conversation = str(uuid.uuid4()), f"CON-{uuid.uuid4()}"
        outcome = self.pick_outcome(self.mix, str(to), str(event_url[0]))
        event = {"uuid": call_uuid, "conversation_uuid": conversation, "status": outcome, "direction": "outbound",
                 "from": body.get("from", {}).get("number"), "to": to,
                 "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
        answer = {"uuid": call_uuid, "status": "started", "direction": "outbound", "conversation_uuid": conversation}
        return 201, answer, (str(event_url[0]), json.dumps(event).encode()), outcome, call_uuid
