"""``POST /v1/callbacks/sms/inbound``: SMS a borrower sends to our Vonage number (SMS API inbound webhook).

Vonage posts each inbound SMS to the number's (or the account's) inbound webhook URL, as JSON
("POST-JSON") or a form ("POST"): ``msisdn`` (the sender), ``to`` (our virtual number), ``messageId``,
``text``, ``type`` (``text`` / ``unicode`` / ``binary``), ``keyword`` (the first word, upper case),
``message-timestamp`` and, signed webhooks being on, ``timestamp``, ``nonce`` and ``sig``: the same
signing as the delivery receipts (``chalicelib.reminders.sms_signatures``: the account's signature
secret and method; during a rotation the current or the previous secret, ``secrets.verified_with``), so
one secret and one rule serve both routes.

- unsigned, wrongly signed, signed with another method or outside the 5 minute window: 401, nothing
  read or written;
- signed, without ``messageId`` or ``msisdn``: 400;
- otherwise the message is stored once per ``messageId`` (a redelivered webhook changes nothing): an
  opt-out keyword (``OPT_OUT_KEYWORDS``: BERHENTI, STOP, UNSUBSCRIBE; the whole text, any case, trimmed)
  opts the number out of SMS and, when that changed its state, asks the SMS dispatch function for one
  confirmation SMS (``chalicelib.reminders.opt_out``); any other text is kept for customer service.
  200 ``{"inbound": 1, "opt_out": 0|1, "replies_requested": 0|1}``. Vonage resends an inbound message
  that is not answered 2xx for 24 hours: the database out of reach, or the confirmation not queued, is a 503.

A concatenated message (``concat``, ``concat-ref``, ``concat-part``...) arrives as one webhook per part,
each stored on its own; an opt-out keyword is one word and never needs two parts.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from chalice import Blueprint

from chalicelib import settings
from chalicelib.contact_data import inbound
from chalicelib.contact_data.inbound import InboundText
from chalicelib.http.db_conn import request_connection
from chalicelib.http.errors import BadRequest, ServiceUnavailable, json_errors
from chalicelib.http.sms_webhooks import verified_sms_webhook
from chalicelib.logs import get_logger
from chalicelib.reminders import metrics
from chalicelib.reminders.opt_out import receive_inbound

sms_inbound = Blueprint(__name__)
logger = get_logger("reminders")
TEXT_TYPES = ("text", "unicode")


def inbound_text(message: dict[str, str]) -> InboundText:
    """The stored form of a verified inbound SMS (binary messages have no text)."""
    text = message.get("text") if message.get("type", "text") in TEXT_TYPES else None
    return InboundText(message["messageId"], message["msisdn"], text,
                       inbound.timestamp(message.get("timestamp")))


@sms_inbound.route("/v1/callbacks/sms/inbound", methods=["POST"],
                   content_types=["application/json", "application/x-www-form-urlencoded"])
@json_errors
def sms_inbound_message() -> dict[str, Any]:
    message = verified_sms_webhook(sms_inbound.current_request, "inbound message")
    if not message.get("messageId") or not message.get("msisdn"):
        raise BadRequest("messageId and msisdn are required")
    try:
        with request_connection() as conn:
            counts = receive_inbound(conn, [inbound_text(message)], channel=inbound.SMS,
                                     words=inbound.keywords(settings.api_settings().opt_out_keywords))
    except (BotoCoreError, ClientError) as exc:
        raise ServiceUnavailable("could not queue the opt-out confirmation; deliver again") from exc
    metrics.emit({"channel": "sms", "result": "opt_out" if counts["opt_out"] else "inbound"},
                 {metrics.CALLBACKS_RECEIVED: 1})
    return counts
