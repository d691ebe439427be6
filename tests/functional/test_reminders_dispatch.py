"""Dispatch: no duplicate calls on redelivery or a restarted stage; provider faults retried, then failed;
capacity cut-off in priority order."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from chalicelib import resources, settings
from chalicelib.contact_policy import FixedClock
from chalicelib.reminders.adapters import TaskCallbacks
from chalicelib.reminders.messages import (
    CHUNK_FIELDS,
    Chunk,
    PaymentRow,
    StageMessage,
    chunk_body,
    decode_rows,
    encode_rows,
)
from chalicelib.reminders.scheduling import start_day
from chalicelib.reminders.stage_worker import run_stage
from chalicelib.reminders.stages import Channel, Stage, StageRun, slot_utc
from chalicelib.reminders.store import EntryStatus, Pacing
from chalicelib.reminders.store.dynamo import DynamoReminderStore
from chalicelib.reminders.store.memory import MemoryReminderStore
from chalicelib.zones import Zone
from localdev.aws.bootstrap import bootstrap
from localdev.reminder_day import DISPATCH_FUNCTIONS, LocalReminderStack
from tests.factories import make_loan, make_partner, stage_settings

BUSINESS_DATE = date(2026, 11, 20)
DUE = date(2026, 11, 23)
RUN = StageRun(Zone.WIB, BUSINESS_DATE, Stage.ROBOCALL_1)


def _handler_built() -> dict[str, Any]:
    """What the stage function's handler hands the stage: the DynamoDB store and the task callbacks."""
    return {"store": DynamoReminderStore(), "tasks": TaskCallbacks()}


def _loans(conn, n: int, amounts: list[int] | None = None) -> list[int]:
    make_partner(conn, 1, "Lendana P2P")
    ids = []
    for i in range(n):
        amount = (amounts or [3_000_000] * n)[i]
        loan = make_loan(conn, postcode="10110", phone=f"08130000{i:04d}", due_dates=[DUE], loan_amount=amount)
        ids.append(loan.payment_ids[0])
    conn.commit()
    return ids


def _first_stage_message() -> StageMessage:
    sqs = settings.aws_clients().client("sqs")
    url = resources.queue_url("reminder-stages")
    for _ in range(100):
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1).get("Messages", [])
        if msgs:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=msgs[0]["ReceiptHandle"])
            return StageMessage.parse(json.loads(msgs[0]["Body"]))
    raise AssertionError("the state machine never sent the robocall_1 stage message")


def _calls_per_number(stack: LocalReminderStack) -> dict[str, int]:
    counts: dict[str, int] = {}
    for rec in stack.voice.records:
        number = rec.body["to"][0]["number"]
        counts[number] = counts.get(number, 0) + 1
    return counts


def test_restarted_stage_and_redelivered_chunks_call_nobody_twice(aws, conn):
    bootstrap()
    payment_ids = _loans(conn, 5)
    with LocalReminderStack() as stack:
        assert start_day(Zone.WIB, BUSINESS_DATE).started
        msg = _first_stage_message()
        run_stage(conn, msg, stage_settings(), **_handler_built(), chunk_size=2)  # enqueues, then "dies"
        restarted = StageMessage(msg.run.with_attempt(1), msg.task_token)
        run_stage(conn, restarted, stage_settings(), **_handler_built(), chunk_size=2)  # the workflow's retry
        # and a dispatch chunk is delivered twice (SQS at-least-once)
        sqs = settings.aws_clients().client("sqs")
        url = resources.queue_url("reminder-dispatch-robocall")
        body = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"][0]
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=body["ReceiptHandle"], VisibilityTimeout=0)
        sqs.send_message(QueueUrl=url, MessageBody=body["Body"])
        stack.runtime.drain(DISPATCH_FUNCTIONS, idle=stack.idle)
        # a stray duplicate of the stage message after the stage completed resets nothing
        again = run_stage(conn, msg, stage_settings(), **_handler_built(), chunk_size=2)
        stack.runtime.drain(DISPATCH_FUNCTIONS, idle=stack.idle)
        calls = _calls_per_number(stack)
    assert again["chunks"] == 0
    assert len(calls) == 5 and set(calls.values()) == {1}
    store = DynamoReminderStore()
    record = store.stage(RUN)
    assert record.completed and record.run.attempt == 1
    assert record.counters()["placed"] == 5 and record.counters()["selected"] == 5
    assert all(store.get(RUN, p).status == EntryStatus.PLACED for p in payment_ids)


