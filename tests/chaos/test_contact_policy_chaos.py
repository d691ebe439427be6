"""Chaos for the contact policy: late triggers, sends that come back after hours, an opt-out mid-stage.

Sources of the rules checked: POJK 22/2023 Pasal 62 ayat (2) huruf f (08:00-20:00 local, Monday to
Saturday) and Meta's WhatsApp Business policy (an opt-out is honoured). Each scenario drives the
deployed pieces (state machine in moto, queues, Lambda handlers, fake providers over HTTP, signed
webhooks into the Chalice app) on the replayed day's clock (``stack.clock``), which the scenario
moves: a stage anchored at 19:50 local runs at 19:50 as far as every function can tell.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time

import pytest

from chalicelib.contact_data import history
from chalicelib.reminders.stages import Stage, StageRun
from chalicelib.reminders.store import EntryStatus
from chalicelib.reminders.store.dynamo import DynamoReminderStore
from chalicelib.zones import Zone
from localdev.aws.bootstrap import bootstrap
from localdev.reminder_day import LocalReminderStack
from tests.chaos.reminder_support import Day, assert_summary_adds_up, called_twice, fast_retries
from tests.factories import make_loan, make_partner

BUSINESS_DATE = date(2026, 11, 20)  # a Friday
DUE = date(2026, 11, 23)
WHATSAPP_QUEUE = "reminder-dispatch-whatsapp"
ADDS_UP = "per attempt selected = placed + place_failed + unknown + not_placed + skipped"
NOT_AFTER_8PM = "no call or message placed at or after 20:00 local (POJK 22/2023 Pasal 62 (2) f)"


def _phone(i: int) -> str:
    return f"08137000{i:04d}"


def _intl(i: int) -> str:
    return "62" + _phone(i)[1:]


def _local(hh: int, mm: int) -> datetime:
    return datetime.combine(BUSINESS_DATE, time(hh, mm), tzinfo=Zone.WIB.tzinfo)


@pytest.fixture
def borrowers(aws, conn) -> list[int]:
    """Six WIB borrowers with WhatsApp due at T-3, same amount (chunks follow payment id order)."""
    bootstrap()
    fast_retries()
    make_partner(conn, 1, "Lendana P2P")
    ids = [make_loan(conn, postcode="10110", phone=_phone(i), due_dates=[DUE]).payment_ids[0] for i in range(6)]
    conn.commit()
    return ids


@contextmanager
def _day(**env: str) -> Iterator[tuple[LocalReminderStack, Day]]:
    with LocalReminderStack(provider_timeout=0.5, extra_env={"REMINDER_CHUNK_SIZE": "2", "PROVIDER_MAX_ATTEMPTS": "3",
                                                             **env}) as stack:
        for i in range(6):
            stack.voice.force_outcome(_intl(i), "busy")  # nobody answers: everyone reaches the WhatsApp stage
        day = Day(stack, BUSINESS_DATE)
        day.start()
        yield stack, day


def _scene(stage: str) -> str:
    return StageRun(Zone.WIB, BUSINESS_DATE, Stage(stage)).ledger_key


@pytest.mark.chaos(scenario="every stage of a zone's day triggered late, from 19:50 local",
                   invariant=f"{NOT_AFTER_8PM}; nothing selected is lost: selected = not_placed; {ADDS_UP}")
def test_a_stage_that_starts_at_19_50_local_places_nothing_after_20_00(borrowers) -> None:
    with _day() as (stack, day):
        for stage, minute in (("robocall_1", 50), ("robocall_2", 52), ("robocall_3", 54), ("whatsapp", 56)):
            stack.clock.anchor(_scene(stage), _local(19, minute))
        execution = day.finish()
        requests = [*stack.voice.records, *stack.whatsapp.records]
    assert execution["status"] == "SUCCEEDED"
    assert requests == []  # each stage's window had closed (and 20:00 was minutes away): nobody is called
    stages = assert_summary_adds_up(execution)
    assert all(row["selected"] == row["not_placed"] == 6 for name, row in stages.items() if name != "sms"), stages
    assert stages["sms"]["placed"] == 0  # no WhatsApp message failed (none was placed): nobody to text


@pytest.mark.chaos(scenario="WhatsApp chunks that come back after 20:00 local (redelivery after hours)",
                   invariant=f"{NOT_AFTER_8PM}; the rest is skipped with reason outside_hours, never sent; {ADDS_UP}")
def test_a_whatsapp_retry_after_hours_is_skipped_not_sent(borrowers, conn) -> None:
    with _day() as (stack, day):
        for stage in ("robocall_1", "robocall_2", "robocall_3"):
            day.run_stage_normally(stage)
        # planned before the SMS slot (15:00) that ends the WhatsApp window: three chunks
        first = stack.clock.anchor(_scene("whatsapp"), _local(14, 50))
        day.send_stage_message(day.take_stage_message("whatsapp"))
        day.deliver_stage()
        day.deliver_dispatch_once(WHATSAPP_QUEUE)               # one chunk goes out at 14:50
        later = stack.clock.anchor(_scene("whatsapp"), _local(20, 10))  # the others come back at 20:10
        day.drain_dispatch()
        execution = day.finish()
        # when the provider received each request, on the scenario's clock (not our own reading of it)
        sent = [(rec, (first if rec.received_at < later.real else later).simulated(rec.received_at)
                 .astimezone(Zone.WIB.tzinfo)) for rec in stack.whatsapp.records]
        twice = called_twice(stack)
    assert execution["status"] == "SUCCEEDED" and twice == {}
    assert len(sent) == 2 and all(at.time() < time(20) for _rec, at in sent)
    stages = assert_summary_adds_up(execution)
    assert stages["whatsapp"]["placed"] == 2 and stages["whatsapp"]["skipped"] == 4
    assert stages["whatsapp"]["skipped_by_reason"] == {"outside_hours": 4}
    run = StageRun(Zone.WIB, BUSINESS_DATE, Stage.WHATSAPP)
    skipped = [e for e in DynamoReminderStore().entries(run) if e.status == EntryStatus.SKIPPED]
    assert len(skipped) == 4
    rows = [r for pid in borrowers for r in history.of_payment(conn, pid) if r["stage"] == "whatsapp"]
    assert sorted(r["result"] for r in rows) == ["placed"] * 2 + ["skipped"] * 4
    assert all(r["at_local"] >= "2026-11-20T20:10" for r in rows if r["result"] == "skipped")


@pytest.mark.chaos(scenario="a borrower replies BERHENTI on WhatsApp while the WhatsApp stage is sending",
                   invariant="no template message to that number after the opt-out; exactly one confirmation; "
                             f"the skip is recorded with reason opted_out; {ADDS_UP}")
def test_an_opt_out_mid_stage_stops_the_rest_of_the_stages_sends_to_that_number(borrowers, conn) -> None:
    with _day() as (stack, day):
        for stage in ("robocall_1", "robocall_2", "robocall_3"):
            day.run_stage_normally(stage)
        day.send_stage_message(day.take_stage_message("whatsapp"))
        day.deliver_stage()
        day.deliver_dispatch_once(WHATSAPP_QUEUE)                # the first chunk goes out
        messaged = {rec.body["to"] for rec in stack.whatsapp.records}
        target = next(_intl(i) for i in range(6) if _intl(i) not in messaged)
        stack.whatsapp.inbound(target, "Berhenti")               # she opts out mid-stage ...
        stack.whatsapp.inbound(target, "BERHENTI")               # ... twice: still one confirmation
        assert stack.whatsapp.wait_idle(30)
        opted_at = datetime.now(UTC).timestamp()
        day.drain_dispatch()                                      # the rest of the stage, and the reply owed
        execution = day.finish()
        to_target = [rec for rec in stack.whatsapp.records if rec.body.get("to") == target]
        twice = called_twice(stack)
    assert execution["status"] == "SUCCEEDED" and twice == {}
    assert [rec.body["type"] for rec in to_target] == ["text"]  # the confirmation, and no reminder
    assert all(rec.received_at >= opted_at for rec in to_target)
    stages = assert_summary_adds_up(execution)
    assert stages["whatsapp"]["skipped_by_reason"] == {"opted_out": 1}
    assert stages["whatsapp"]["placed"] == 5
    with conn.cursor() as cur:
        cur.execute("SELECT state, source FROM contact_preference WHERE phone = %s AND channel = 'whatsapp'", (target,))
        assert cur.fetchone() == ("opted_out", "whatsapp_inbound")
        cur.execute("SELECT count(*), count(*) FILTER (WHERE reply_state = 'sent') FROM whatsapp_inbound "
                    "WHERE phone = %s", (target,))
        assert cur.fetchone() == (2, 1)
    conn.rollback()
