"""Provider status callbacks: ``POST /v1/callbacks/robocall`` and ``POST /v1/callbacks/whatsapp``.

Both verify the provider's HMAC-SHA256 signature of the raw body (``X-Hub-Signature-256``,
secrets ``VOICE_CALLBACK_SECRET`` / ``WHATSAPP_APP_SECRET``) before reading anything: a bad or
missing signature is a 401 and changes nothing. The ledger entry is found from the reference we
gave the provider (robocall: ``ref`` in our event URL; WhatsApp: ``biz_opaque_callback_data``)
and must carry the same call uuid / message id.
"""

from __future__ import annotations

import json
from typing import Any

from chalice import Blueprint

from chalicelib.http.db_conn import request_connection
from chalicelib.http.errors import BadRequest, ServiceUnavailable, Unauthorized, json_errors
from chalicelib.reminders.ledger import Ledger
from chalicelib.reminders.outcomes import CallbackRef, OutcomeNotReady, apply_robocall_status, apply_whatsapp_status
from chalicelib.reminders.secrets import provider_secret
from chalicelib.reminders.signatures import SIGNATURE_HEADER, verify

callbacks = Blueprint(__name__)


def _signed_json(secret_name: str) -> dict[str, Any]:
    request = callbacks.current_request
    raw = request.raw_body or b""
    if not verify(provider_secret(secret_name), raw, request.headers.get(SIGNATURE_HEADER)):
        raise Unauthorized("invalid or missing signature")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise BadRequest("body must be JSON") from exc
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def _ref(text: str | None) -> CallbackRef:
    if not text:
        raise BadRequest("missing callback reference")
    try:
        return CallbackRef.decode(text)
    except ValueError as exc:
        raise BadRequest("malformed callback reference") from exc


@callbacks.route("/v1/callbacks/robocall", methods=["POST"])
@json_errors
def robocall_callback() -> dict[str, Any]:
    body = _signed_json("VOICE_CALLBACK_SECRET")
    ref = _ref((callbacks.current_request.query_params or {}).get("ref"))
    call_uuid, status = body.get("uuid"), body.get("status")
    if not isinstance(call_uuid, str) or not isinstance(status, str):
        raise BadRequest("uuid and status are required")
    try:
        with request_connection() as conn:
            outcome = apply_robocall_status(conn, Ledger(), ref, call_uuid, status)
    except OutcomeNotReady as exc:
        raise ServiceUnavailable(str(exc)) from exc
    return {"payment_id": ref.payment_id, "stage": str(ref.stage), "status": status, "outcome": outcome}


@callbacks.route("/v1/callbacks/whatsapp", methods=["POST"])
@json_errors
def whatsapp_callback() -> dict[str, Any]:
    body = _signed_json("WHATSAPP_APP_SECRET")
    try:
        statuses = [s for entry in body.get("entry", []) for change in entry.get("changes", [])
                    for s in change.get("value", {}).get("statuses", [])]
    except (AttributeError, TypeError) as exc:
        raise BadRequest("not a WhatsApp webhook payload") from exc
    ledger = Ledger()
    recorded = []
    for status in statuses:
        if not isinstance(status, dict) or not status.get("id") or not status.get("status"):
            raise BadRequest("each status needs id and status")
        ref = _ref(status.get("biz_opaque_callback_data"))
        try:
            outcome = apply_whatsapp_status(ledger, ref, str(status["id"]), str(status["status"]))
        except OutcomeNotReady as exc:
            raise ServiceUnavailable(str(exc)) from exc
        recorded.append({"payment_id": ref.payment_id, "status": status["status"], "outcome": outcome})
    return {"statuses": recorded}
