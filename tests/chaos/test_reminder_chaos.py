"""Chaos in the T-3 reminder workflow: duplicated and late stage messages, Step Functions retries,
redelivered and poison chunks, provider faults and a worker killed mid-chunk.

Each scenario drives the deployed pieces (state machine in moto, queues, Lambda handlers, fake
providers over HTTP, signed callbacks into the Chalice app) and checks: nobody is called twice for a
stage; per attempt selected = placed + place_failed + unknown + not_placed; the execution ends
inside its window without waiting out a heartbeat.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pytest

from chalicelib import resources, settings
from chalicelib.reminders import providers
from localdev.aws.bootstrap import bootstrap
from localdev.reminder_day import LocalReminderStack
from tests.chaos.reminder_support import Day, assert_summary_adds_up, called_twice, fast_retries
from tests.factories import make_loan, make_partner

BUSINESS_DATE = date(2026, 11, 20)
DUE = date(2026, 11, 23)
ROBOCALL_QUEUE = "reminder-dispatch-robocall"
NO_DOUBLE = "no (payment, stage) called twice"
ENDS = "execution ends SUCCEEDED inside its window, never by waiting out a heartbeat"
HEARTBEAT_SECONDS = 10  # the scenario's compressed heartbeat (900 s deployed)
ADDS_UP = "per attempt selected = placed + place_failed + unknown + not_placed"


def _phone(i: int) -> str:
    return f"08130000{i:04d}"


def _intl(i: int) -> str:
    return "62" + _phone(i)[1:]


@pytest.fixture
def borrowers(aws, conn) -> list[int]:
    """Six WIB borrowers due at T-3, same amount (so chunks follow payment id order)."""
    bootstrap()
    fast_retries()
    make_partner(conn, 1, "Lendana P2P")
    ids = [make_loan(conn, postcode="10110", phone=_phone(i), due_dates=[DUE]).payment_ids[0] for i in range(6)]
    conn.commit()
    return ids


def _stack(**env: str) -> LocalReminderStack:
    stack = LocalReminderStack(provider_timeout=0.5, extra_env={"REMINDER_CHUNK_SIZE": "2",
                                                                "PROVIDER_MAX_ATTEMPTS": "3", **env})
    return stack


def _take_all(queue: str) -> list[str]:
    sqs = settings.aws_clients().client("sqs")
    url = resources.queue_url(queue)
    bodies = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            bodies.append(m["Body"])


def _send(queue: str, body: str) -> None:
    settings.aws_clients().client("sqs").send_message(QueueUrl=resources.queue_url(queue), MessageBody=body)


def _nobody_answers(stack: LocalReminderStack, n: int = 6) -> None:
    for i in range(n):
        stack.voice.force_outcome(_intl(i), "busy")


@contextmanager
def _busy_day(**env: str) -> Iterator[tuple[LocalReminderStack, Day]]:
    """A started T-3 day on the local stack in which nobody answers a call."""
    with _stack(**env) as stack:
        _nobody_answers(stack)
        day = Day(stack, BUSINESS_DATE)
        day.start()
        yield stack, day


@pytest.mark.slow
@pytest.mark.chaos(scenario="stage message duplicated late (after a Step Functions retry)",
                   invariant=f"{ENDS}; {NO_DOUBLE}")
def test_a_late_duplicate_of_an_older_attempt_never_takes_over_the_retry(borrowers) -> None:
    fast_retries(heartbeat_seconds=HEARTBEAT_SECONDS)
    with _busy_day() as (stack, day):
        first = day.take_stage_message("robocall_1")  # its worker failed; SQS brings it back much later,
        retry = day.take_stage_message("robocall_1")  # after the heartbeat timed out and the stage was retried
        assert retry["attempt"] == 1
        if first["task_token"] == retry["task_token"]:
            # moto hands a retried task the same token; AWS gives each attempt its own, and the late
            # message carries attempt 0's, which nobody waits for any more
            first = {**first, "task_token": first["task_token"] + "-attempt-0"}
        day.send_stage_message(retry)
        day.deliver_stage()
        day.deliver_dispatch_once()
        day.send_stage_message(first)                 # the late duplicate of attempt 0
        day.deliver_stage()
        execution = day.finish()
        twice = called_twice(stack)
    timeouts = [e for e in day.history_errors() if "Timeout" in e]
    assert len(timeouts) == 1, f"only the lost attempt may time out, not its retry: {timeouts}"
    assert execution["status"] == "SUCCEEDED"
    assert twice == {}
    assert_summary_adds_up(execution)


@pytest.mark.slow
@pytest.mark.chaos(scenario="stage message duplicated at once", invariant=f"{NO_DOUBLE}; {ENDS}; {ADDS_UP}")
def test_a_stage_message_delivered_twice_at_once_calls_nobody_twice(borrowers) -> None:
    with _busy_day() as (stack, day):
        message = day.take_stage_message("robocall_1")
        day.send_stage_message(message)
        day.send_stage_message(message)
        day.deliver_stage()
        day.deliver_dispatch_once()
        day.deliver_stage()
        execution = day.finish()
        twice = called_twice(stack)
    assert execution["status"] == "SUCCEEDED" and twice == {}
    stages = assert_summary_adds_up(execution)
    assert stages["robocall_1"]["selected"] == 6


@pytest.mark.chaos(scenario="Step Functions stage retry (robocall_2 lost mid-stage)",
                   invariant=f"{ADDS_UP}; {NO_DOUBLE}; {ENDS}")
def test_a_retried_stage_is_summarised_by_its_own_attempt(borrowers) -> None:
    fast_retries(heartbeat_seconds=HEARTBEAT_SECONDS)
    with _busy_day() as (stack, day):
        day.run_stage_normally("robocall_1")
        for i in (0, 1):                                # these two answer at 10:00
            stack.voice.force_outcome(_intl(i), "human")
        lost = day.take_stage_message("robocall_2")
        day.send_stage_message(lost)
        day.deliver_stage()                             # attempt 0 enqueues three chunks of two
        day.deliver_dispatch_once()                     # and places the first one; the other two get stuck
        stuck = _take_all(ROBOCALL_QUEUE)
        assert len(stuck) == 2 and stack.voice.wait_idle(30)
        retry = day.take_stage_message("robocall_2")    # the heartbeat timed out: the stage is retried
        assert retry["attempt"] == 1
        day.send_stage_message(retry)
        day.deliver_stage()                             # attempt 1 selects again
        for body in stuck:                              # the stuck chunks of attempt 0 come back late
            _send(ROBOCALL_QUEUE, body)
        execution = day.finish()
        twice = called_twice(stack)
    assert execution["status"] == "SUCCEEDED" and twice == {}
    stages = assert_summary_adds_up(execution)
    assert stages["robocall_2"]["selected"] == 4       # the retry's own selection: the two who answered left


@pytest.mark.chaos(scenario="poison chunk (unreadable rows)",
                   invariant="the execution ends inside its window (the task fails at once), never by waiting out "
                             f"a heartbeat; {NO_DOUBLE}")
def test_a_poison_chunk_fails_its_task_at_once_and_the_retry_finishes_the_stage(borrowers) -> None:
    with _busy_day() as (stack, day):
        day.send_stage_message(day.take_stage_message("robocall_1"))
        day.deliver_stage()
        sqs = settings.aws_clients().client("sqs")
        url = resources.queue_url(ROBOCALL_QUEUE)
        message = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"][0]
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        poison = {**json.loads(message["Body"]), "rows_gz": "bm90IGd6aXA="}
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(poison))
        execution = day.finish()
        twice = called_twice(stack)
        called = {number for number in (r.body["to"][0]["number"] for r in stack.voice.records if r.placed)}
    errors = day.history_errors()
    assert "ChunkFailed" in errors, "the poison chunk failed its task itself"
    assert not [e for e in errors if "Timeout" in e], f"nothing waited out a heartbeat: {errors}"
    assert twice == {}
    # moto replays a failed task's outcome to its retry (same token), which may fail the day with that
    # reason; on AWS the retry has its own token and calls the poison chunk's borrowers
    assert execution["status"] == "SUCCEEDED" or execution.get("error") == "ChunkFailed"
    if execution["status"] == "SUCCEEDED":
        assert {_intl(i) for i in range(6)} <= called
        assert_summary_adds_up(execution)


@pytest.mark.slow
@pytest.mark.chaos(scenario="chunk redelivered", invariant=f"{NO_DOUBLE}; {ADDS_UP}")
def test_a_redelivered_chunk_calls_nobody_twice(borrowers) -> None:
    with _busy_day() as (stack, day):
        day.send_stage_message(day.take_stage_message("robocall_1"))
        day.deliver_stage()
        sqs = settings.aws_clients().client("sqs")
        url = resources.queue_url(ROBOCALL_QUEUE)
        message = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"][0]
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
        sqs.send_message(QueueUrl=url, MessageBody=message["Body"])
        day.drain_dispatch()
        sqs.send_message(QueueUrl=url, MessageBody=message["Body"])  # and once more after the stage completed
        execution = day.finish()
        twice = called_twice(stack)
    assert execution["status"] == "SUCCEEDED" and twice == {}
    assert_summary_adds_up(execution)


class WorkerKilled(RuntimeError):
    """The dispatch function died after the provider accepted a call, before the ledger write."""


@pytest.mark.chaos(scenario="worker crash mid-chunk (after the provider accepted a call)",
                   invariant=f"{NO_DOUBLE}; the call's callback binds it; {ADDS_UP}")
def test_a_worker_killed_after_the_provider_accepted_never_calls_again(borrowers, monkeypatch) -> None:
    real_call = providers.VoiceClient.call
    calls = {"n": 0}

    def killed_on_the_third(self, *args, **kwargs):
        accepted = real_call(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:
            raise WorkerKilled("killed between the provider's accept and the ledger write")
        return accepted

    monkeypatch.setattr(providers.VoiceClient, "call", killed_on_the_third)
    with _stack() as stack:
        day = Day(stack, BUSINESS_DATE)
        day.start()
        execution = day.finish()
        twice = called_twice(stack)
        refused = stack.voice.callbacks_failed
    assert day.dispatch_failures >= 1, "the crash happened"
    assert execution["status"] == "SUCCEEDED" and twice == {}
    assert refused == 0, "every status callback was accepted, the crashed one included"
    assert_summary_adds_up(execution)


@pytest.mark.slow
@pytest.mark.chaos(scenario="provider 429 / 5xx / timeouts",
                   invariant=f"{NO_DOUBLE} (a timeout is never retried); {ADDS_UP}; {ENDS}")
def test_provider_throttling_errors_and_timeouts(borrowers) -> None:
    with _stack() as stack:
        _nobody_answers(stack)
        stack.voice.inject("500", count=2, recipient=_intl(0))    # 5xx twice, then placed
        stack.voice.inject("429", count=30, recipient=_intl(1))   # throttled every time: given up
        stack.voice.inject("timeout", count=1, recipient=_intl(2))  # no answer: maybe placed, never retried
        day = Day(stack, BUSINESS_DATE)
        day.start()
        execution = day.finish()
        twice = called_twice(stack)
        asked = [r.body["to"][0]["number"] for r in stack.voice.records]
    assert execution["status"] == "SUCCEEDED" and twice == {}
    stages = assert_summary_adds_up(execution)
    assert stages["robocall_1"]["selected"] == 6
    assert asked.count(_intl(2)) <= 3  # once per stage at most: the timed-out request was not repeated
