"""Chaos for the SMS opt-out: a borrower texts BERHENTI to our Vonage number while the SMS stage is sending.

Mirrors issue 19's WhatsApp scenario (``test_contact_policy_chaos``). Sources: Vonage's signed inbound SMS
webhook (redelivered until answered 2xx), POJK 22/2023 (the borrower's wish not to be contacted on a
channel is honoured). The deployed pieces run as in the other chaos scenarios: the state machine in moto,
queues, Lambda handlers, the strict SMS fake over HTTPS, signed webhooks into the Chalice app.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from localdev.aws.bootstrap import bootstrap
from localdev.reminder_day import LocalReminderStack
from tests.chaos.reminder_support import Day, assert_summary_adds_up, called_twice, fast_retries
from tests.factories import make_loan, make_partner

BUSINESS_DATE = date(2026, 11, 20)  # a Friday
DUE = date(2026, 11, 23)
SMS_FUNCTION = "reminder-dispatch-sms"
BORROWERS = 6
ADDS_UP = "per attempt selected = placed + place_failed + unknown + not_placed + skipped"


def _phone(i: int) -> str:
    return f"08137100{i:04d}"


def _intl(i: int) -> str:
    return "62" + _phone(i)[1:]


@pytest.mark.slow
@pytest.mark.chaos(scenario="a borrower texts BERHENTI (twice, the webhook delivered twice) while the SMS stage "
                            "is sending",
                   invariant="no reminder SMS to that number after the opt-out; exactly one confirmation SMS; "
                             f"the skip is recorded with reason opted_out; WhatsApp and calls untouched; {ADDS_UP}")
def test_an_sms_opt_out_mid_stage_stops_the_rest_of_the_stages_sms_to_that_number(aws, conn) -> None:
    bootstrap()
    fast_retries()
    make_partner(conn, 1, "Lendana P2P")
    for i in range(BORROWERS):  # no WhatsApp: everybody who fails the calls is due an SMS
        make_loan(conn, postcode="10110", phone=_phone(i), due_dates=[DUE], has_whatsapp=False)
    conn.commit()
    with LocalReminderStack(provider_timeout=0.5, extra_env={"REMINDER_CHUNK_SIZE": "2",
                                                            "PROVIDER_MAX_ATTEMPTS": "3"}) as stack:
        for i in range(BORROWERS):
            stack.voice.force_outcome(_intl(i), "busy")  # nobody answers
        day = Day(stack, BUSINESS_DATE)
        day.start()
        for stage in ("robocall_1", "robocall_2", "robocall_3", "whatsapp"):
            day.run_stage_normally(stage)
        day.send_stage_message(day.take_stage_message("sms"))
        day.deliver_stage()
        day.deliver_dispatch_once(SMS_FUNCTION)                # the first chunk goes out
        texted = {rec.body["to"] for rec in stack.sms.records}
        target = next(_intl(i) for i in range(BORROWERS) if _intl(i) not in texted)
        stack.sms.inject("duplicate", count=1, recipient=target)  # Vonage delivers her webhook twice
        stack.sms.inbound(target, "Berhenti")                  # she opts out mid-stage ...
        stack.sms.inbound(target, " BERHENTI ")                # ... twice: still one confirmation
        assert stack.sms.wait_idle(30)
        opted_at = datetime.now(UTC).timestamp()
        day.drain_dispatch()                                    # the rest of the stage, and the reply owed
        execution = day.finish()
        to_target = [rec for rec in stack.sms.records if rec.body.get("to") == target]
        twice = called_twice(stack)
    assert execution["status"] == "SUCCEEDED" and twice == {}
    assert [rec.body.get("client-ref") for rec in to_target] == ["opt-out-reply"]  # the confirmation, no reminder
    assert all(rec.received_at >= opted_at for rec in to_target)
    stages = assert_summary_adds_up(execution)
    assert stages["sms"]["skipped_by_reason"] == {"opted_out": 1}
    assert stages["sms"]["placed"] == BORROWERS - 1
    with conn.cursor() as cur:
        cur.execute("SELECT channel, state, source FROM contact_preference WHERE phone = %s", (target,))
        assert cur.fetchall() == [("sms", "opted_out", "sms_inbound")]  # WhatsApp and calls keep their own
        cur.execute("SELECT count(*), count(*) FILTER (WHERE reply_state = 'sent') FROM sms_inbound "
                    "WHERE phone = %s", (target,))
        assert cur.fetchone() == (2, 1)
    conn.rollback()
