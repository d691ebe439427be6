"""Contact preferences per phone number: WhatsApp or SMS opted out, calls ignored (table ``contact_preference``).

``GET /v1/crm/contact-preferences?phone=<digits>`` answers ``{"phone", "whatsapp": "allowed"|"opted_out",
"sms": "allowed"|"opted_out", "calls": "allowed"|"ignored", "changed_at", "source"}`` (the last change of
any channel). Every
change appends an audit row (staff key or inbound message, time, reason); a change to the state a
number already has changes nothing and audits nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg2.extensions

from chalicelib import db
from chalicelib.errors import InvalidInput

CHANNEL_STATES = {"whatsapp": ("allowed", "opted_out"), "sms": ("allowed", "opted_out"),
                  "calls": ("allowed", "ignored")}
SOURCES = ("whatsapp_inbound", "sms_inbound", "staff")
MAX_REASON = 500

SELECT_SQL = "SELECT channel, state, source, changed_at FROM contact_preference WHERE phone = %s"
MATERIALIZE_SQL = """
INSERT INTO contact_preference (phone, channel, state, source, reason, changed_by)
VALUES (%s, %s, 'allowed', %s, %s, %s)
ON CONFLICT (phone, channel) DO NOTHING
"""
LOCK_SQL = "SELECT state FROM contact_preference WHERE phone = %s AND channel = %s FOR UPDATE"
UPSERT_SQL = """
INSERT INTO contact_preference (phone, channel, state, source, reason, changed_at, changed_by)
VALUES (%s, %s, %s, %s, %s, clock_timestamp(), %s)
ON CONFLICT (phone, channel) DO UPDATE SET state = EXCLUDED.state, source = EXCLUDED.source,
    reason = EXCLUDED.reason, changed_at = EXCLUDED.changed_at, changed_by = EXCLUDED.changed_by
"""
AUDIT_SQL = """
INSERT INTO contact_preference_audit (phone, channel, before_state, after_state, source, reason, api_key_id,
                                      inbound_message_id)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
"""
# the send-time facts of one contact: the channels its number is blocked on, and whether a loan of it
# is do-not-call (loan.is_ignore_calls)
FACTS_SQL = """
SELECT ARRAY(SELECT channel FROM contact_preference WHERE phone = %(phone)s AND state <> 'allowed'),
       EXISTS (SELECT 1 FROM loan WHERE loan_id = ANY(%(loans)s) AND is_ignore_calls)
"""


PHONE = re.compile(r"^(0[0-9]{7,13}|[1-9][0-9]{7,14})$")


def parse_phone(text: str) -> str:
    """A number as a caller gives it (HTTP): national ``0812...`` or international ``62812...`` digits only."""
    if not PHONE.match(text):
        raise InvalidInput("phone must be digits: national (0812...) or international (62812...), 8 to 15 digits",
                           code="invalid_parameter")
    return normalize_phone(text)


def normalize_phone(text: str | None) -> str:
    """International digits (0812... -> 62812...); InvalidInput unless 8 to 15 digits."""
    digits = "".join(ch for ch in (text or "") if ch.isdigit())
    if digits.startswith("0"):
        digits = "62" + digits[1:]
    if not 8 <= len(digits) <= 15 or len(text or "") > 32:
        raise InvalidInput("phone must be a phone number of 8 to 15 digits", code="invalid_parameter")
    return digits


@dataclass(frozen=True)
class ContactFacts:
    opted_out: frozenset[str]
    do_not_call: bool


def contact_facts(conn: psycopg2.extensions.connection, phone: str | None, loan_ids: list[int]) -> ContactFacts:
    """What the policy needs to know about a contact just before it goes out (read committed: an opt-out
    committed a moment ago is seen)."""
    try:
        number = normalize_phone(phone) if phone else ""
    except InvalidInput:
        number = ""
    with conn.cursor() as cur:
        cur.execute(FACTS_SQL, {"phone": number, "loans": loan_ids})
        channels, dnc = db.one(cur)
    return ContactFacts(frozenset(channels or ()), bool(dnc))


def preference(conn: psycopg2.extensions.connection, phone: str) -> dict[str, Any]:
    number = normalize_phone(phone)
    with conn.cursor() as cur:
        cur.execute(SELECT_SQL, (number,))
        rows = cur.fetchall()
    out: dict[str, Any] = {"phone": number, **{channel: states[0] for channel, states in CHANNEL_STATES.items()},
                           "changed_at": None, "source": None}
    latest = None
    for channel, state, source, changed_at in rows:
        out[channel] = state
        if latest is None or changed_at > latest:
            latest = changed_at
            out["changed_at"], out["source"] = changed_at.isoformat(), source
    return out


def parse_changes(body: Mapping[str, Any]) -> dict[str, str]:
    """``{"whatsapp": ..., "sms": ..., "calls": ...}`` of a request body (at least one), each a state of its channel."""
    unknown = sorted(set(body) - {*CHANNEL_STATES, "reason"})
    if unknown:
        raise InvalidInput(f"unknown field(s): {', '.join(k[:40] for k in unknown[:5])}", code="invalid_body")
    changes = {}
    for channel, states in CHANNEL_STATES.items():
        if channel in body:
            if body[channel] not in states:
                raise InvalidInput(f"{channel} must be one of {', '.join(states)}", code="invalid_body")
            changes[channel] = str(body[channel])
    if not changes:
        raise InvalidInput("give whatsapp, sms and/or calls", code="invalid_body")
    return changes


def check_reason(reason: object) -> str:
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON or not reason.isprintable():
        raise InvalidInput(f"reason must be text of 1 to {MAX_REASON} printable characters", code="invalid_body")
    return reason.strip()


def change(conn: psycopg2.extensions.connection, phone: str, changes: Mapping[str, str], *, source: str,
           reason: str, api_key_id: int | None = None, inbound_message_id: str | None = None,
           commit: bool = True) -> dict[str, bool]:
    """Set each channel's state; per channel whether it changed. Audited; committed unless ``commit=False``."""
    number = normalize_phone(phone)
    reason = check_reason(reason)
    changed = {}
    with conn.cursor() as cur:
        for channel, state in changes.items():
            if state not in CHANNEL_STATES[channel]:
                raise InvalidInput(f"{channel} must be one of {', '.join(CHANNEL_STATES[channel])}")
            if state != "allowed":  # the row exists before it is locked: two first opt-outs at once queue up
                cur.execute(MATERIALIZE_SQL, (number, channel, source, reason, api_key_id))
            cur.execute(LOCK_SQL, (number, channel))
            row = cur.fetchone()
            before = row[0] if row else "allowed"
            changed[channel] = before != state
            if not changed[channel]:
                continue
            cur.execute(UPSERT_SQL, (number, channel, state, source, reason, api_key_id))
            cur.execute(AUDIT_SQL, (number, channel, before, state, source, reason, api_key_id, inbound_message_id))
    if commit:
        conn.commit()
    return changed
