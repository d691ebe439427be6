"""Inbound texts (WhatsApp messages, SMS): an opt-out keyword opts the number out of the channel it was
written on and earns exactly one confirmation reply on that channel; any other text is stored for
customer service and never answered automatically.

Meta's WhatsApp Business policy: an opt-out request is honoured; an SMS "STOP" likewise (POJK 22/2023:
the borrower's stated wish about being contacted on that channel). Keywords: ``OPT_OUT_KEYWORDS``
(default ``BERHENTI,STOP,UNSUBSCRIBE``), matched case-insensitively against the whole text (trimmed,
trailing punctuation ignored), so "stop." opts out and "jangan stop dulu" does not.

One opt-out, one channel: a WhatsApp keyword opts out of WhatsApp (table ``whatsapp_inbound``), an
SMS keyword out of SMS (table ``sms_inbound``); the other channels keep their own preference (staff
can block them: ``PUT /v1/crm/contact-preferences``).

Exactly one reply: the inbound row is keyed by the provider's message id (a redelivered webhook adds
nothing), and a reply is owed (``reply_state = 'pending'``) only when the message changed the number's
state from allowed to opted out — a second STOP gets none. The dispatch function claims the reply
(``pending`` -> ``sending``), sends it, and settles it ``sent``, ``uncertain`` (maybe sent: never
again), ``failed`` (refused for good) or back to ``pending`` (nothing was sent: the dispatch message
comes back and tries again).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg2.extensions

from chalicelib import db
from chalicelib.contact_data import preferences
from chalicelib.errors import InvalidInput
from chalicelib.settings import ApiSettings

DEFAULT_KEYWORDS = ApiSettings().opt_out_keywords  # OPT_OUT_KEYWORDS's default
REPLY_TEXT = ("Anda telah berhenti menerima pesan WhatsApp dari JULO di nomor ini. Kami tidak akan mengirim "
              "pesan WhatsApp lagi. Untuk bantuan, hubungi cs@julo.co.id.")
# one SMS: GSM 03.38 only, at most 160 septets (tests/unit/test_sms_opt_out.py)
SMS_REPLY_TEXT = ("JULO: Anda telah berhenti menerima SMS dari JULO di nomor ini. Kami tidak akan mengirim SMS "
                  "lagi. Bantuan: cs@julo.co.id")
MAX_BODY = 4096

INSERT_SQL = """
INSERT INTO {table} (message_id, phone, kind, body, sent_at) VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (message_id) DO NOTHING
"""
OWE_REPLY_SQL = "UPDATE {table} SET reply_state = 'pending' WHERE message_id = %s"
PENDING_SQL = "SELECT reply_state FROM {table} WHERE message_id = %s"
CLAIM_SQL = """
UPDATE {table} SET reply_state = 'sending' WHERE message_id = %s AND reply_state = 'pending'
RETURNING phone
"""
SETTLE_SQL = """
UPDATE {table} SET reply_state = %s, reply_id = %s, reply_error = %s,
       replied_at = CASE WHEN %s = 'pending' THEN NULL ELSE clock_timestamp() END
WHERE message_id = %s AND reply_state = 'sending'
"""


@dataclass(frozen=True)
class InboundChannel:
    """Where one channel's inbound texts are kept and what an opt-out on it changes."""

    name: str        # the contact_preference channel it opts out of: whatsapp | sms
    table: str       # whatsapp_inbound | sms_inbound (same columns)
    source: str      # contact_preference.source of the change
    reason: str      # the audit row's reason
    reply_text: str  # the confirmation

    def sql(self, template: str) -> str:
        return template.format(table=self.table)


WHATSAPP = InboundChannel("whatsapp", "whatsapp_inbound", "whatsapp_inbound", "inbound WhatsApp opt-out keyword",
                          REPLY_TEXT)
SMS = InboundChannel("sms", "sms_inbound", "sms_inbound", "inbound SMS opt-out keyword", SMS_REPLY_TEXT)
CHANNELS = {c.name: c for c in (WHATSAPP, SMS)}


@dataclass(frozen=True)
class InboundText:
    message_id: str
    phone: str
    text: str | None  # None: not a text message (image, button, ...)
    sent_at: datetime | None


def keywords(setting: str = "") -> frozenset[str]:
    """The opt-out keywords of ``OPT_OUT_KEYWORDS`` (the API's ``opt_out_keywords``; empty: the defaults)."""
    raw = setting or DEFAULT_KEYWORDS
    return frozenset(k.strip().upper() for k in raw.split(",") if k.strip())


def is_opt_out(text: str | None, words: frozenset[str] | None = None) -> bool:
    if not text:
        return False
    cleaned = re.sub(r"[\s.!?,;:]+$", "", text.strip()).upper()
    return cleaned in (words if words is not None else keywords())


@dataclass(frozen=True)
class Received:
    message_id: str
    kind: str            # opt_out | other
    reply_pending: bool  # a confirmation is owed (new, or still unsent from an earlier delivery)


def receive(conn: psycopg2.extensions.connection, message: InboundText,
            channel: InboundChannel = WHATSAPP, words: frozenset[str] | None = None) -> Received:
    """Store one inbound message and apply an opt-out (of ``channel``; ``words``: the opt-out keywords,
    default ``keywords()``); committed. Idempotent per message id."""
    try:
        phone = preferences.normalize_phone(message.phone)
    except InvalidInput:
        return Received(message.message_id, "other", False)  # not a number we could ever contact
    opt_out = is_opt_out(message.text, words)
    kind = "opt_out" if opt_out else "other"
    with db.transaction(conn) as cur:
        cur.execute(channel.sql(INSERT_SQL), (message.message_id[:200], phone, kind,
                                 (message.text or "")[:MAX_BODY] or None, message.sent_at))
        new = cur.rowcount == 1
    if new and opt_out:
        changed = preferences.change(conn, phone, {channel.name: "opted_out"}, source=channel.source,
                                     reason=channel.reason, inbound_message_id=message.message_id, commit=False)
        if changed[channel.name]:
            with conn.cursor() as cur:
                cur.execute(channel.sql(OWE_REPLY_SQL), (message.message_id,))
        conn.commit()
    with conn.cursor() as cur:
        cur.execute(channel.sql(PENDING_SQL), (message.message_id[:200],))
        row = cur.fetchone()
    conn.rollback()
    return Received(message.message_id, kind, bool(row and row[0] == "pending"))


def claim_reply(conn: psycopg2.extensions.connection, message_id: str,
                channel: InboundChannel = WHATSAPP) -> str | None:
    """The number to confirm to, for the one caller that claims the owed reply; None otherwise."""
    with db.transaction(conn) as cur:
        cur.execute(channel.sql(CLAIM_SQL), (message_id,))
        row = cur.fetchone()
    return str(row[0]) if row else None


def settle_reply(conn: psycopg2.extensions.connection, message_id: str, state: str, *,
                 reply_id: str | None = None, error: str | None = None, channel: InboundChannel = WHATSAPP) -> None:
    if state not in ("sent", "uncertain", "pending", "failed"):
        raise ValueError(state)
    with db.transaction(conn) as cur:
        cur.execute(channel.sql(SETTLE_SQL), (state, reply_id, (error or "")[:500] or None, state, message_id))


def timestamp(raw: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(str(raw)), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
