"""``POST /v1/callbacks/sms``: Vonage SMS API delivery receipts, verified before anything is read.

Vonage posts a receipt per message part to the ``callback`` URL of the SMS (or the dashboard's),
as JSON ("POST-JSON") or form-encoded ("POST"): ``messageId``, ``status``, ``err-code``,
``client-ref`` (our reference), ``msisdn``… and, signed webhooks being on, ``timestamp``, ``nonce``
and ``sig`` (``chalicelib.reminders.sms_signatures``: the SMS API's scheme, not the Voice JWT).

- unsigned, wrongly signed, signed with another method or outside the 5 minute window: 401, nothing
  read or written;
- signed, without ``messageId`` or ``status``: 400;
- signed, without our reference (``client-ref``: a message not sent by this system): 200, skipped
  (Vonage retries a receipt that is not answered 2xx);
- signed, with a reference in our format without our MAC or whose MAC does not verify
  (``chalicelib.reminders.references``), or a message id already bound to another payment's entry:
  200, ``refused``, nothing changes;
- a final receipt's ``nonce`` is accepted once while its ``timestamp`` is in the window (the replay cache,
  ``chalicelib.reminders.replay``): a replay is a 409 ``replayed`` (a 5xx gives the nonce back); a
  receipt that is not final (``accepted``, ``buffered``, ``unknown``) changes and reads nothing, so its
  nonce is not kept;
- otherwise the receipt's final status is recorded once in the ledger (``apply_sms_status``).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from chalice import Blueprint

from chalicelib import settings
from chalicelib.http.errors import BadRequest, Conflict, ServiceUnavailable, Unauthorized, json_errors
from chalicelib.logs import get_logger
from chalicelib.reminders import metrics, references
from chalicelib.reminders.outcomes import (
    CallbackRef,
    OutcomeNotReady,
    ProviderIdTaken,
    apply_sms_status,
    sms_outcome,
)
from chalicelib.reminders.replay import DynamoReplayCache, sms_nonce_key
from chalicelib.reminders.secrets import verified_with
from chalicelib.reminders.signatures import InvalidSignature
from chalicelib.reminders.sms_signatures import InvalidSmsSignature, verify_sms_signature
from chalicelib.reminders.store import Outcome
from chalicelib.reminders.store.dynamo import DynamoReminderStore

sms_callbacks = Blueprint(__name__)
logger = get_logger("reminders")


def _params(raw: bytes, content_type: str) -> dict[str, Any]:
    """The receipt's parameters (JSON object or form); ``Unauthorized`` when it cannot carry a signature."""
    try:
        if content_type.lower().startswith("application/json"):
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("not an object")
            return body
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except (ValueError, RecursionError) as exc:
        raise Unauthorized("not a signed Vonage delivery receipt") from exc


def _unsigned_reference(reference: str) -> bool:
    try:
        CallbackRef.decode(reference)
    except ValueError:
        return False
    return True


@sms_callbacks.route("/v1/callbacks/sms", methods=["POST"],
                     content_types=["application/json", "application/x-www-form-urlencoded"])
@json_errors
def sms_receipt() -> dict[str, Any]:
    request = sms_callbacks.current_request
    raw = request.raw_body or b""
    params = _params(raw if isinstance(raw, bytes) else raw.encode(), request.headers.get("Content-Type") or "")
    try:
        method = settings.api_settings().vonage_signature_method
        receipt = verified_with("VONAGE_SIGNATURE_SECRET", lambda secret: verify_sms_signature(params, secret, method),
                                refused=(InvalidSmsSignature, InvalidSignature))
    except (InvalidSmsSignature, InvalidSignature) as exc:
        metrics.emit({"channel": "sms", "result": "refused"}, {metrics.CALLBACKS_RECEIVED: 1})
        raise Unauthorized(f"invalid Vonage signature: {exc}") from exc
    message_id, status = receipt.get("messageId"), receipt.get("status")
    if not message_id or not status:
        raise BadRequest("messageId and status are required")
    error_code = receipt.get("err-code")
    reference = receipt.get("client-ref") or ""
    try:
        references.split(reference)
    except references.InvalidReference:
        if _unsigned_reference(reference):  # our format without our MAC: what the attack would send
            logger.warning("sms receipt refused: reference not signed by us", extra={"status": status})
            return {"refused": 1, "status": status, "outcome": None}
        logger.info("sms receipt without our reference skipped", extra={"status": status})
        return {"skipped": 1, "status": status, "outcome": None}
    try:
        ref = references.verify_current(reference)
    except references.ReferenceKeyMissing as exc:
        raise ServiceUnavailable("callback reference key is not configured") from exc
    except references.InvalidReference:
        logger.warning("sms receipt refused: reference not signed by us", extra={"status": status})
        return {"refused": 1, "status": status, "outcome": None}
    if sms_outcome(status) is None:  # accepted, buffered…: changes nothing, reads nothing (the replay cache neither)
        return _answer(ref, status, apply_sms_status(DynamoReminderStore(), ref, message_id, status), error_code)
    replay = DynamoReplayCache()
    token, until = sms_nonce_key(receipt)
    if not replay.first_use(token, until):
        logger.warning("sms receipt refused: nonce replayed", extra={"payment_id": ref.payment_id})
        raise Conflict("this receipt's nonce was already used", code="replayed")
    try:
        outcome = apply_sms_status(DynamoReminderStore(), ref, message_id, status)
    except ProviderIdTaken:
        return {"refused": 1, "status": status, "outcome": None}
    except OutcomeNotReady as exc:
        replay.release(token)
        raise ServiceUnavailable(str(exc)) from exc
    except Exception:
        replay.release(token)
        raise
    return _answer(ref, status, outcome, error_code)


def _answer(ref: CallbackRef, status: str, outcome: Outcome | None, error_code: str | None) -> dict[str, Any]:
    return {"payment_id": ref.payment_id, "stage": str(ref.stage), "status": status, "outcome": outcome,
            "error_code": int(error_code) if error_code and error_code.isdigit() else None}
