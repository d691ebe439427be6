"""The report's small rules (report 000): nothing posted on an empty day unless asked for an
"all clear" line; names and phone numbers masked in the Slack file unless an ops channel asks for them in full; one
post per report date however often the job runs."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import openpyxl
import pytest

from chalicelib.stuck_disbursements.columns import SettingError, load_settings
from chalicelib.stuck_disbursements.report import run_report
from chalicelib.stuck_disbursements.slack import SlackFiles, slack_client
from tests.factories import add_history, make_loan, make_partner

REPORT_DATE = date(2026, 11, 23)
START = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
PHONE = "081234567890"


def _setting(conn, **parameters):
    with conn.cursor() as cur:
        cur.execute("""INSERT INTO feature_setting (feature_name, parameters) VALUES ('stuck_disbursement_report', %s)
                       ON CONFLICT (feature_name) DO UPDATE SET parameters = EXCLUDED.parameters""",
                    (json.dumps(parameters),))
    conn.commit()


def _stuck(conn):
    make_partner(conn, 1, "Bukalapak", "marketplace")
    loan = make_loan(conn, disburse_status="INITIATED", application_status=170, fullname="Siti Wahyuni",
                     loan_status=210, phone=PHONE)
    add_history(conn, loan.application_id, [100, 110, 170], start=START)
    conn.commit()


def _names(path, header="Full name"):
    sheet = openpyxl.load_workbook(path).active
    headers = [c.value for c in sheet[1]]
    return [row[headers.index(header)].value for row in sheet.iter_rows(min_row=2)]


def test_empty_day_posts_nothing_by_default(conn, tmp_path, slack):
    result = run_report(conn, REPORT_DATE, tmp_path, SlackFiles(slack_client(slack.api_url)))
    assert result.rows == 0 and result.slack == "nothing_to_post"
    assert slack.recorded.posts() == 0 and slack.recorded.calls == []


def test_empty_day_posts_one_all_clear_line_when_set(conn, tmp_path, slack):
    _setting(conn, channel="C0OPS", post_all_clear=True)
    for _ in range(2):  # the second run that day posts nothing more
        run_report(conn, REPORT_DATE, tmp_path, SlackFiles(slack_client(slack.api_url)))
    (message,) = slack.recorded.messages
    assert message.channel == "C0OPS" and message.text.startswith("All clear")
    assert str(REPORT_DATE) in message.text and slack.recorded.shares == []


def test_names_are_masked_in_the_slack_file_by_default(conn, tmp_path, slack):
    _stuck(conn)
    _setting(conn, columns=["application_id", "fullname", "email"])
    result = run_report(conn, REPORT_DATE, tmp_path, SlackFiles(slack_client(slack.api_url)))
    assert _names(result.path) == ["S**** Wa****"]
    (email,) = _names(result.path, "Email")
    assert "***@" in email
    (shared,) = slack.recorded.shared()
    assert b"Siti" not in shared.content and b"Wahyuni" not in shared.content  # not even in shared strings


def test_phone_numbers_are_masked_in_the_slack_file_by_default(conn, tmp_path, slack):
    _stuck(conn)
    _setting(conn, columns=["application_id", "fullname", "mobile_phone_1"])
    result = run_report(conn, REPORT_DATE, tmp_path, SlackFiles(slack_client(slack.api_url)))
    assert _names(result.path, "Phone") == ["0812****90"]
    (shared,) = slack.recorded.shared()
    assert PHONE.encode() not in shared.content and PHONE[1:].encode() not in shared.content


def test_ops_channel_setting_shows_full_names(conn, tmp_path, slack):
    _stuck(conn)
    _setting(conn, channel="C0OPSPRIVATE", show_full_names=True,
             columns=["application_id", "fullname", "mobile_phone_1"])
    result = run_report(conn, REPORT_DATE, tmp_path, SlackFiles(slack_client(slack.api_url)))
    assert _names(result.path) == ["Siti Wahyuni"]
    assert _names(result.path, "Phone") == [PHONE]
    assert slack.recorded.shared()[0].channel == "C0OPSPRIVATE"


def test_a_flag_that_is_not_a_boolean_is_a_clear_error(conn):
    _setting(conn, show_full_names="yes")
    with pytest.raises(SettingError, match="show_full_names must be true or false"):
        load_settings(conn)


def test_second_run_the_same_day_does_not_post_again(conn, tmp_path, slack):
    _stuck(conn)
    first = run_report(conn, REPORT_DATE, tmp_path, SlackFiles(slack_client(slack.api_url)))
    second = run_report(conn, REPORT_DATE, tmp_path, SlackFiles(slack_client(slack.api_url)))
    assert (first.slack, second.slack) == ("posted", "already_posted")
    assert second.slack_file_id == first.slack_file_id
    assert slack.recorded.posts() == 1
    with conn.cursor() as cur:
        cur.execute("SELECT status, file_id FROM stuck_report_post WHERE report_date = %s", (REPORT_DATE,))
        assert cur.fetchone() == ("posted", first.slack_file_id)
    conn.rollback()
    next_day = run_report(conn, date(2026, 11, 24), tmp_path, SlackFiles(slack_client(slack.api_url)))
    assert next_day.slack == "posted" and slack.recorded.posts() == 2
