"""The five stages of the T-3 workflow and their local slot times.

robocall_1 08:00 → robocall_2 10:00 → robocall_3 12:00 → (wait for outcomes) → whatsapp 13:00 →
(wait for WhatsApp statuses) → sms 15:00. A stage's window ends at the next stage's slot; the last
(SMS) window ends at ``WHATSAPP_WINDOW_END`` local (no messages after a sensible hour).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from chalicelib.settings import StageSettings
from chalicelib.zones import Zone, local_to_utc

WAIT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
WHATSAPP_WINDOW_END = time(18, 0)


class Channel(StrEnum):
    ROBOCALL = "robocall"
    WHATSAPP = "whatsapp"
    SMS = "sms"


class Stage(StrEnum):
    ROBOCALL_1 = "robocall_1"
    ROBOCALL_2 = "robocall_2"
    ROBOCALL_3 = "robocall_3"
    WHATSAPP = "whatsapp"
    SMS = "sms"

    @property
    def channel(self) -> Channel:
        if self is Stage.WHATSAPP:
            return Channel.WHATSAPP
        return Channel.SMS if self is Stage.SMS else Channel.ROBOCALL

    @property
    def is_retry(self) -> bool:
        return self in (Stage.ROBOCALL_2, Stage.ROBOCALL_3)

    @property
    def next(self) -> Stage | None:
        order = list(Stage)
        i = order.index(self)
        return order[i + 1] if i + 1 < len(order) else None


ROBOCALL_SLOTS = {Stage.ROBOCALL_1: time(8, 0), Stage.ROBOCALL_2: time(10, 0), Stage.ROBOCALL_3: time(12, 0)}


@dataclass(frozen=True)
class Timetable:
    """When the stages after the robocalls start: ``outcome_wait`` after the 12:00 retry the WhatsApp
    stage (``REMINDER_OUTCOME_WAIT_MINUTES``); ``sms_wait`` after the WhatsApp slot the SMS stage
    (``REMINDER_SMS_WAIT_MINUTES``: the WhatsApp statuses, delivered or failed, arrive meanwhile)."""

    outcome_wait: timedelta
    sms_wait: timedelta

    @classmethod
    def of(cls, settings: StageSettings) -> Timetable:
        return cls(timedelta(minutes=settings.outcome_wait_minutes), timedelta(minutes=settings.sms_wait_minutes))


DEFAULT_TIMETABLE = Timetable.of(StageSettings())  # the settings' defaults (the only ones a template deploys)


def slot_utc(zone: Zone, business_date: date, stage: Stage, timetable: Timetable = DEFAULT_TIMETABLE) -> datetime:
    """The UTC instant a stage is scheduled to start."""
    if stage is Stage.SMS:
        return slot_utc(zone, business_date, Stage.WHATSAPP, timetable) + timetable.sms_wait
    if stage is Stage.WHATSAPP:
        return slot_utc(zone, business_date, Stage.ROBOCALL_3, timetable) + timetable.outcome_wait
    return local_to_utc(zone, business_date, ROBOCALL_SLOTS[stage])


def window_end_utc(zone: Zone, business_date: date, stage: Stage,
                   timetable: Timetable = DEFAULT_TIMETABLE) -> datetime:
    """When a stage must have finished: the next slot (the last one: end of the messaging window)."""
    nxt = stage.next
    if nxt is None:
        return local_to_utc(zone, business_date, WHATSAPP_WINDOW_END)
    return slot_utc(zone, business_date, nxt, timetable)


def wait_timestamp(instant: datetime) -> str:
    """Step Functions Wait timestamp: UTC, exactly ``YYYY-MM-DDTHH:MM:SSZ``."""
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    return instant.astimezone(UTC).strftime(WAIT_FORMAT)


def scheduled_local(zone: Zone, business_date: date, stage: Stage) -> str:
    """The slot in the borrower's local time, ISO 8601 with offset (e.g. ``...T10:00:00+08:00``)."""
    return slot_utc(zone, business_date, stage).astimezone(zone.tzinfo).isoformat()


@dataclass(frozen=True, slots=True)
class StageRun:
    """One attempt of one stage of one zone's day: what every reminder message and record is about.

    ``attempt`` is the Step Functions retry count of the stage's task (0 for the first try). The
    ledger is keyed by the stage (``ledger_key``: a payment is called at most once per stage,
    whatever the attempt); the stage record by the day (``day_key``) and the stage, and it is
    owned by the newest attempt.
    """

    zone: Zone
    business_date: date
    stage: Stage
    attempt: int = 0

    @property
    def ledger_key(self) -> str:
        return f"{self.zone.name}#{self.business_date.isoformat()}#{self.stage}"

    @property
    def day_key(self) -> str:
        return f"{self.zone.name}#{self.business_date.isoformat()}"

    @property
    def window_end(self) -> datetime:
        return window_end_utc(self.zone, self.business_date, self.stage)

    def window_end_in(self, timetable: Timetable) -> datetime:
        return window_end_utc(self.zone, self.business_date, self.stage, timetable)

    def with_attempt(self, attempt: int) -> StageRun:
        return StageRun(self.zone, self.business_date, self.stage, attempt)

    def ids(self) -> dict[str, str | int]:
        """The run as log fields and message fields."""
        return {"zone": self.zone.name, "business_date": self.business_date.isoformat(), "stage": str(self.stage),
                "attempt": self.attempt}

    @classmethod
    def from_fields(cls, body: Mapping[str, Any]) -> StageRun:
        """Parse ``zone``, ``business_date``, ``stage`` and ``attempt`` (default 0) of a message body."""
        try:
            return cls(Zone.parse(str(body["zone"])), date.fromisoformat(str(body["business_date"])),
                       Stage(body["stage"]), int(body.get("attempt") or 0))
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"not a stage run: {exc}") from exc
