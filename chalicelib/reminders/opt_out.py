"""The WhatsApp opt-out path: an inbound opt-out keyword (webhook, the API) → the number opted out of
WhatsApp and one confirmation reply, sent by the WhatsApp dispatch function (it holds the outbound
token) from a message on its own queue: ``{"kind": "opt_out_reply", "message_id": <inbound id>}``.

The reply is a free-form text inside the 24-hour window the user's own message opened (Meta's
customer-service window): not a collection contact, so it is sent at once, at any hour.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg2.extensions

from chalicelib import aws, resources
from chalicelib.contact_data import inbound
from chalicelib.logs import get_logger
from chalicelib.reminders.messages import DISPATCH_QUEUES
from chalicelib.reminders.providers import OutcomeUnknown, ProviderError, ProviderRejected, WhatsAppClient
from chalicelib.reminders.stages import Channel

logger = get_logger("reminders")

REPLY_KIND = "opt_out_reply"


class ReplyQueue:
    """Puts reply messages on the WhatsApp dispatch queue."""

    def __init__(self) -> None:
        self.url = resources.queue_url(DISPATCH_QUEUES[Channel.WHATSAPP])
        self.sqs = aws.client("sqs")

    def send(self, message_id: str) -> None:
        self.sqs.send_message(QueueUrl=self.url, MessageBody=json.dumps({"kind": REPLY_KIND,
                                                                          "message_id": message_id}))


def receive_inbound(conn: psycopg2.extensions.connection, messages: list[inbound.InboundText],
                    queue: ReplyQueue | None = None) -> dict[str, int]:
    """Store each message, apply opt-outs, and ask for the replies owed; counts by kind."""
    counts = {"inbound": 0, "opt_out": 0, "replies_requested": 0}
    for message in messages:
        received = inbound.receive(conn, message)
        counts["inbound"] += 1
        counts["opt_out"] += received.kind == "opt_out"
        if received.reply_pending:
            queue = queue or ReplyQueue()
            queue.send(received.message_id)
            counts["replies_requested"] += 1
    logger.info("inbound WhatsApp messages", extra=counts)
    return counts


def is_reply(body: Any) -> bool:
    return isinstance(body, dict) and body.get("kind") == REPLY_KIND


def send_reply(conn: psycopg2.extensions.connection, client: WhatsAppClient, body: dict[str, Any]) -> str:
    """Send the confirmation owed for ``body["message_id"]``, at most once; what happened."""
    message_id = str(body.get("message_id") or "")
    phone = inbound.claim_reply(conn, message_id)
    if phone is None:
        logger.info("opt-out reply not owed (sent, being sent, or never owed)", extra={"message_id": message_id})
        return "not_owed"
    try:
        accepted = client.send_text(phone, inbound.REPLY_TEXT)
    except OutcomeUnknown as exc:
        inbound.settle_reply(conn, message_id, "uncertain", error=str(exc))
        logger.warning("opt-out reply outcome unknown; never sent again", extra={"message_id": message_id})
        return "uncertain"
    except ProviderRejected as exc:
        inbound.settle_reply(conn, message_id, "failed", error=str(exc))
        logger.warning("opt-out reply refused by the provider", extra={"message_id": message_id, "error": str(exc)})
        return "failed"
    except ProviderError as exc:  # nothing was sent: owed again, and this message comes back later
        inbound.settle_reply(conn, message_id, "pending", error=str(exc))
        raise
    inbound.settle_reply(conn, message_id, "sent", reply_id=accepted.provider_id)
    logger.info("opt-out confirmed", extra={"message_id": message_id})
    return "sent"
