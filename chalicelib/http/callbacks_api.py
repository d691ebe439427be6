"""Provider webhooks, each verified the way its provider signs it, before anything is read.

- ``POST /v1/callbacks/robocall``: Vonage Voice event webhook. ``Authorization: Bearer <JWT>``
  (HS256, ``VONAGE_SIGNATURE_SECRET``) whose ``payload_hash`` is the SHA-256 of the raw body and
  whose ``iat`` is within 5 minutes. Anything else (including a Meta ``X-Hub-Signature-256``) is
  a 401 and changes nothing. Our reference is the ``ref`` query parameter of the event URL, signed
  by us (``chalicelib.reminders.references``): Vonage's signature covers the body, not the URL, so
  a reference whose MAC does not verify is a 403. A final status's token (``jti``) is accepted once:
  a replay is a 409 ``replayed``; a progress status (``started``, ``ringing``, ``answered``) changes
  and reads nothing, so its token is not kept (three of an answered call's five events cost no AWS
  call). A call id already bound to another payment's entry is a 409 ``conflict``.
  Nothing is read from or written to the ledger or PostgreSQL before these checks pass.
- ``GET /v1/callbacks/whatsapp``: Meta's subscription handshake: ``hub.mode=subscribe`` and
  ``hub.verify_token`` equal to ``WHATSAPP_VERIFY_TOKEN`` → 200 ``hub.challenge`` as text/plain;
  otherwise 403.
- ``POST /v1/callbacks/whatsapp``: ``X-Hub-Signature-256`` with ``WHATSAPP_APP_SECRET``. Statuses
  without our signed reference (``biz_opaque_callback_data``) are skipped and counted, never a 4xx
  (Meta retries failed webhooks and can disable the subscription); so are statuses whose reference
  does not verify or whose message id is bound to another payment's entry (counted as ``refused``).
  Meta's signature covers the whole body, reference included, and carries no token id: a replayed
  body repeats statuses the ledger has already recorded once, which change nothing. A body that is
  JSON but not the shape Meta documents (``whatsapp_webhook.schema.json``) is a 400 and changes nothing.
  Inbound messages (``value.messages``) are stored; an opt-out keyword opts the number out of
  WhatsApp and earns one confirmation reply (``chalicelib.reminders.opt_out``).

Every signed body that is JSON but not the provider's shape (nested deeper than the parser goes,
a documented field of another type, a required field missing) is a JSON 400, never a 500.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from chalice import Blueprint, Response

from chalicelib import settings
from chalicelib.contact_data.inbound import InboundText, keywords, timestamp
from chalicelib.http.db_conn import request_connection
from chalicelib.http.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    ServiceUnavailable,
    Unauthorized,
    json_errors,
)
from chalicelib.logs import get_logger
from chalicelib.reminders import references
from chalicelib.reminders.opt_out import receive_inbound
from chalicelib.reminders.outcomes import (
    CallbackRef,
    OutcomeNotReady,
    ProviderIdTaken,
    apply_robocall_status,
    apply_whatsapp_status,
    robocall_outcome,
)
from chalicelib.reminders.providers import MalformedWebhook, WhatsAppInbound, whatsapp_messages, whatsapp_statuses
from chalicelib.reminders.replay import DynamoReplayCache, vonage_token_key
from chalicelib.reminders.secrets import provider_secret, verified_with
from chalicelib.reminders.signatures import SIGNATURE_HEADER, InvalidSignature, require, verify, verify_vonage
from chalicelib.reminders.store.dynamo import DynamoReminderStore

callbacks = Blueprint(__name__)
logger = get_logger("reminders")


def _raw_body() -> bytes:
    raw = callbacks.current_request.raw_body or b""
    return raw.encode() if isinstance(raw, str) else raw


def _query() -> dict[str, str]:
    return dict(callbacks.current_request.query_params or {})


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise BadRequest("body must be JSON") from exc
    except RecursionError as exc:  # no provider nests its webhooks that deep
        raise BadRequest("body is JSON nested too deep") from exc
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def _verified(text: str) -> CallbackRef:
    """The reference we signed, or ``InvalidReference``; 503 when no key is configured."""
    try:
        return references.verify_current(text)
    except references.ReferenceKeyMissing as exc:
        raise ServiceUnavailable("callback reference key is not configured") from exc


def _ref(text: str | None) -> CallbackRef:
    """The reference we signed (403 when its MAC does not verify: not one we gave out)."""
    if not text:
        raise BadRequest("missing callback reference")
    try:
        return _verified(text)
    except references.InvalidReference as exc:
        logger.warning("callback refused: reference not signed by us", extra={"reason": str(exc)})
        raise Forbidden(f"callback reference refused: {exc}") from exc


@callbacks.route("/v1/callbacks/robocall", methods=["POST"])
@json_errors
def robocall_callback() -> dict[str, Any]:
    request = callbacks.current_request
    raw = _raw_body()
    try:
        claims = verified_with("VONAGE_SIGNATURE_SECRET",
                               lambda secret: verify_vonage(secret, raw, request.headers.get("Authorization")))
    except InvalidSignature as exc:
        raise Unauthorized(f"invalid Vonage signature: {exc}") from exc
    body = _json_object(raw)
    ref = _ref(_query().get("ref"))
    call_uuid, status = body.get("uuid"), body.get("status")
    if not isinstance(call_uuid, str) or not isinstance(status, str):
        raise BadRequest("uuid and status are required")
    if robocall_outcome(status) is None:  # progress: changes nothing, reads nothing (the replay cache neither)
        apply_robocall_status(request_connection, DynamoReminderStore(), ref, call_uuid, status)
        return {"payment_id": ref.payment_id, "stage": str(ref.stage), "status": status, "outcome": None}
    replay = DynamoReplayCache()
    token, until = vonage_token_key(claims)
    if not replay.first_use(token, until):
        logger.warning("callback refused: webhook token replayed", extra={"payment_id": ref.payment_id,
                                                                          "stage": str(ref.stage)})
        raise Conflict("this webhook token was already used", code="replayed")
    try:
        outcome = apply_robocall_status(request_connection, DynamoReminderStore(), ref, call_uuid, status)
    except ProviderIdTaken as exc:
        raise Conflict(str(exc)) from exc
    except OutcomeNotReady as exc:
        replay.release(token)  # the provider retries; the same token may come back
        raise ServiceUnavailable(str(exc)) from exc
    except Exception:
        replay.release(token)
        raise
    return {"payment_id": ref.payment_id, "stage": str(ref.stage), "status": status, "outcome": outcome}


@callbacks.route("/v1/callbacks/whatsapp", methods=["GET"])
@json_errors
def whatsapp_subscribe() -> Response:
    params = _query()
    expected = provider_secret("WHATSAPP_VERIFY_TOKEN")
    token = params.get("hub.verify_token") or ""
    challenge = params.get("hub.challenge")
    if (params.get("hub.mode") != "subscribe" or not expected or challenge is None
            or not hmac.compare_digest(token.encode(), expected.encode())):
        raise Forbidden("verification failed")
    return Response(body=challenge, status_code=200, headers={"Content-Type": "text/plain"})


@callbacks.route("/v1/callbacks/whatsapp", methods=["POST"])
@json_errors
def whatsapp_callback() -> dict[str, Any]:
    request = callbacks.current_request
    raw = _raw_body()
    try:
        verified_with("WHATSAPP_APP_SECRET", lambda secret: require(verify(secret, raw, request.headers.get(
            SIGNATURE_HEADER))))
    except InvalidSignature as exc:
        raise Unauthorized("invalid or missing signature") from exc
    try:
        body = _json_object(raw)
        statuses, messages = whatsapp_statuses(body), whatsapp_messages(body)
    except MalformedWebhook as exc:
        raise BadRequest(str(exc)) from exc
    inbound = _receive_inbound(messages) if messages else {}
    ledger = DynamoReminderStore()
    recorded: list[dict[str, Any]] = []
    skipped = refused = 0
    for status in statuses:
        try:
            references.split(status.reference or "")
        except references.InvalidReference:
            skipped += 1  # not a message we sent (or not through this system): nothing to record
            continue
        try:
            ref = _verified(status.reference or "")
            outcome = apply_whatsapp_status(ledger, ref, status.message_id, status.status)
        except (references.InvalidReference, ProviderIdTaken) as exc:
            refused += 1  # looks like ours but is not: a forged reference or a cross-bound message id
            logger.warning("whatsapp status refused", extra={"reason": type(exc).__name__})
            continue
        except OutcomeNotReady as exc:
            raise ServiceUnavailable(str(exc)) from exc
        recorded.append({"payment_id": ref.payment_id, "status": status.status, "outcome": outcome,
                         "error_code": status.error_code, "error_kind": status.error_kind})
    if skipped:
        logger.info("whatsapp statuses without our reference skipped", extra={"skipped": skipped})
    return {"statuses": recorded, "skipped": skipped, "refused": refused, **inbound}


def _receive_inbound(messages: list[WhatsAppInbound]) -> dict[str, int]:
    """Inbound texts: stored; an opt-out keyword opts the number out of WhatsApp and asks for one
    confirmation reply (a failure here is a 503: Meta delivers the webhook again, nothing twice)."""
    texts = [InboundText(m.message_id, m.sender, m.text, timestamp(m.timestamp)) for m in messages]
    try:
        with request_connection() as conn:
            return receive_inbound(conn, texts, words=keywords(settings.api_settings().opt_out_keywords))
    except (BotoCoreError, ClientError) as exc:
        raise ServiceUnavailable("could not queue the opt-out confirmation; deliver again") from exc
