"""The reminder-day report to Slack: one message per zone and date, against the strict fake Slack,
whatever redeliveries, concurrent runs and lost answers happen; counts only, no borrower named."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from slack_sdk import WebClient

from chalicelib.reminders.day_report import REPORT_KIND, build_report, post_day_report
from chalicelib.slack_once import MESSAGE_NAMESPACE, AdvisoryLock, _int32, post_message_once
from chalicelib.stuck_disbursements.slack import SlackFiles, retry_handlers
from localdev.fakes.slack import FakeSlack

CHANNEL = "C0COLLECT1"
STAGE = {"selected": 10, "placed": 10, "succeeded": 6, "failed": 4, "not_placed": 0, "place_failed": 0,
         "unknown": 0, "skipped": 0, "skipped_by_reason": {}}


def _summary(**stages) -> dict:
    rows = {s: dict(STAGE) for s in ("robocall_1", "robocall_2", "robocall_3", "whatsapp", "sms")}
    for name, changes in stages.items():
        rows[name].update(changes)
    return {"zone": "WITA", "business_date": "2026-11-20", "stages": rows, "zone_fallback": 3}


@pytest.fixture
def slack():
    with FakeSlack() as fake:
        yield fake


def _poster(fake: FakeSlack) -> SlackFiles:
    return SlackFiles(WebClient(token=fake.token, base_url=fake.api_url, retry_handlers=retry_handlers()))


def test_the_report_flags_what_is_unusual_and_names_nobody():
    report = build_report(_summary(robocall_2={"succeeded": 1}, whatsapp={"unknown": 2, "place_failed": 1},
                                   sms={"skipped": 2, "skipped_by_reason": {"opted_out": 2}}),
                          finished={"robocall_1": True, "robocall_2": True, "robocall_3": True, "whatsapp": True,
                                    "sms": False}, threshold=0.25)
    assert report.key == "WITA#2026-11-20"
    assert report.text.startswith("*T-3 reminders WITA 2026-11-20*")
    assert "zone fallbacks (missing or invalid postal code): 3" in report.text
    assert set(report.unusual) == {"robocall_2: success rate 10% is under 25% (1 of 10)", "whatsapp: place_failed 1",
                                   "whatsapp: unknown 2", "sms: did not finish", "sms: skipped opted_out 2"}
    for line in report.text.splitlines()[3:8]:  # one row per stage, the counts in order
        assert line.split()[1:] == ["10", "10", line.split()[3], "4", "0", line.split()[6]]
    quiet = build_report(_summary(), threshold=0.25)
    assert quiet.unusual == () and quiet.text.endswith("Nothing unusual.")
    failed = build_report(_summary(), failure="ChunkFailed: chunk 0-1 failed on its last receive")
    assert "(did not finish)" in failed.text and failed.unusual[0].startswith("the workflow stopped")


def test_posted_once_however_often_the_day_ends(conn, slack):
    report = build_report(_summary())
    first = post_day_report(conn, _poster(slack), report, CHANNEL)
    again = post_day_report(conn, _poster(slack), report, CHANNEL)
    assert (first.outcome, again.outcome) == ("posted", "already_posted") and first.message_ts == again.message_ts
    assert [m.text.split("\n")[0] for m in slack.recorded.messages] == ["*T-3 reminders WITA 2026-11-20*"]
    other_zone = build_report({**_summary(), "zone": "WIT"})
    assert post_day_report(conn, _poster(slack), other_zone, CHANNEL).outcome == "posted"
    assert slack.recorded.posts() == 2
    assert post_day_report(conn, _poster(slack), report, "") is None  # no channel configured: nothing posted


def test_a_lost_answer_is_asked_about_not_posted_again(conn, slack):
    slack.fail_next("lost", "chat.postMessage")
    with pytest.raises(Exception):  # noqa: B017 (the cut connection, as slack_sdk raises it)
        post_message_once(conn, _poster(slack), kind=REPORT_KIND, key="WIB#2026-11-20", channel=CHANNEL, text="day")
    assert slack.recorded.posts() == 1  # Slack posted it; we never heard
    result = post_message_once(conn, _poster(slack), kind=REPORT_KIND, key="WIB#2026-11-20", channel=CHANNEL,
                               text="day")
    assert result.outcome == "found_after_lost_answer" and slack.recorded.posts() == 1
    assert "conversations.history" in slack.recorded.methods()


def test_a_post_that_never_happened_is_posted_on_the_next_run(conn, slack):
    slack.fail_next("503", "chat.postMessage")
    with pytest.raises(Exception):  # noqa: B017
        post_message_once(conn, _poster(slack), kind=REPORT_KIND, key="WIT#2026-11-20", channel=CHANNEL, text="day")
    assert slack.recorded.posts() == 0
    result = post_message_once(conn, _poster(slack), kind=REPORT_KIND, key="WIT#2026-11-20", channel=CHANNEL,
                               text="day")
    assert result.outcome == "posted" and slack.recorded.posts() == 1


def test_a_run_that_finds_the_lock_held_posts_nothing(conn, slack):
    import psycopg2

    other = psycopg2.connect(conn.dsn)
    try:
        with AdvisoryLock(other, MESSAGE_NAMESPACE, _int32(f"{REPORT_KIND}|WIB#2026-11-21")) as held:
            assert held.held
            result = post_message_once(conn, _poster(slack), kind=REPORT_KIND, key="WIB#2026-11-21",
                                       channel=CHANNEL, text="day")
        assert result.outcome == "in_progress" and slack.recorded.posts() == 0
    finally:
        other.close()


def test_concurrent_ends_of_the_same_day_post_one_message(conn, slack):
    import psycopg2

    report = build_report({**_summary(), "business_date": date(2026, 11, 21).isoformat()})
    outcomes: list[str] = []

    def end() -> None:
        own = psycopg2.connect(conn.dsn)
        try:
            result = post_day_report(own, _poster(slack), report, CHANNEL)
            outcomes.append(result.outcome if result else "none")
        finally:
            own.close()

    threads = [threading.Thread(target=end) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert slack.recorded.posts() == 1 and outcomes.count("posted") == 1