def test_provider_500s_and_429s_are_retried_and_a_lost_answer_is_never_sent_again(aws, conn):
    bootstrap()
    payment_ids = _loans(conn, 3)
    with LocalReminderStack(provider_timeout=0.3, extra_env={"PROVIDER_MAX_ATTEMPTS": "3"}) as stack:
        stack.voice.inject("500", count=2, recipient="6281300000000")     # fails twice, then goes through
        stack.voice.inject("timeout", count=3, recipient="6281300000001")  # answer never comes: may be placed
        stack.voice.inject("429", count=3, recipient="6281300000002")      # throttled every attempt
        assert start_day(Zone.WIB, BUSINESS_DATE).started
        msg = _first_stage_message()
        run_stage(conn, msg, stage_settings(), **_handler_built())
        stack.runtime.drain(DISPATCH_FUNCTIONS, idle=stack.idle)
        outcomes = [(r.body["to"][0]["number"], r.outcome) for r in stack.voice.records]
    assert [o for n, o in outcomes if n == "6281300000000"][:2] == ["http_500", "http_500"]
    assert len([o for n, o in outcomes if n == "6281300000000"]) == 3
    assert [o for n, o in outcomes if n == "6281300000001"] == ["timeout"]  # outcome unknown: not called again
    assert [o for n, o in outcomes if n == "6281300000002"] == ["http_429"] * 3
    store = DynamoReminderStore()
    first, second, third = (store.get(RUN, p) for p in payment_ids)
    assert (first.status, first.attempts) == (EntryStatus.PLACED, 3)
    assert (second.status, second.attempts) == (EntryStatus.UNCERTAIN, 1)
    assert (third.status, third.attempts) == (EntryStatus.FAILED, 3) and "gave up" in third.error
    record = store.stage(RUN)
    c = record.counters()
    assert (c["placed"], c["unknown"], c["place_failed"], record.completed) == (1, 1, 1, True)


def test_over_capacity_stage_calls_the_largest_amounts_and_reports_the_rest(aws, conn):
    bootstrap()
    amounts = [1_000_000, 9_000_000, 5_000_000, 7_000_000, 3_000_000]
    payment_ids = _loans(conn, 5, amounts)
    # 2 hours to the next slot at 0.0005 calls/s x 0.9 headroom = 3 calls
    with LocalReminderStack(extra_env={"VOICE_PLANNED_CALLS_PER_SECOND": "0.0005"}) as stack:
        assert start_day(Zone.WIB, BUSINESS_DATE).started
        counts = run_stage(conn, _first_stage_message(), stage_settings(), **_handler_built())
        stack.runtime.drain(DISPATCH_FUNCTIONS, idle=stack.idle)
        called = {r.body["to"][0]["number"] for r in stack.voice.records}
    assert counts["capacity"] == 3 and counts["not_placed"] == 2
    assert called == {"6281300000001", "6281300000003", "6281300000002"}  # 9, 7 and 5 million
    c = DynamoReminderStore().stage(RUN).counters()
    assert (c["selected"], c["placed"], c["not_placed"]) == (5, 3, 2)
    assert len(payment_ids) == 5


