"""Provider status callbacks → reminder outcomes.

Robocall (Vonage call status, machine detection on): answered by a person (``human``) is a
success; ``machine`` (answering machine), ``busy``, ``timeout``/``unanswered`` (no answer),
``failed``, ``rejected`` and ``cancelled`` are failures. ``started``, ``ringing``,
``answered`` and ``completed`` are progress events and change nothing.

WhatsApp (Cloud API status webhook): ``delivered`` and ``read`` are a success, ``failed`` a
failure, ``sent`` is progress.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import psycopg2.extensions

from chalicelib.logs import get_logger
from chalicelib.reminders.ledger import ATTEMPTING, OUTCOME_FAILED, SUCCEEDED, Ledger, LedgerEntry
from chalicelib.reminders.stages import Stage
from chalicelib.zones import Zone

logger = get_logger("reminders")

ROBOCALL_SUCCESS = {"human"}
ROBOCALL_FAILURE = {"machine", "busy", "timeout", "unanswered", "failed", "rejected", "cancelled"}
WHATSAPP_SUCCESS = {"delivered", "read"}
WHATSAPP_FAILURE = {"failed"}

SET_ROBOCALL_SUCCESS_SQL = "UPDATE payment SET is_success_robocall = TRUE WHERE payment_id = %s"


@dataclass(frozen=True)
class CallbackRef:
    """Which ledger entry a callback belongs to (from the event URL or the opaque callback data)."""

    payment_id: int
    business_date: date
    stage: Stage
    zone: Zone

    def encode(self) -> str:
        return f"{self.payment_id}|{self.business_date.isoformat()}|{self.stage}|{self.zone.name}"

    @classmethod
    def decode(cls, text: str) -> CallbackRef:
        payment_id, day, stage, zone = text.split("|")
        return cls(int(payment_id), date.fromisoformat(day), Stage(stage), Zone.parse(zone))


def robocall_outcome(status: str) -> str | None:
    if status in ROBOCALL_SUCCESS:
        return SUCCEEDED
    if status in ROBOCALL_FAILURE:
        return OUTCOME_FAILED
    return None


def whatsapp_outcome(status: str) -> str | None:
    if status in WHATSAPP_SUCCESS:
        return SUCCEEDED
    if status in WHATSAPP_FAILURE:
        return OUTCOME_FAILED
    return None


class OutcomeNotReady(Exception):
    """The call is still being recorded (provider answered faster than the ledger update): retry."""


def _matching_entry(ledger: Ledger, ref: CallbackRef, provider_id: str) -> LedgerEntry | None:
    entry = ledger.get(ref.payment_id, ref.business_date, ref.stage, ref.zone)
    if entry is None:
        return None
    if entry.provider_id is None and entry.status == ATTEMPTING:
        raise OutcomeNotReady(f"payment {ref.payment_id} {ref.stage}: call still being recorded")
    return entry if entry.provider_id == provider_id else None


def apply_robocall_status(conn: psycopg2.extensions.connection, ledger: Ledger, ref: CallbackRef,
                          call_uuid: str, status: str) -> str | None:
    """Record a call's final status; returns the outcome recorded (None: progress, unknown or duplicate)."""
    outcome = robocall_outcome(status)
    if outcome is None:
        return None
    ids = {"payment_id": ref.payment_id, "stage": str(ref.stage), "status": status}
    entry = _matching_entry(ledger, ref, call_uuid)
    if entry is None:
        logger.warning("robocall status for an unknown call ignored", extra=ids)
        return None
    if outcome == SUCCEEDED:  # idempotent, so done before the ledger marks the outcome as recorded
        with conn.cursor() as cur:
            cur.execute(SET_ROBOCALL_SUCCESS_SQL, (ref.payment_id,))
        conn.commit()
    if not ledger.record_outcome(entry, call_uuid, outcome, status):
        logger.info("robocall status already recorded", extra=ids)
        return None
    logger.info("robocall outcome", extra={**ids, "outcome": outcome})
    return outcome


def apply_whatsapp_status(ledger: Ledger, ref: CallbackRef, message_id: str, status: str) -> str | None:
    outcome = whatsapp_outcome(status)
    if outcome is None:
        return None
    ids = {"payment_id": ref.payment_id, "stage": str(ref.stage), "status": status}
    entry = _matching_entry(ledger, ref, message_id)
    if entry is None:
        logger.warning("whatsapp status for an unknown message ignored", extra=ids)
        return None
    if not ledger.record_outcome(entry, message_id, outcome, status):
        return None
    logger.info("whatsapp outcome", extra={**ids, "outcome": outcome})
    return outcome
