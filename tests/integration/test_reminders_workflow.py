"""A whole T-3 business day through the real state machine under moto, fake providers over HTTP,
and the Chalice app receiving their signed callbacks."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, time
from typing import Any

import pytest

from chalicelib.reminders.stages import Stage, StageRun
from chalicelib.reminders.store.dynamo import DynamoReminderStore
from chalicelib.statuses import PaymentStatus
from chalicelib.zones import Zone
from localdev.aws.bootstrap import bootstrap
from localdev.demo.reminders import CALL_KEYS, call_rows, day_summary
from localdev.reminder_day import LocalReminderStack, run_day
from tests.factories import make_loan, make_partner

BUSINESS_DATE = date(2026, 11, 20)
DUE = date(2026, 11, 23)


def _phone(n: int) -> str:
    return f"0812000000{n:02d}"


def _intl(n: int) -> str:
    return "62" + _phone(n)[1:]


@pytest.fixture
def book(conn):
    """Who is who: name -> (loan, forced robocall outcome)."""
    people = {
        "answers": dict(postcode="10110", phone=_phone(1)),                       # WIB, answers at 08:00
        "never": dict(postcode="10110", phone=_phone(2), loan_amount=9_000_000),  # WIB, never answers
        "pede": dict(postcode="90111", phone=_phone(3), product_line_code=100),   # WITA, PEDE, never answers
        "no_wa": dict(postcode="97111", phone=_phone(4), has_whatsapp=False),     # WIT, no WhatsApp
        "pays": dict(postcode="10110", phone=_phone(5)),                          # WIB, pays after 08:00 call
        "inactive": dict(postcode="10110", phone=_phone(6), is_robocall_active=False),
        "other_day": dict(postcode="10110", phone=_phone(7), due_dates=[date(2026, 11, 24)]),
        "no_postcode": dict(postcode=None, phone=_phone(8)),                      # falls back to WIB
        "already_paid": dict(postcode="10110", phone=_phone(9), payment_status=PaymentStatus.PAID_ON_TIME),
        "wa_fails": dict(postcode="90111", phone=_phone(10)),                    # WITA, WhatsApp undeliverable
    }
    make_partner(conn, 1, "Lendana P2P")
    made = {}
    for name, kw in people.items():
        kw.setdefault("due_dates", [DUE])
        made[name] = make_loan(conn, fullname=name.title(), **kw)
    conn.commit()
    return made


FORCED = {1: "human", 2: "busy", 3: "unanswered", 4: "machine", 5: "busy", 8: "human", 10: "busy"}


def _play_the_day(conn, book) -> tuple[Any, list[Any], list[dict[str, Any]], list[tuple[str, str]]]:
    """The day from the template (IAM enforced): the run's result, the providers' records, the
    demo's call rows and the Slack reports; the paying borrower pays after the 08:00 call."""
    paid = []

    def borrower_pays_between_slots() -> None:
        pid = book["pays"].payment_ids[0]
        if not paid and DynamoReminderStore().get(StageRun(Zone.WIB, BUSINESS_DATE, Stage.ROBOCALL_1), pid) is not None:
            with conn.cursor() as cur:
                cur.execute("UPDATE payment SET payment_status_code = %s WHERE payment_id = %s",
                            (int(PaymentStatus.PAID_ON_TIME), pid))
            conn.commit()
            paid.append(pid)

    with LocalReminderStack(seed=3, strict=True) as stack:  # from the template, IAM enforced
        for n, outcome in FORCED.items():
            stack.voice.force_outcome(_intl(n), outcome)
        stack.whatsapp.force_outcome(_intl(10), "failed")
        for n in (2, 3):
            stack.whatsapp.force_outcome(_intl(n), "read")
        stack.sms.force_outcome(_intl(4), "delivered")
        result = run_day(BUSINESS_DATE, stack, between_stages=borrower_pays_between_slots)
        records = list(stack.voice.records) + list(stack.whatsapp.records) + list(stack.sms.records)
        assert stack.voice.callbacks_failed == 0 and stack.whatsapp.callbacks_failed == 0
        assert stack.sms.callbacks_failed == 0
        rows = call_rows(conn, records, stack.clock)
        reports = [(m.channel, m.text) for m in stack.slack.recorded.messages]
    assert paid, "the paying borrower was called at 08:00"
    return result, records, rows, reports


