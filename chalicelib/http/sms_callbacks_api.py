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

from typing import Any

from chalice import Blueprint

from chalicelib.http.errors import BadRequest, Conflict, ServiceUnavailable, json_errors
from chalicelib.http.sms_webhooks import verified_sms_webhook
from chalicelib.logs import get_logger
from chalicelib.reminders import references
from chalicelib.reminders.outcomes import (
    CallbackRef,
    OutcomeNotReady,
    ProviderIdTaken,
    apply_sms_status,
    sms_outcome,
)
from chalicelib.reminders.replay import DynamoReplayCache, sms_nonce_key
from chalicelib.reminders.store import Outcome
from chalicelib.reminders.store.dynamo import DynamoReminderStore

sms_callbacks = Blueprint(__name__)
logger = get_logger("reminders")


def _unsigned_reference(reference: str) -> bool:
    try:
        CallbackRef.decode(reference)
    except ValueError:
        return False
    return True


def _our_reference(reference: str, status: str) -> CallbackRef | dict[str, Any]:
    """The receipt's verified reference, or the answer for a receipt that carries none of ours."""
    try:
        references.split(reference)
    except references.InvalidReference:
        if _unsigned_reference(reference):  # our format without our MAC: what the attack would send
            logger.warning("sms receipt refused: reference not signed by us", extra={"status": status})
            return {"refused": 1, "status": status, "outcome": None}
        logger.info("sms receipt without our reference skipped", extra={"status": status})
        return {"skipped": 1, "status": status, "outcome": None}
    try:
        return references.verify_current(reference)
    except references.ReferenceKeyMissing as exc:
        raise ServiceUnavailable("callback reference key is not configured") from exc
    except references.InvalidReference:
        logger.warning("sms receipt refused: reference not signed by us", extra={"status": status})
        return {"refused": 1, "status": status, "outcome": None}


@sms_callbacks.route("/v1/callbacks/sms", methods=["POST"],
                     content_types=["application/json", "application/x-www-form-urlencoded"])
@json_errors
def sms_receipt() -> dict[str, Any]:
    receipt = verified_sms_webhook(sms_callbacks.current_request, "delivery receipt")
    message_id, status = receipt.get("messageId"), receipt.get("status")
    if not message_id or not status:
        raise BadRequest("messageId and status are required")
    error_code = receipt.get("err-code")
    ref = _our_reference(receipt.get("client-ref") or "", status)
    if isinstance(ref, dict):
        return ref
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
