"""Chaos: the daily report against a Slack that rate-limits, fails, refuses the token or loses
its answer. Invariant: exactly one post per report date (zero, with a clear failure, when the
token is refused), whatever the job's retries do."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from slack_sdk.errors import SlackApiError

from chalicelib.stuck_disbursements.report import run_report
from chalicelib.stuck_disbursements.slack import SlackAuthError, SlackFiles, slack_client
from localdev.fakes.slack import FakeSlack
from tests.factories import add_history, make_loan, make_partner

REPORT_DATE = date(2026, 11, 23)
ONE_POST = "exactly one Slack post per report date"


@pytest.fixture
def stuck(conn):
    make_partner(conn, 1, "Bukalapak", "marketplace")
    loan = make_loan(conn, disburse_status="INITIATED", application_status=181, loan_status=210)
    add_history(conn, loan.application_id, [100, 170, 181], start=datetime(2026, 11, 20, 1, 0, tzinfo=UTC))
    conn.commit()


def _files(slack: FakeSlack, sleep: Callable[[float], None] = time.sleep) -> SlackFiles:
    """The report's Slack client against the fake (``sleep``: how its retries wait)."""
    return SlackFiles(slack_client(slack.api_url, sleep=sleep))


def _run_like_the_scheduler(conn, tmp_path, slack: FakeSlack, tries: int = 3,
                            sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """EventBridge/Lambda retry a failed scheduled run (async invoke: up to 2 retries)."""
    outcomes = []
    for _ in range(tries):
        try:
            outcomes.append(run_report(conn, REPORT_DATE, tmp_path, _files(slack, sleep)).slack)
        except Exception as exc:  # the failed attempt; the next one is the platform's retry
            conn.rollback()
            outcomes.append(type(exc).__name__)
    return outcomes


def _posts_for_date(slack: FakeSlack) -> int:
    return sum(1 for s in slack.recorded.shares if s.title and str(REPORT_DATE) in s.title)


@pytest.mark.chaos(scenario="Slack 429 with Retry-After on every step", invariant=ONE_POST)
def test_rate_limited_steps_are_retried_after_retry_after(conn, stuck, tmp_path, slack):
    slept: list[float] = []  # the client's waits, recorded not waited
    for method in ("files.getUploadURLExternal", "files.completeUploadExternal"):
        slack.fail_next("429", method=method, retry_after=7)
    outcomes = _run_like_the_scheduler(conn, tmp_path, slack, sleep=slept.append)
    assert outcomes[0] == "posted" and _posts_for_date(slack) == 1
    assert len(slept) == 2 and all(7 <= s < 8 for s in slept)  # Retry-After honoured, not hammered
    answered = [c.answered for c in slack.recorded.calls]
    assert answered.count("http_429") == 2


@pytest.mark.chaos(scenario="Slack 429 asking for longer than a run can wait",
                   invariant="zero Slack posts, a clear failure, no retry storm")
def test_long_retry_after_fails_the_run_instead_of_sleeping(conn, stuck, tmp_path, slack):
    slept: list[float] = []
    slack.fail_next("429", method="files.getUploadURLExternal", retry_after=600)
    with pytest.raises(SlackApiError, match="ratelimited"):
        run_report(conn, REPORT_DATE, tmp_path, _files(slack, slept.append))
    conn.rollback()
    assert slept == [] and slack.recorded.posts() == 0


@pytest.mark.chaos(scenario="Slack 5xx on the post, then on the next run", invariant=ONE_POST)
def test_server_errors_on_the_post_are_not_blindly_repeated(conn, stuck, tmp_path, slack):
    slack.fail_next("500", method="files.getUploadURLExternal")  # read-only step: retried by slack_sdk
    slack.fail_next("503", method="files.completeUploadExternal")  # the post: asked about, then retried next run
    outcomes = _run_like_the_scheduler(conn, tmp_path, slack)
    assert _posts_for_date(slack) == 1
    assert "posted" in outcomes and outcomes[-1] == "already_posted"


@pytest.mark.chaos(scenario="Slack answer lost after the post (connection cut)", invariant=ONE_POST)
def test_lost_answer_is_recognised_not_reposted(conn, stuck, tmp_path, slack):
    slack.fail_next("lost", method="files.completeUploadExternal")
    outcomes = _run_like_the_scheduler(conn, tmp_path, slack)
    assert _posts_for_date(slack) == 1
    assert outcomes == ["posted", "already_posted", "already_posted"]
    assert "files.info" in slack.recorded.methods()


@pytest.mark.chaos(scenario="Slack answer lost, then the job crashes before recording it", invariant=ONE_POST)
def test_crash_after_post_before_record(conn, stuck, tmp_path, slack, monkeypatch):
    from chalicelib.stuck_disbursements import posting

    real = posting._execute

    def crash_on_mark(conn_, sql, params):
        if sql is posting.MARK_POSTED:
            raise ConnectionError("process killed")
        real(conn_, sql, params)

    monkeypatch.setattr(posting, "_execute", crash_on_mark)
    with pytest.raises(ConnectionError):
        run_report(conn, REPORT_DATE, tmp_path, _files(slack))
    conn.rollback()
    monkeypatch.setattr(posting, "_execute", real)
    assert _run_like_the_scheduler(conn, tmp_path, slack, tries=2) == ["posted", "already_posted"]
    assert _posts_for_date(slack) == 1


@pytest.mark.chaos(scenario="Slack refuses the token (invalid_auth)",
                   invariant="zero Slack posts, a clear failure, no retry storm")
def test_invalid_auth_fails_clearly_without_retrying(conn, stuck, tmp_path, slack):
    slack.revoke()
    with pytest.raises(SlackAuthError, match=r"invalid_auth.*SLACK_BOT_TOKEN"):
        run_report(conn, REPORT_DATE, tmp_path, _files(slack))
    conn.rollback()
    assert slack.recorded.posts() == 0
    assert slack.recorded.methods() == ["files.getUploadURLExternal"]  # one call, not retried


@pytest.mark.chaos(scenario="two report runs at once (duplicate schedule delivery)", invariant=ONE_POST)
def test_concurrent_runs_post_once(conn, stuck, tmp_path, slack, pg_url):
    import threading

    import psycopg2

    results: list[str] = []

    def run() -> None:
        own = psycopg2.connect(pg_url)
        try:
            results.append(run_report(own, REPORT_DATE, tmp_path, _files(slack)).slack)
        finally:
            own.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _posts_for_date(slack) == 1 and results.count("posted") == 1