def _assert_day_reports(reports: list[tuple[str, str]], book) -> None:
    """One reminder-day report per zone to the collections channel, counts only."""
    assert sorted(text.splitlines()[0] for _c, text in reports) == [
        f"*T-3 reminders {z} 2026-11-20*" for z in ("WIB", "WIT", "WITA")]
    assert {channel for channel, _t in reports} == {"C0COLLECTIONS"}
    for _channel, text in reports:
        for name in book:
            assert name.title() not in text
        assert "628120000" not in text


def _assert_who_got_what(rows: list[dict[str, Any]], pid: dict[str, int]) -> None:
    """Each borrower's stages, templates and slot times, in the borrower's own zone."""
    assert all(tuple(r) == CALL_KEYS for r in rows)
    by_payment: dict[int, list[str]] = defaultdict(list)
    for r in rows:
        by_payment[r["payment_id"]].append(r["stage"])

    assert by_payment[pid["answers"]] == ["robocall_1"]
    assert by_payment[pid["no_postcode"]] == ["robocall_1"]
    assert by_payment[pid["pays"]] == ["robocall_1"]                # paid at 09:30: not called at 10:00
    assert by_payment[pid["never"]] == ["robocall_1", "robocall_2", "robocall_3", "whatsapp"]
    assert by_payment[pid["pede"]] == ["robocall_1", "robocall_2", "robocall_3", "whatsapp"]
    # no WhatsApp number: an SMS instead; a WhatsApp message that failed: an SMS after it
    assert by_payment[pid["no_wa"]] == ["robocall_1", "robocall_2", "robocall_3", "sms"]
    assert by_payment[pid["wa_fails"]] == ["robocall_1", "robocall_2", "robocall_3", "whatsapp", "sms"]
    _assert_sms(rows, pid)
    for name in ("inactive", "other_day", "already_paid"):
        assert pid[name] not in by_payment

    pede = [r for r in rows if r["payment_id"] == pid["pede"]]
    assert {r["template"] for r in pede} == {"pede_t3_robocall_v1", "pede_t3_reminder_v2"}
    assert {r["product"] for r in pede} == {"PEDE"}
    never = [r for r in rows if r["payment_id"] == pid["never"]]
    assert {r["template"] for r in never} == {"julo_t3_robocall_v1", "julo_t3_reminder_v2"}
    # slot times in the borrower's own zone
    assert [r["scheduled_local"] for r in pede][:3] == [
        "2026-11-20T08:00:00+08:00", "2026-11-20T10:00:00+08:00", "2026-11-20T12:00:00+08:00"]
    assert {r["zone"] for r in rows if r["payment_id"] == pid["no_wa"]} == {"WIT"}
    assert [r["outcome"] for r in rows if r["payment_id"] == pid["answers"]] == ["human"]
    # each request went out on the replayed day's clock: at or after its slot, inside 08:00-20:00 local
    # (POJK 22/2023 Pasal 62 ayat (2) huruf f), on the business date itself
    for row in rows:
        sent = datetime.fromisoformat(row["sent_local"])
        assert sent >= datetime.fromisoformat(row["scheduled_local"]) and sent.date() == BUSINESS_DATE
        assert time(8) <= sent.time() < time(20), row


def _assert_sms(rows: list[dict[str, Any]], pid: dict[str, int]) -> None:
    sms = [r for r in rows if r["channel"] == "sms"]
    assert {r["template"] for r in sms} == {"julo_t3_sms_v1"}
    for row in sms:
        assert row["text"].startswith("JULO: Angsuran Rp ") and "23 November 2026" in row["text"]
        assert row["parameters"] is None and "Wa_Fails" not in row["text"] and "No_Wa" not in row["text"]
    assert [r["outcome"] for r in sms if r["payment_id"] == pid["no_wa"]] == ["delivered"]


