"""A zone's day that fails for good still reports to the collections channel, once.

The robocall_1 stage's task is lost on every attempt (the worker never answers): after its retries the
state machine's Catch sends ``day_failed`` to the stage queue, the stage worker posts the day report
(stages not finished, why it stopped) and the execution fails. The message is redelivered and the day
"ends" twice more: still one post.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from localdev.aws.bootstrap import bootstrap
from localdev.reminder_day import COLLECTIONS_CHANNEL, LocalReminderStack
from tests.chaos.reminder_support import Day, fast_retries
from tests.factories import make_loan, make_partner

BUSINESS_DATE = date(2026, 11, 20)


@pytest.mark.chaos(scenario="robocall_1 lost on every attempt: the workflow fails, its day report is redelivered",
                   invariant="one Slack post for the zone and date, naming the unfinished stages; execution FAILED")
def test_a_failed_day_is_reported_once(aws, conn):
    bootstrap()
    fast_retries()
    make_partner(conn, 1, "Lendana P2P")
    make_loan(conn, postcode="10110", phone="081300000001", due_dates=[date(2026, 11, 23)])
    conn.commit()
    with LocalReminderStack(provider_timeout=0.5) as stack:
        day = Day(stack, BUSINESS_DATE)
        day.start()
        for _attempt in range(3):  # the first try and both retries: the task is lost every time
            day.fail_task(day.take_stage_message("robocall_1"))
        failed = day.take_stage_message("day_failed")
        for _delivery in range(3):  # delivered three times (at least once, and again)
            day.send_stage_message(failed)
            day.deliver_stage()
        execution = day.finish()
        posts = [m for m in stack.slack.recorded.messages if m.channel == COLLECTIONS_CHANNEL]

    assert execution["status"] == "FAILED"
    assert len(posts) == 1, [p.text for p in posts]
    text = posts[0].text
    assert text.startswith("*T-3 reminders WIB 2026-11-20* (did not finish)")
    assert "robocall_1: did not finish" in text and "sms: did not finish" in text
    assert "StageLost" in text and json.dumps(failed["error"])  # why it stopped, from the Catch
