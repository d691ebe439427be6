"""The daily stuck-disbursement report: query, .xlsx read back with openpyxl, Slack upload v2 calls."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import openpyxl
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from chalicelib.stuck_disbursements.columns import DEFAULT_COLUMNS, SettingError, load_settings
from chalicelib.stuck_disbursements.query import iter_stuck
from chalicelib.stuck_disbursements.report import report_filename, run_report
from chalicelib.stuck_disbursements.slack import SlackFiles
from chalicelib.stuck_disbursements.xlsx import RUPIAH_FORMAT
from localdev.lambda_runtime.runtime import IN_PROCESS, LambdaRuntime
from tests.factories import add_history, make_loan, make_partner

REPORT_DATE = date(2026, 11, 23)
START = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # 08:00 WIB


@pytest.fixture
def book(conn):
    """Two stuck (170 and 181 + INITIATED), and four that must not be listed."""
    make_partner(conn, 1, "Bukalapak", "marketplace")
    made = {}
    made["signed"] = make_loan(conn, disburse_status="INITIATED", application_status=170, loan_amount=3_500_000,
                               fullname="Siti Wahyuni", bank_name="BRI", loan_status=210)
    add_history(conn, made["signed"].application_id, [100, 110, 120, 130, 160, 170], start=START)
    made["failed"] = make_loan(conn, disburse_status="INITIATED", application_status=181, loan_amount=12_000_000,
                               fullname="Agus Saputra Wibisono Kusumaningrat", loan_status=210)
    add_history(conn, made["failed"].application_id, [100, 110, 170, 181], start=START.replace(day=18))
    made["pending"] = make_loan(conn, disburse_status="PENDING", application_status=170, loan_status=210)
    add_history(conn, made["pending"].application_id, [100, 170], start=START)
    made["done"] = make_loan(conn, disburse_status="COMPLETED", application_status=180)
    add_history(conn, made["done"].application_id, [100, 170, 180], start=START)
    made["early"] = make_loan(conn, disburse_status="INITIATED", application_status=160, loan_status=210)
    add_history(conn, made["early"].application_id, [100, 110, 160], start=START)
    made["failed_transfer"] = make_loan(conn, disburse_status="FAILED", application_status=181, loan_status=210)
    add_history(conn, made["failed_transfer"].application_id, [100, 170, 181], start=START)
    conn.commit()
    return made


def test_query_lists_only_170_or_181_with_initiated_disbursement(conn, book):
    rows = list(iter_stuck(conn, REPORT_DATE))
    assert [r["application_id"] for r in rows] == [book["failed"].application_id, book["signed"].application_id]
    failed = rows[0]
    assert failed["reached_at"] == datetime(2026, 11, 18, 11, 0)  # 181 at 04:00 UTC = 11:00 WIB, naive WIB
    assert failed["days_stuck"] == 5 and failed["application_status"] == 181


def test_xlsx_has_header_rows_and_formats(conn, book, tmp_path, slack):
    result = run_report(conn, REPORT_DATE, tmp_path, SlackFiles(WebClient(token="xoxb-test", base_url=slack.api_url)))
    assert result.rows == 2 and result.path.name == "pending_disbursements_2026-11-23.xlsx"
    sheet = openpyxl.load_workbook(result.path).active
    headers = [c.value for c in sheet[1]]
    assert headers[:3] == ["Application ID", "Application XID", "Full name"] and len(headers) == len(DEFAULT_COLUMNS)
    assert all(c.font.bold for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(len(headers))}3"
    data = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    col = {h: i for i, h in enumerate(headers)}
    assert [r[col["Full name"]] for r in data] == ["A**** Sa**** Wi**** Ku****", "S**** Wa****"]  # masked
    assert [r[col["Loan amount"]] for r in data] == [12_000_000, 3_500_000]
    assert isinstance(data[0][col["Loan amount"]], int)
    money = sheet.cell(row=2, column=col["Loan amount"] + 1)
    assert money.number_format == RUPIAH_FORMAT
    stuck_since = sheet.cell(row=2, column=col["Stuck since (WIB)"] + 1)
    assert stuck_since.value == datetime(2026, 11, 18, 11, 0) and stuck_since.is_date
    name_width = sheet.column_dimensions[openpyxl.utils.get_column_letter(col["Full name"] + 1)].width
    assert name_width >= len("A**** Sa**** Wi**** Ku****")
    id_width = sheet.column_dimensions[openpyxl.utils.get_column_letter(col["Retries"] + 1)].width
    assert id_width < name_width


def test_columns_come_from_the_feature_setting(conn, book, tmp_path):
    with conn.cursor() as cur:
        cur.execute("""INSERT INTO feature_setting (feature_name, parameters) VALUES ('stuck_disbursement_report', %s)
                       ON CONFLICT (feature_name) DO UPDATE SET parameters = EXCLUDED.parameters""",
                    (json.dumps({"channel": "C0OPS", "columns": ["fullname", "disburse_amount"]}),))
    conn.commit()
    result = run_report(conn, REPORT_DATE, tmp_path, None)
    sheet = openpyxl.load_workbook(result.path).active
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [
        ["Full name", "Disburse amount"],
        ["A**** Sa**** Wi**** Ku****", 12_000_000],
        ["S**** Wa****", 3_500_000],
    ]
    assert sheet["B2"].number_format == RUPIAH_FORMAT


def test_unknown_column_in_setting_is_a_clear_error(conn):
    with conn.cursor() as cur:
        cur.execute("INSERT INTO feature_setting (feature_name, parameters) VALUES ('stuck_disbursement_report', %s)",
                    (json.dumps({"columns": ["fullname", "salary"]}),))
    conn.commit()
    with pytest.raises(SettingError, match=r"unknown column\(s\) \['salary'\]"):
        load_settings(conn)


def test_default_setting_when_row_missing(conn):
    settings = load_settings(conn)  # conn truncates feature_setting
    assert [c.key for c in settings.columns] == list(DEFAULT_COLUMNS)
    assert settings.channel.startswith("C")


def test_empty_report_keeps_a_header_and_posts_nothing(conn, tmp_path, slack):
    client = WebClient(token="xoxb-test", base_url=slack.api_url)
    result = run_report(conn, REPORT_DATE, tmp_path, SlackFiles(client))
    assert result.rows == 0 and result.slack == "nothing_to_post"
    assert openpyxl.load_workbook(result.path).active["A1"].value == "Application ID"
    assert slack.recorded.calls == [] and slack.recorded.posts() == 0


def test_slack_upload_calls_as_the_real_client_makes_them(conn, book, tmp_path, slack):
    client = WebClient(token="xoxb-test", base_url=slack.api_url)
    result = run_report(conn, REPORT_DATE, tmp_path, SlackFiles(client))
    assert slack.recorded.methods() == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
    calls = [c for c in slack.recorded.calls if c.method != "upload"]
    assert all(c.authorization == "Bearer xoxb-test" for c in calls)
    assert calls[0].params["filename"] == report_filename(REPORT_DATE)
    assert int(calls[0].params["length"]) == result.path.stat().st_size
    completed = json.loads(calls[1].params["files"])
    assert completed == [{"id": result.slack_file_id, "title": "Pending disbursements 2026-11-23"}]
    assert calls[1].params["channel_id"] == "C0DISBURSEOPS"
    (shared,) = slack.recorded.shared()
    assert shared.content == result.path.read_bytes()
    assert shared.initial_comment.startswith("2 applications reached 170")
    assert slack.recorded.posts() == 1


def test_fake_slack_refuses_what_slack_refuses(slack, tmp_path):
    path = tmp_path / "r.xlsx"
    path.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(SlackApiError, match="invalid_auth"):
        WebClient(token="xoxb-wrong", base_url=slack.api_url).auth_test()
    with pytest.raises(SlackApiError, match="channel_not_found"):
        SlackFiles(WebClient(token="xoxb-test", base_url=slack.api_url)).post_file(
            "#disbursement-ops", path, "t", "c")
    assert WebClient(token="xoxb-test", base_url=slack.api_url).auth_test()["bot_id"] == "B0REPORTS"


def test_scheduled_handler_reports_for_the_wib_date(conn, book, tmp_path, slack, monkeypatch):
    monkeypatch.setenv("SLACK_API_URL", slack.api_url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("REPORT_DIR", str(tmp_path))
    runtime = LambdaRuntime(mode=IN_PROCESS)  # the template's function, run in this process
    assert [s["schedule"] for s in runtime.functions["stuck-disbursement-report"].schedules] == ["cron(0 2 * * ? *)"]
    answer = runtime.fire_schedule("stuck-disbursement-report", datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    assert answer == {"report_date": "2026-11-23", "rows": 2, "file": "pending_disbursements_2026-11-23.xlsx",
                      "slack_file_id": slack.recorded.shared()[0].file_id, "slack": "posted"}
    assert (tmp_path / answer["file"]).exists()


def test_inactive_setting_writes_the_file_but_posts_nothing(conn, book, tmp_path, slack):
    with conn.cursor() as cur:
        cur.execute("INSERT INTO feature_setting (feature_name, is_active, parameters) "
                    "VALUES ('stuck_disbursement_report', FALSE, '{}')")
    conn.commit()
    result = run_report(conn, REPORT_DATE, tmp_path, SlackFiles(WebClient(token="xoxb-test", base_url=slack.api_url)))
    assert result.rows == 2 and result.path.exists() and result.slack_file_id is None
    assert slack.recorded.calls == []
