"""The opt-out path: an inbound opt-out keyword (webhook, the API) → the number opted out of the channel it
wrote on and one confirmation reply on that channel, sent by that channel's dispatch function (it holds
the outbound credentials) from a message on its own queue: ``{"kind": "opt_out_reply", "message_id":
<inbound id>}`` on the WhatsApp queue, the same with ``"channel": "sms"`` on the SMS queue.

The WhatsApp reply is a free-form text inside the 24-hour window the user's own message opened (Meta's
customer-service window); the SMS reply answers the borrower's own text. Neither is a collection
contact, so each is sent at once, at any hour, without the contact policy's gate.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

import psycopg2.extensions

from chalicelib import resources, settings
from chalicelib.contact_data import inbound
from chalicelib.logs import get_logger
from chalicelib.reminders.messages import DISPATCH_QUEUES
from chalicelib.reminders.providers import Accepted, OutcomeUnknown, ProviderError, ProviderRejected, WhatsAppClient
from chalicelib.reminders.sms_provider import SmsClient
from chalicelib.reminders.stages import Channel

logger = get_logger("reminders")

REPLY_KIND = "opt_out_reply"
SMS_REPLY_REF = "opt-out-reply"  # the confirmation SMS's client-ref: not a reminder's (its receipts are skipped)
_QUEUE_OF = {inbound.WHATSAPP.name: Channel.WHATSAPP, inbound.SMS.name: Channel.SMS}


class ReplyQueue:
    """Puts reply messages on the dispatch queue of the channel the opt-out came in on."""

    def __init__(self, channel: inbound.InboundChannel = inbound.WHATSAPP) -> None:
        self.channel = channel
        self.url = resources.queue_url(DISPATCH_QUEUES[_QUEUE_OF[channel.name]])
        self.sqs = settings.aws_clients().client("sqs")

    def send(self, message_id: str) -> None:
        body: dict[str, str] = {"kind": REPLY_KIND, "message_id": message_id}
        if self.channel is not inbound.WHATSAPP:
            body["channel"] = self.channel.name
        self.sqs.send_message(QueueUrl=self.url, MessageBody=json.dumps(body))


def receive_inbound(conn: psycopg2.extensions.connection, messages: list[inbound.InboundText],
                    queue: ReplyQueue | None = None,
                    channel: inbound.InboundChannel = inbound.WHATSAPP,
                    words: frozenset[str] | None = None) -> dict[str, int]:
    """Store each message, apply opt-outs (``words``: the opt-out keywords), and ask for the replies owed;
    counts by kind."""
    counts = {"inbound": 0, "opt_out": 0, "replies_requested": 0}
    for message in messages:
        received = inbound.receive(conn, message, channel, words)
        counts["inbound"] += 1
        counts["opt_out"] += received.kind == "opt_out"
        if received.reply_pending:
            queue = queue or ReplyQueue(channel)
            queue.send(received.message_id)
            counts["replies_requested"] += 1
    logger.info(f"inbound {channel.name} messages", extra=counts)
    return counts


def is_reply(body: Any) -> bool:
    return isinstance(body, dict) and body.get("kind") == REPLY_KIND


def reply_channel(body: dict[str, Any]) -> inbound.InboundChannel:
    """The channel a reply message is for (a message without ``channel`` is WhatsApp's, as issue 19 wrote them)."""
    return inbound.CHANNELS.get(str(body.get("channel") or inbound.WHATSAPP.name), inbound.WHATSAPP)


TextSender = Callable[[str, str], Accepted]  # (phone, text) -> the provider's answer


class _Clients(Protocol):
    """What a dispatcher offers a reply: its provider clients (built on first use)."""

    @property
    def whatsapp(self) -> WhatsAppClient: ...

    @property
    def sms(self) -> SmsClient: ...

    @property
    def sms_receipt_url(self) -> str: ...


def text_sender(clients: _Clients, body: dict[str, Any]) -> TextSender:
    """How ``body``'s confirmation goes out: a WhatsApp text, or an SMS with our own client-ref (its receipts
    come to ``/v1/callbacks/sms`` and are skipped: not a reminder's)."""
    if reply_channel(body) is inbound.SMS:
        sms, receipts = clients.sms, clients.sms_receipt_url
        return lambda phone, text: sms.send(phone, text, SMS_REPLY_REF, receipts)
    return clients.whatsapp.send_text


def send_reply(conn: psycopg2.extensions.connection, send_text: TextSender, body: dict[str, Any]) -> str:
    """Send the confirmation owed for ``body["message_id"]`` (on ``body``'s channel, with ``send_text``), at
    most once; what happened."""
    channel = reply_channel(body)
    message_id = str(body.get("message_id") or "")
    ids = {"message_id": message_id, "channel": channel.name}
    phone = inbound.claim_reply(conn, message_id, channel)
    if phone is None:
        logger.info("opt-out reply not owed (sent, being sent, or never owed)", extra=ids)
        return "not_owed"
    try:
        accepted = send_text(phone, channel.reply_text)
    except OutcomeUnknown as exc:
        inbound.settle_reply(conn, message_id, "uncertain", error=str(exc), channel=channel)
        logger.warning("opt-out reply outcome unknown; never sent again", extra=ids)
        return "uncertain"
    except ProviderRejected as exc:
        inbound.settle_reply(conn, message_id, "failed", error=str(exc), channel=channel)
        logger.warning("opt-out reply refused by the provider", extra={**ids, "error": str(exc)})
        return "failed"
    except ProviderError as exc:  # nothing was sent: owed again, and this message comes back later
        inbound.settle_reply(conn, message_id, "pending", error=str(exc), channel=channel)
        raise
    inbound.settle_reply(conn, message_id, "sent", reply_id=accepted.provider_id, channel=channel)
    logger.info("opt-out confirmed", extra=ids)
    return "sent"
