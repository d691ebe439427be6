"""Provider status callbacks → reminder outcomes.

Robocall (Vonage call status, machine detection on): answered by a person (``human``) is a
success; ``machine`` (answering machine), ``busy``, ``timeout``/``unanswered`` (no answer),
``failed``, ``rejected`` and ``cancelled`` are failures. ``started``, ``ringing``,
``answered`` and ``completed`` are progress events and change nothing.

WhatsApp (Cloud API status webhook): ``delivered`` and ``read`` are a success, ``failed`` a
failure, ``sent`` is progress.

SMS (Vonage SMS API delivery receipt): ``delivered`` is a success; ``failed``, ``expired`` and
``rejected`` are failures (``err-code`` says why); ``accepted``, ``buffered`` and ``unknown`` change
nothing (``unknown`` may still be followed by a final receipt). A message sent in several parts has a
message id and a receipt per part: it succeeded when every part was delivered, failed as soon as one
part finally failed, and is settled once.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date

import psycopg2.extensions

from chalicelib.logs import get_logger
from chalicelib.reminders import metrics
from chalicelib.reminders.stages import Stage, StageRun
from chalicelib.reminders.store import REFUSED_PART_STATUS, Entry, Outcome, ReminderStore, parts_outcome
from chalicelib.zones import Zone

logger = get_logger("reminders")

ROBOCALL_SUCCESS = {"human"}
ROBOCALL_FAILURE = {"machine", "busy", "timeout", "unanswered", "failed", "rejected", "cancelled"}
WHATSAPP_SUCCESS = {"delivered", "read"}
WHATSAPP_FAILURE = {"failed"}
SMS_SUCCESS = {"delivered"}
SMS_FAILURE = {"failed", "expired", "rejected"}

SET_ROBOCALL_SUCCESS_SQL = "UPDATE payment SET is_success_robocall = TRUE WHERE payment_id = %s"


@dataclass(frozen=True)
class CallbackRef:
    """Which ledger entry a callback belongs to (our event URL's ``ref`` or the opaque callback data):
    ``<payment_id>|<business_date>|<stage>|<zone>|<attempt>`` (a reference without the attempt reads as 0)."""

    payment_id: int
    run: StageRun

    @property
    def stage(self) -> Stage:
        return self.run.stage

    @property
    def business_date(self) -> date:
        return self.run.business_date

    @property
    def zone(self) -> Zone:
        return self.run.zone

    def encode(self) -> str:
        r = self.run
        return f"{self.payment_id}|{r.business_date.isoformat()}|{r.stage}|{r.zone.name}|{r.attempt}"

    @classmethod
    def decode(cls, text: str) -> CallbackRef:
        parts = text.split("|")
        if len(parts) not in (4, 5):
            raise ValueError("a callback reference has 4 or 5 fields")
        payment_id, day, stage, zone = parts[:4]
        attempt = parts[4] if len(parts) == 5 else "0"
        return cls(int(payment_id), StageRun.from_fields(
            {"zone": zone, "business_date": day, "stage": stage, "attempt": attempt}))


def _final_outcome(status: str, success: Collection[str], failure: Collection[str]) -> Outcome | None:
    """``succeeded`` / ``failed`` for a final status; None for progress and statuses we do not know."""
    if status in success:
        return Outcome.SUCCEEDED
    if status in failure:
        return Outcome.FAILED
    return None


def robocall_outcome(status: str) -> Outcome | None:
    return _final_outcome(status, ROBOCALL_SUCCESS, ROBOCALL_FAILURE)


def whatsapp_outcome(status: str) -> Outcome | None:
    return _final_outcome(status, WHATSAPP_SUCCESS, WHATSAPP_FAILURE)


def sms_outcome(status: str) -> Outcome | None:
    return _final_outcome(status, SMS_SUCCESS, SMS_FAILURE)


class OutcomeNotReady(Exception):
    """A callback that cannot be applied yet and should be retried by the provider (HTTP 503)."""


class ProviderIdTaken(Exception):
    """The callback's provider id is bound to another ledger entry: a genuine status of one call or
    message presented with another payment's reference (cross-binding). Refused; nothing changes."""


def bound_entry(store: ReminderStore, ref: CallbackRef, provider_id: str) -> Entry | None:
    """The ledger entry this callback is about, bound to ``provider_id``; None if it is not ours.

    The first validly signed final status carrying our reference binds the provider's id to an
    entry that has none yet: the send's answer was lost (``uncertain``) or the worker crashed between the
    provider's accept and the ledger write (``attempting``). A different id on a bound entry is
    not ours. An id that another entry already holds is never bound here: ``ProviderIdTaken``.
    """
    entry = store.get(ref.run, ref.payment_id)
    if entry is None:
        return None
    if entry.provider_id == provider_id:
        return entry
    # the id is not this entry's: whose is it? (rare: a lost answer, or someone replaying another
    # call's status with this reference)
    refuse_if_taken(store, ref, provider_id)
    if entry.provider_id is None:
        bound = store.bind(ref.run, ref.payment_id, provider_id)
        if bound is not None:
            logger.info("provider id bound by its callback",
                        extra={**ref.run.ids(), "payment_id": ref.payment_id, "was": entry.status})
        return bound
    return None


def refuse_if_taken(store: ReminderStore, ref: CallbackRef, provider_id: str) -> None:
    """``ProviderIdTaken`` when another entry holds ``provider_id`` (the ledger's by-provider_id index)."""
    others = store.bound_to(provider_id) - {(ref.run.ledger_key, ref.payment_id)}
    if others:
        logger.warning("callback refused: its provider id is bound to another entry",
                       extra={**ref.run.ids(), "payment_id": ref.payment_id,
                              "bound_payment_ids": sorted(p for _k, p in others)})
        raise ProviderIdTaken("the provider id of this status is bound to another reminder")


def _record_final(store: ReminderStore, ref: CallbackRef, provider_id: str, outcome: Outcome,
                  status: str) -> tuple[bool, Outcome | None] | None:
    """(recorded now, the entry's final outcome), None when the entry is not ours.

    The conditional write goes first: for an entry bound to this id without an outcome (the usual
    case) it is the only request. Only when it is refused is the entry read, to bind it (the send's
    answer was lost) or to tell a later final status (the first one wins) from a stranger's.
    """
    if store.record_outcome(ref.run, ref.payment_id, provider_id, outcome, status):
        return True, outcome
    entry = bound_entry(store, ref, provider_id)
    if entry is None:
        return None
    if entry.outcome is None and store.record_outcome(ref.run, ref.payment_id, provider_id, outcome, status):
        return True, outcome
    latest = entry if entry.outcome is not None else store.get(ref.run, ref.payment_id)
    return False, latest.outcome if latest is not None and latest.provider_id == provider_id else None


def _apply_status(store: ReminderStore, ref: CallbackRef, provider_id: str, status: str, channel: str,
                  outcome_of: Callable[[str], Outcome | None],
                  on_final: Callable[[Outcome | None], None] | None = None) -> Outcome | None:
    """The rule both channels follow: map the status; a final one binds or matches the ledger entry
    and is recorded once. A progress status (four of a call's five) changes nothing and reads
    nothing: every call and message ends with a final status, which binds an entry the send left
    without the provider's id."""
    ids = {"payment_id": ref.payment_id, "stage": str(ref.run.stage), "status": status}
    outcome = outcome_of(status)
    if outcome is None:
        _received(channel, "progress")
        return None
    result = _record_final(store, ref, provider_id, outcome, status)
    if result is None:
        logger.warning(f"{channel} status for an unknown send ignored", extra=ids)
        _received(channel, "ignored")
        return None
    recorded, final = result
    if on_final is not None:
        on_final(final)
    if not recorded:
        logger.info(f"{channel} status after the final one changes nothing", extra={**ids, "final": final})
        _received(channel, "repeat")
        return None
    logger.info(f"{channel} outcome", extra={**ids, "outcome": outcome})
    _received(channel, outcome)
    return outcome


def _received(channel: str, result: str) -> None:
    metrics.emit({"channel": channel, "result": result}, {metrics.CALLBACKS_RECEIVED: 1})


def apply_robocall_status(connect: Callable[[], AbstractContextManager[psycopg2.extensions.connection]],
                          store: ReminderStore, ref: CallbackRef, call_uuid: str, status: str) -> Outcome | None:
    """Record a call's final status; returns the outcome recorded (None: progress, not ours or duplicate).

    ``is_success_robocall`` follows the ledger: it is set only when the entry's (first, final)
    outcome is a success — again on a redelivered success, so a crash between the two writes heals.
    ``connect`` opens the database connection, only for a success (progress statuses need none).
    """

    def mark_success(final: Outcome | None) -> None:
        if final == Outcome.SUCCEEDED:
            with connect() as conn, conn.cursor() as cur:
                cur.execute(SET_ROBOCALL_SUCCESS_SQL, (ref.payment_id,))
                conn.commit()

    return _apply_status(store, ref, call_uuid, status, "robocall", robocall_outcome, mark_success)


def apply_whatsapp_status(store: ReminderStore, ref: CallbackRef, message_id: str, status: str) -> Outcome | None:
    """Record a WhatsApp message's final status; returns the outcome recorded (None otherwise)."""
    return _apply_status(store, ref, message_id, status, "whatsapp", whatsapp_outcome)


def apply_sms_status(store: ReminderStore, ref: CallbackRef, message_id: str, status: str) -> Outcome | None:
    """Record an SMS delivery receipt's final status; returns the outcome recorded (None otherwise).

    A message of one part follows the other channels' rule (``_apply_status``). A message of several
    parts (the ledger entry knows how many: ``ReminderStore.expect_parts`` before the send) has a message
    id and a receipt per part: each part's final status is kept on the entry (``record_part``), a part id
    the send's lost answer did not give is bound while fewer ids are known than parts (``bind_part``),
    and the entry's outcome is set once: failed as soon as a part failed, succeeded when all were
    delivered (``parts_outcome``). Counted once, whatever order and however often the receipts come."""
    outcome = sms_outcome(status)
    if outcome is None:
        _received("sms", "progress")
        return None
    if store.record_outcome(ref.run, ref.payment_id, message_id, outcome, status):  # one part, bound to this id
        logger.info("sms outcome", extra={"payment_id": ref.payment_id, "stage": str(ref.run.stage),
                                           "status": status, "outcome": outcome})
        _received("sms", outcome)
        return outcome
    entry = store.get(ref.run, ref.payment_id)
    if entry is not None and entry.multipart:
        return _apply_sms_part(store, ref, entry, message_id, outcome, status)
    return _apply_status(store, ref, message_id, status, "sms", sms_outcome)


def _apply_sms_part(store: ReminderStore, ref: CallbackRef, entry: Entry, part_id: str, outcome: Outcome,
                    status: str) -> Outcome | None:
    ids = {"payment_id": ref.payment_id, "stage": str(ref.run.stage), "status": status, "parts": entry.parts}
    if part_id not in entry.part_ids:
        # another message's id (its first part's is indexed) is never bound here: ProviderIdTaken
        refuse_if_taken(store, ref, part_id)
        bound = store.bind_part(ref.run, ref.payment_id, part_id)
        if bound is None:  # another part bound meanwhile (read again), or not a part of this message
            latest = store.get(ref.run, ref.payment_id)
            if latest is None or part_id not in latest.part_ids:
                logger.warning("sms receipt for an unknown part ignored", extra=ids)
                _received("sms", "ignored")
                return None
        else:
            logger.info("sms part id bound by its receipt", extra=ids)
    updated = store.record_part(ref.run, ref.payment_id, part_id, outcome)
    if updated is None:
        logger.info("sms receipt after the message's outcome changes nothing", extra=ids)
        _received("sms", "repeat")
        return None
    final = parts_outcome(updated)
    if final is None:
        logger.info("sms part receipt recorded; the other parts' receipts settle it",
                    extra={**ids, "delivered": len(updated.parts_delivered)})
        _received("sms", "part")
        return None
    provider_status = status if final == outcome else REFUSED_PART_STATUS
    if not store.record_parts_outcome(ref.run, ref.payment_id, final, provider_status):
        _received("sms", "repeat")
        return None
    logger.info("sms outcome", extra={**ids, "outcome": final})
    _received("sms", final)
    return final
