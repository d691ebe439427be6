"""The SMS stage of a T-3 day with the SMS provider failing 10% of requests in every way it can
(throttled, 5xx, timeout, answer lost, connection cut, slow; receipts duplicated and reordered).

Twelve WIB borrowers answer no call; half have no WhatsApp, and the WhatsApp message of a quarter
fails (undeliverable). Invariants: nobody gets two messages of one stage; each stage's summary adds up;
everybody who failed every call got one WhatsApp message or one SMS (an SMS after WhatsApp only when
that one failed), or is counted where the summary says why not (place_failed: refused; unknown: maybe
sent, never resent); the execution ends SUCCEEDED.
"""

from __future__ import annotations

from datetime import date

import pytest

from localdev.aws.bootstrap import bootstrap
from localdev.fakes import FaultRates
from localdev.reminder_day import LocalReminderStack
from tests.chaos.reminder_support import Day, assert_summary_adds_up, called_twice, calls_per_pair, fast_retries
from tests.factories import make_loan, make_partner

BUSINESS_DATE = date(2026, 11, 20)
DUE = date(2026, 11, 23)
BORROWERS = 12
INVARIANT = ("nobody contacted twice in a stage; every borrower who failed all calls got one WhatsApp message or "
             "one SMS, or is counted place_failed/unknown; summary adds up; SUCCEEDED")


def _phone(i: int) -> str:
    return f"08131100{i:04d}"


def _intl(i: int) -> str:
    return "62" + _phone(i)[1:]


@pytest.mark.slow
@pytest.mark.chaos(scenario="SMS provider faults at 10% each (throttled, 5xx, timeout, answer lost, cut, slow, "
                            "receipts duplicated/reordered) on a day with 12 borrowers reaching the SMS stage",
                   invariant=INVARIANT)
def test_sms_faults_at_ten_percent_contact_nobody_twice(aws, conn):
    bootstrap()
    fast_retries()
    make_partner(conn, 1, "Lendana P2P")
    ids = [make_loan(conn, postcode="10110", phone=_phone(i), due_dates=[DUE], has_whatsapp=i % 2 == 0).payment_ids[0]
           for i in range(BORROWERS)]
    conn.commit()
    with LocalReminderStack(provider_timeout=0.5, extra_env={"REMINDER_CHUNK_SIZE": "3",
                                                            "PROVIDER_MAX_ATTEMPTS": "3"}) as stack:
        for i in range(BORROWERS):
            stack.voice.force_outcome(_intl(i), "busy")
            stack.whatsapp.force_outcome(_intl(i), "failed" if i % 4 == 0 else "read")
        stack.sms.set_rates(FaultRates.each(0.10))
        day = Day(stack, BUSINESS_DATE)
        day.start()
        execution = day.finish(budget=240)
        pairs = calls_per_pair(stack)
        sms_records = list(stack.sms.records)

    assert execution["status"] == "SUCCEEDED", execution
    assert called_twice(stack) == {}
    stages = assert_summary_adds_up(execution)
    whatsapp = {pid for (pid, stage), n in pairs.items() if stage == "whatsapp"}
    sms = {pid for (pid, stage), n in pairs.items() if stage == "sms"}
    sms_due = {ids[i] for i in range(BORROWERS) if i % 2 == 1 or i % 4 == 0}  # no WhatsApp, or it failed
    assert whatsapp == {ids[i] for i in range(BORROWERS) if i % 2 == 0}
    assert sms <= sms_due and stages["sms"]["selected"] == len(sms_due)
    row = stages["sms"]
    assert len(sms) + row["place_failed"] + row["unknown"] >= len(sms_due) - row["skipped"] - row["not_placed"]
    assert len(sms) == row["placed"] or row["unknown"] > 0  # an unknown SMS may have gone out (answer lost)
    assert {r.fault for r in sms_records} - {None}, "the faults did happen"