def test_malformed_chunk_is_rejected_before_any_call():
    with pytest.raises(ValueError, match="unreadable"):
        Chunk.parse({"zone": "WIB", "business_date": "2026-11-20", "stage": "robocall_1", "attempt": 0,
                     "chunk_id": "0-1", "fields": ["payment_id"], "rows_gz": "not base64 gzip"})
    with pytest.raises(ValueError, match="malformed dispatch chunk"):
        Chunk.parse({"zone": "WIB", "business_date": "2026-11-20", "stage": "robocall_9", "chunk_id": "0-1"})
    with pytest.raises(ValueError, match="integer payment_id"):
        Chunk.parse({"zone": "WIB", "business_date": "2026-11-20", "stage": "robocall_1", "attempt": 0,
                     "chunk_id": "0-1", "fields": ["payment_id"], "rows_gz": encode_rows('[["x"]]')})
    with pytest.raises(ValueError, match="unreadable"):  # a row without the fields a send needs
        Chunk.parse({"zone": "WIB", "business_date": "2026-11-20", "stage": "robocall_1", "attempt": 0,
                     "chunk_id": "0-1", "fields": ["payment_id", "amount"], "rows_gz": encode_rows("[[7, 100]]")})
    with pytest.raises(ValueError, match="unreadable"):  # a due date that is not one
        Chunk.parse(chunk_body(RUN, "0-1", '[[7, 70, "0812", "Siti", 100, "2026-02-30", "JULO", "10110", 7]]'))
    chunk = Chunk.parse(chunk_body(RUN, "0-1", '[[7, 70, "0812", "Siti", 100, "2026-11-23", "JULO", "10110", null]]'))
    assert chunk.payments == [PaymentRow(7, 70, "0812", "Siti", 100, date(2026, 11, 23), "JULO", "10110", None)]
    # a chunk enqueued before a field existed (no "contact"), or with a field this code does not know
    old = Chunk.parse({**chunk_body(RUN, "0-1", '[[7, 70, "0812", "Siti", 100, "2026-11-23", "JULO", "10110"]]'),
                       "fields": ["payment_id", "loan_id", "phone", "name", "amount", "due_date", "product",
                                  "postcode"]})
    newer = Chunk.parse({**chunk_body(RUN, "0-1", '[[7, 70, "0812", "Siti", 100, "2026-11-23", "JULO", "1", 7, 1]]'),
                         "fields": [*CHUNK_FIELDS, "later_field"]})
    assert old.payments[0].contact is None and newer.payments[0].contact == 7
    with pytest.raises(ValueError, match="malformed stage message"):
        StageMessage.parse({"zone": "Mars", "business_date": "2026-11-20", "stage": "robocall_1",
                            "task_token": "t"})


class _CollectedChunks:
    """The dispatch queue, as a list: what the stage enqueued."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []

    def send(self, bodies) -> None:
        self.bodies.extend(bodies)

    def sizes(self) -> list[int]:
        return [len(decode_rows(b["rows_gz"])) for b in self.bodies]


class _NoTaskCalls:
    def succeed(self, *args, **kwargs):
        raise AssertionError("no chunk has finished: the stage cannot be complete")

    fail = heartbeat = succeed


@pytest.mark.parametrize(("payments", "containers", "fixed", "sizes"), [
    (25, 3, None, [10, 10, 5]),   # at least one chunk per container, never under 10 payments
    (60, 3, None, [20, 20, 20]),
    (60, 1, None, [60]),          # one container: one chunk fits its timeout at this pacing
    (60, 3, "50", [50, 10]),      # REMINDER_CHUNK_SIZE is taken as it is
])
def test_a_stage_is_spread_over_every_dispatch_container(conn, monkeypatch, payments, containers, fixed, sizes):
    """Each dispatch container keeps 1/N of the provider rate: a stage enqueued as one chunk would be
    placed by one container at 1/N of the rate the capacity plan counted on."""
    _loans(conn, payments)
    monkeypatch.setenv("DISPATCH_MAX_CONCURRENCY", str(containers))
    if fixed:
        monkeypatch.setenv("REMINDER_CHUNK_SIZE", fixed)
    store = MemoryReminderStore()
    store.record_pacing(Channel.ROBOCALL, Pacing(50.0, 900))  # alone, a chunk could hold 4,000 payments
    queue = _CollectedChunks()
    counts = run_stage(conn, StageMessage(RUN, "task-token"), stage_settings(), store=store, tasks=_NoTaskCalls(),
                       queue=queue,
                       clock=FixedClock(slot_utc(RUN.zone, RUN.business_date, RUN.stage)))
    assert queue.sizes() == sizes
    assert counts["enqueued"] == payments and counts["chunks"] == len(sizes)
