"""The stage worker asks the contact policy: a closed day selects nobody, the Saturday before a long
weekend covers its due dates (shift, don't drop), and a late stage gets only the rest of its window.

Sources: POJK 22/2023 Pasal 62 ayat (2) huruf f (Monday to Saturday, not on national holidays,
08:00-20:00 local); the holidays library (2026-08-17, Independence Day, is a national holiday).
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from chalicelib.contact_policy import FixedClock
from chalicelib.reminders.messages import Chunk, StageMessage
from chalicelib.reminders.stage_worker import run_stage
from chalicelib.reminders.stages import Stage, StageRun, slot_utc
from chalicelib.reminders.store.memory import MemoryReminderStore
from chalicelib.zones import Zone
from tests.factories import make_loan, make_partner, stage_settings

SATURDAY, SUNDAY, HOLIDAY = date(2026, 8, 15), date(2026, 8, 16), date(2026, 8, 17)
DUES = [date(2026, 8, d) for d in (18, 19, 20, 21)]


class Queue:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def send(self, bodies: Any) -> None:
        self.bodies.extend(bodies)

    def due_dates(self) -> list[str]:
        return sorted(p.due_date.isoformat() for b in self.bodies for p in Chunk.parse(b).payments)


class Tasks:
    def __init__(self) -> None:
        self.outputs: list[dict[str, Any]] = []

    def succeed(self, token: str, output: dict[str, Any]) -> bool:
        self.outputs.append(output)
        return True


def _book(conn) -> None:
    make_partner(conn, 1, "Lendana P2P")
    for i, due in enumerate(DUES):
        make_loan(conn, postcode="10110", phone=f"08135555{i:04d}", due_dates=[due])
    conn.commit()


def _stage(conn, day: date, now: datetime | None = None) -> tuple[dict[str, Any], Queue, Tasks]:
    run = StageRun(Zone.WIB, day, Stage.ROBOCALL_1)
    queue, tasks = Queue(), Tasks()
    clock = FixedClock(now or slot_utc(run.zone, run.business_date, run.stage))
    counts = run_stage(conn, StageMessage(run, "token"), stage_settings(), store=MemoryReminderStore(), tasks=tasks,  # type: ignore[arg-type]
                       queue=queue, clock=clock)
    return counts, queue, tasks


def test_the_saturday_before_independence_day_covers_three_due_dates(conn) -> None:
    _book(conn)
    counts, queue, _ = _stage(conn, SATURDAY)
    assert queue.due_dates() == ["2026-08-18", "2026-08-19", "2026-08-20"]  # not the 21st: Tuesday 18 covers it
    assert counts["selected"] == counts["enqueued"] == 3
    assert counts["contact_day"] == {"allowed": True, "reason": None,
                                     "covers_due_dates": ["2026-08-18", "2026-08-19", "2026-08-20"]}


def test_a_sunday_and_a_national_holiday_select_nobody_and_the_stage_completes_at_once(conn) -> None:
    _book(conn)
    for day, reason in ((SUNDAY, "sunday"), (HOLIDAY, "national_holiday: Hari Kemerdekaan Republik Indonesia")):
        counts, queue, tasks = _stage(conn, day)
        assert queue.bodies == [] and counts["selected"] == 0
        assert counts["contact_day"] == {"allowed": False, "reason": reason, "covers_due_dates": []}
        assert len(tasks.outputs) == 1  # nothing to wait for: the workflow goes on at once


def test_a_stage_triggered_at_21_33_local_places_nothing(conn) -> None:
    """The reported fault: a late trigger placed 23 calls at 21:33 local. Now the window left is empty."""
    _book(conn)
    late = datetime.combine(SATURDAY, time(21, 33), tzinfo=Zone.WIB.tzinfo)
    counts, queue, _ = _stage(conn, SATURDAY, now=late)
    assert counts["capacity"] == 0 and queue.bodies == []
    assert counts["selected"] == counts["not_placed"] == 3
