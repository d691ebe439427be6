"""Do-not-contact and opt-outs, end to end: a signed inbound WhatsApp opt-out, staff's "calls: ignored",
the seed's ``loan.is_ignore_calls`` and ``payment.is_ptp_robocall_active``.

Sources: Meta's WhatsApp Business policy (an opt-out request is honoured); the source schema (report
000: ``is_ignore_calls`` "status penolakan panggilan", ``is_ptp_robocall_active`` "status keaktifan nomor").
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from chalicelib import resources, settings
from chalicelib.contact_data import history, preferences
from chalicelib.reminders.adapters import TaskCallbacks
from chalicelib.reminders.messages import StageMessage
from chalicelib.reminders.scheduling import start_day
from chalicelib.reminders.stage_worker import run_stage
from chalicelib.reminders.stages import Stage, StageRun
from chalicelib.reminders.store.dynamo import DynamoReminderStore
from chalicelib.reminders.summary import stage_summary
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


def _first_stage_message() -> StageMessage:
    sqs = settings.aws_clients().client("sqs")
    url = resources.queue_url("reminder-stages")
    for _ in range(100):
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1).get("Messages", [])
        if msgs:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=msgs[0]["ReceiptHandle"])
            return StageMessage.parse(json.loads(msgs[0]["Body"]))
    raise AssertionError("the state machine never sent the robocall_1 stage message")


def test_an_inbound_stop_opts_the_number_out_and_is_confirmed_exactly_once(aws, conn) -> None:
    bootstrap()
    number, other = "6281355550001", "6281355550002"
    with LocalReminderStack() as stack:
        stack.whatsapp.inject("duplicate", count=1, recipient=number)  # Meta delivers the webhook twice
        stack.whatsapp.inbound(number, " stop. ")
        assert stack.whatsapp.wait_idle(30)
        stack.whatsapp.inbound(number, "STOP")                        # again: already opted out, no reply
        stack.whatsapp.inbound(other, "halo, saya sudah bayar kemarin")  # for customer service only
        stack.whatsapp.inbound(other, "jangan stop dulu")              # not the keyword alone: not an opt-out
        assert stack.whatsapp.wait_idle(30)
        stack.runtime.drain(DISPATCH_FUNCTIONS, idle=stack.idle)
        texts = [r for r in stack.whatsapp.records if r.body.get("type") == "text"]
    assert [r.body["to"] for r in texts] == [number]
    assert "berhenti" in texts[0].body["text"]["body"].lower()
    assert preferences.preference(conn, number)["whatsapp"] == "opted_out"
    assert preferences.preference(conn, number)["source"] == "whatsapp_inbound"
    assert preferences.preference(conn, other)["whatsapp"] == "allowed"
    with conn.cursor() as cur:
        cur.execute("SELECT phone, kind, reply_state FROM whatsapp_inbound ORDER BY received_at")
        rows = cur.fetchall()
        cur.execute("SELECT count(*) FROM contact_preference_audit WHERE phone = %s", (number,))
        (audited,) = cur.fetchone()
    conn.rollback()
    assert sorted(rows, key=str) == sorted([(number, "opt_out", "sent"), (number, "opt_out", None),
                                            (other, "other", None), (other, "other", None)], key=str)
    assert audited == 1


def test_do_not_call_and_opted_out_numbers_are_skipped_with_their_reason_and_recorded(aws, conn) -> None:
    bootstrap()
    make_partner(conn, 1, "Lendana P2P")
    plain = make_loan(conn, postcode="10110", phone="081300000001", due_dates=[DUE])
    ignored_loan = make_loan(conn, postcode="10110", phone="081300000002", due_dates=[DUE])
    calls_off = make_loan(conn, postcode="10110", phone="081300000003", due_dates=[DUE])
    wa_off = make_loan(conn, postcode="10110", phone="081300000004", due_dates=[DUE])
    ptp_off = make_loan(conn, postcode="10110", phone="081300000005", due_dates=[DUE])
    with conn.cursor() as cur:
        cur.execute("UPDATE loan SET is_ignore_calls = TRUE WHERE loan_id = %s", (ignored_loan.loan_id,))
        cur.execute("UPDATE payment SET ptp_robocall_phone_number = '081399999999', is_ptp_robocall_active = FALSE "
                    "WHERE payment_id = %s", (ptp_off.payment_ids[0],))
    conn.commit()
    preferences.change(conn, "081300000003", {"calls": "ignored"}, source="staff", reason="asked by phone")
    preferences.change(conn, "081300000004", {"whatsapp": "opted_out"}, source="staff", reason="complaint")
    with LocalReminderStack() as stack:
        assert start_day(Zone.WIB, BUSINESS_DATE).started
        run_stage(conn, _first_stage_message(), stage_settings(), **_handler_built())
        stack.runtime.drain(DISPATCH_FUNCTIONS, idle=stack.idle)
        called = sorted(r.body["to"][0]["number"] for r in stack.voice.records)
    # WhatsApp's opt-out leaves calls alone; an inactive promise-to-pay number is not called: the borrower's is
    assert called == ["6281300000001", "6281300000004", "6281300000005"]
    summary = stage_summary(DynamoReminderStore(), RUN)
    assert (summary["selected"], summary["placed"], summary["skipped"]) == (5, 3, 2)
    assert summary["skipped_by_reason"] == {"do_not_call": 1, "opted_out": 1}
    results = {loan.loan_id: [(r["result"], (r["reason"] or "").split(":")[0]) for r in
                              history.of_payment(conn, loan.payment_ids[0])]
               for loan in (plain, ignored_loan, calls_off)}
    assert results == {plain.loan_id: [("placed", "")], ignored_loan.loan_id: [("skipped", "do_not_call")],
                       calls_off.loan_id: [("skipped", "opted_out")]}
    assert wa_off.loan_id and ptp_off.loan_id
