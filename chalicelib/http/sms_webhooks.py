"""What the two Vonage SMS API webhooks (delivery receipts, inbound messages) share: the body, JSON
("POST-JSON") or a form ("POST"), and its signature (``chalicelib.reminders.sms_signatures``: the
account's signature secret and method; during a rotation the current or the previous secret,
``secrets.verified_with``), checked before anything in it is read.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from chalice.app import Request

from chalicelib import settings
from chalicelib.http.errors import Unauthorized
from chalicelib.reminders import metrics
from chalicelib.reminders.secrets import verified_with
from chalicelib.reminders.signatures import InvalidSignature
from chalicelib.reminders.sms_signatures import InvalidSmsSignature, verify_sms_signature


def _params(raw: bytes, content_type: str, what: str) -> dict[str, Any]:
    """The webhook's parameters (JSON object or form); ``Unauthorized`` when it cannot carry a signature."""
    try:
        if content_type.lower().startswith("application/json"):
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("not an object")
            return body
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except (ValueError, RecursionError) as exc:
        raise Unauthorized(f"not a signed Vonage {what}") from exc


def verified_sms_webhook(request: Request, what: str) -> dict[str, Any]:
    """The signed parameters of a Vonage SMS API webhook; ``Unauthorized`` (401) when the signature fails."""
    raw = request.raw_body or b""
    params = _params(raw if isinstance(raw, bytes) else raw.encode(), request.headers.get("Content-Type") or "", what)
    try:
        method = settings.api_settings().vonage_signature_method
        return verified_with("VONAGE_SIGNATURE_SECRET", lambda secret: verify_sms_signature(params, secret, method),
                             refused=(InvalidSmsSignature, InvalidSignature))
    except (InvalidSmsSignature, InvalidSignature) as exc:
        metrics.emit({"channel": "sms", "result": "refused"}, {metrics.CALLBACKS_RECEIVED: 1})
        raise Unauthorized(f"invalid Vonage signature: {exc}") from exc
