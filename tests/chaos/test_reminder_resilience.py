"""A reminder day against a crash at the wrong moment and a stage answer that does not get through.

- the stage worker dies after its chunks are on the queue, before anything else (robocall_2);
  its message comes back after the chunks ran and the outcomes changed the selection;
- Step Functions throttles the first ``SendTaskSuccess`` (after the SDK's own retries);
- the write that marks the stage complete fails once (a DynamoDB 500).

Each must end SUCCEEDED without waiting out a heartbeat (compressed here to 30 s, 900 s
deployed: a ``States.Timeout`` in the history is the 15-minute stall), with every
selected payment counted by its own attempt and nobody called twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import psycopg2.extensions
import pytest

from chalicelib.reminders.adapters import ChunkQueue
from localdev.aws.bootstrap import bootstrap
from localdev.reminder_day import LocalReminderStack
from tests.chaos.aws_faults import DynamoWriteFaults, StepFunctionsFaults, sets_attribute
from tests.chaos.reminder_support import Day, assert_summary_adds_up, called_twice, fast_retries
from tests.factories import make_loan, make_partner

BUSINESS_DATE = date(2026, 11, 20)
DUE = date(2026, 11, 23)
# compressed (900 s deployed), but longer than a loaded 2-core machine may leave a stage message waiting for
# the harness to deliver it: what strands a stage waits it out all the same
HEARTBEAT_SECONDS = 30
BORROWERS = 6
NO_DOUBLE = "no (payment, stage) called twice"
ADDS_UP = "per attempt selected = placed + place_failed + unknown + not_placed + skipped"
NO_STALL = "execution ends SUCCEEDED, never by waiting out a heartbeat"


def _intl(i: int) -> str:
    return f"6281300{i:05d}"


class WorkerKilled(RuntimeError):
    """The stage function died (crash, timeout, out of memory)."""


@pytest.fixture
def day_stack(aws: str, conn: psycopg2.extensions.connection) -> Iterator[tuple[LocalReminderStack, Day]]:
    """Six WIB borrowers due at T-3 who answer no call; the day started; heartbeat 30 s."""
    bootstrap()
    fast_retries(heartbeat_seconds=HEARTBEAT_SECONDS)
    make_partner(conn, 1, "Lendana P2P")
    for i in range(BORROWERS):
        make_loan(conn, postcode="10110", phone="0" + _intl(i)[2:], due_dates=[DUE])
    conn.commit()
    with LocalReminderStack(provider_timeout=0.5, extra_env={"REMINDER_CHUNK_SIZE": "2",
                                                             "PROVIDER_MAX_ATTEMPTS": "3"}) as stack:
        for i in range(BORROWERS):
            stack.voice.force_outcome(_intl(i), "busy")
        day = Day(stack, BUSINESS_DATE)
        day.start()
        yield stack, day


def _no_heartbeat_waited(day: Day) -> None:
    timeouts = [e for e in day.history_errors() if "Timeout" in e]
    assert timeouts == [], f"a stage waited out its heartbeat: {timeouts}"


@pytest.mark.slow  # fast equivalent in make test: tests/functional/test_stage_sealing.py (every step)
@pytest.mark.chaos(scenario="stage worker killed between enqueueing its chunks and sealing the stage (robocall_2)",
                   invariant=f"{ADDS_UP}; the resumed attempt re-uses its selection; {NO_DOUBLE}; {NO_STALL}")
def test_a_stage_worker_killed_after_enqueueing_resumes_its_own_selection(
        day_stack: tuple[LocalReminderStack, Day], monkeypatch: pytest.MonkeyPatch) -> None:
    stack, day = day_stack
    day.run_stage_normally("robocall_1")
    real_send = ChunkQueue.send
    killed: list[int] = []

    def send_then_die(self: ChunkQueue, bodies: Any) -> int:
        sent = real_send(self, bodies)
        if not killed:
            killed.append(sent)
            raise WorkerKilled("the stage function died with its chunks on the queue")
        return sent

    for i in (0, 1):  # these two answer the 10:00 call
        stack.voice.force_outcome(_intl(i), "human")
    monkeypatch.setattr(ChunkQueue, "send", send_then_die)
    day.send_stage_message(day.take_stage_message("robocall_2"))
    day.deliver_stage()          # dies with three chunks of two on the queue; its message comes back
    assert killed == [3] and day.stage_failures == 1
    day.drain_dispatch()         # the chunks run: two borrowers answer, robocall_2's selection would now be 4
    execution = day.finish()     # the stage message again, then the rest of the day
    twice = called_twice(stack)

    assert execution["status"] == "SUCCEEDED", execution
    stages = assert_summary_adds_up(execution)
    assert stages["robocall_2"]["selected"] == BORROWERS, "the attempt kept the selection it enqueued"
    assert stages["robocall_2"]["succeeded"] == 2
    assert twice == {}
    _no_heartbeat_waited(day)


@pytest.mark.slow  # fast equivalents: tests/unit/test_reminder_dispatch.py (refused answers, TaskCallbacks retries)
@pytest.mark.chaos(scenario="SendTaskSuccess throttled once (after the SDK's retries)",
                   invariant=f"the stage's answer is not lost: {NO_STALL}; {ADDS_UP}")
def test_a_throttled_send_task_success_is_sent_again(
        day_stack: tuple[LocalReminderStack, Day], monkeypatch: pytest.MonkeyPatch) -> None:
    stack, day = day_stack
    sfn = StepFunctionsFaults(monkeypatch)
    sfn.throttle("send_task_success", 1)  # robocall_1's answer
    execution = day.finish()

    assert sfn.injected["send_task_success"] == 1
    assert execution["status"] == "SUCCEEDED", execution
    assert_summary_adds_up(execution)
    assert called_twice(stack) == {}
    _no_heartbeat_waited(day)


@pytest.mark.slow  # fast equivalent: tests/unit/test_reminder_dispatch.py (a failed completion write)
@pytest.mark.chaos(scenario="the write marking a stage complete fails once (DynamoDB 500)",
                   invariant=f"the stage's answer is not lost: {NO_STALL}; {ADDS_UP}")
def test_a_failed_completion_write_does_not_strand_the_stage(
        day_stack: tuple[LocalReminderStack, Day], monkeypatch: pytest.MonkeyPatch) -> None:
    stack, day = day_stack
    dynamo = DynamoWriteFaults(monkeypatch)
    dynamo.fail_next(sets_attribute("completed"))  # robocall_1's completion
    execution = day.finish()

    assert dynamo.injected["InternalServerError"] == 1
    assert execution["status"] == "SUCCEEDED", execution
    assert_summary_adds_up(execution)
    assert called_twice(stack) == {}
    _no_heartbeat_waited(day)