def test_a_whole_business_day(aws, conn, book):
    bootstrap()
    result, records, rows, reports = _play_the_day(conn, book)
    _assert_day_reports(reports, book)
    assert {z: d["status"] for z, d in result.executions.items()} == {"WIB": "SUCCEEDED", "WITA": "SUCCEEDED",
                                                                       "WIT": "SUCCEEDED"}
    pid = {name: loan.payment_ids[0] for name, loan in book.items()}
    _assert_who_got_what(rows, pid)

    # the WhatsApp message carries the loan details and how to pay (bank and virtual account)
    wa = [rec for rec in records if rec.channel == "whatsapp" and rec.body["to"] == _intl(3)]
    assert len(wa) == 1
    params = [p["text"] for p in wa[0].body["template"]["components"][0]["parameters"]]
    pede_loan = book["pede"]
    with conn.cursor() as cur:
        cur.execute("SELECT due_amount FROM payment WHERE payment_id = %s", (pede_loan.payment_ids[0],))
        (due_amount,) = cur.fetchone()
    conn.rollback()
    assert params == ["Pede", f"Rp {due_amount:,}".replace(",", "."), "23 November 2026", "BCA",
                      f"10994{_phone(3)[1:]}", str(pede_loan.loan_id)]
    assert [r["parameters"] for r in rows if r["channel"] == "whatsapp" and r["payment_id"] == pid["pede"]] == [params]

    with conn.cursor() as cur:
        cur.execute("SELECT payment_id, is_success_robocall, is_whatsapp_blasted FROM payment")
        state = {r[0]: (r[1], r[2]) for r in cur.fetchall()}
    assert state[pid["answers"]] == (True, False)
    assert state[pid["never"]] == (False, True)
    assert state[pid["pede"]] == (False, True)
    assert state[pid["no_wa"]] == (False, False)

    summary = day_summary(BUSINESS_DATE, conn=conn)
    # a Friday: a contact day covering its own T-3 only (Saturday is a contact day too)
    assert summary["contact_day"] == {"allowed": True, "reason": None, "covers_due_dates": ["2026-11-23"]}
    assert summary["zones"]["WIT"]["contact_day"] == summary["contact_day"]
    wib = summary["zones"]["WIB"]
    assert wib["zone_fallback"] == 1
    assert wib["stages"]["robocall_1"] == {"selected": 4, "placed": 4, "succeeded": 2, "failed": 2,
                                           "not_placed": 0, "place_failed": 0, "unknown": 0, "no_whatsapp": 0,
                                           "skipped": 0, "skipped_by_reason": {}, "attempt": 0}
    assert wib["stages"]["robocall_2"]["selected"] == 1
    assert wib["stages"]["whatsapp"]["selected"] == 1 and wib["stages"]["whatsapp"]["placed"] == 1
    wit = summary["zones"]["WIT"]
    assert wit["stages"]["robocall_3"] == {"selected": 1, "placed": 1, "succeeded": 0, "failed": 1,
                                           "not_placed": 0, "place_failed": 0, "unknown": 0, "no_whatsapp": 0,
                                           "skipped": 0, "skipped_by_reason": {}, "attempt": 0}
    assert wit["stages"]["whatsapp"]["selected"] == 0
    assert wit["stages"]["whatsapp"]["no_whatsapp"] == 1  # skipped: no WhatsApp number
    assert wit["stages"]["sms"] | {"skipped_by_reason": {}} == {
        "selected": 1, "placed": 1, "succeeded": 1, "failed": 0, "not_placed": 0, "place_failed": 0, "unknown": 0,
        "no_whatsapp": 0, "skipped": 0, "skipped_by_reason": {}, "attempt": 0}
    assert summary["zones"]["WITA"]["stages"]["sms"]["selected"] == 1  # wa_fails only: pede's WhatsApp arrived
    # the execution's own output is the same summary (the demo prints the workflows' own reports)
    assert json.loads(result.executions["WITA"]["output"])["stages"] == summary["zones"]["WITA"]["stages"]
    assert day_summary(BUSINESS_DATE, result.executions, conn) == summary
    assert set(Zone.__members__) == set(summary["zones"])
