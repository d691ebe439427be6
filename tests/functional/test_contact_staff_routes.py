"""The contact policy's staff routes as staff use them: preferences read, set and cleared, the calendar's
decreed days changed, a payment's contact history; every change audited (key, time, reason).

Sources: POJK 22/2023 Pasal 62 ayat (2) huruf f (a Sunday is never a contact day); the holidays library
(2026-08-17 is a national holiday, so a ``contact_day`` correction may reopen it only if it moved).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalice.test import Client

from chalicelib.contact_data import history
from chalicelib.contact_data.history import Contact
from chalicelib.contact_policy import FixedClock
from chalicelib.reminders.messages import StageMessage
from chalicelib.reminders.stage_worker import run_stage
from chalicelib.reminders.stages import Stage, StageRun, slot_utc
from chalicelib.reminders.store.memory import MemoryReminderStore
from chalicelib.zones import Zone
from tests.api_support import api_client, get, partner_key, staff_key
from tests.factories import make_loan, make_partner, stage_settings

PREFS = "/v1/crm/contact-preferences"


def send(client: Client, method: str, path: str, key: str | None, body: Any = None) -> tuple[int, Any]:
    headers = {"x-api-key": key} if key else {}
    headers["Content-Type"] = "application/json"
    raw = body if isinstance(body, str) else json.dumps(body) if body is not None else ""
    response = getattr(client.http, method.lower())(path, headers=headers, body=raw)
    return response.status_code, json.loads(response.body.decode())


def test_a_staff_key_reads_sets_and_clears_a_preference_and_each_change_is_audited(conn) -> None:
    key = staff_key(conn)
    with api_client() as client:
        status, body, headers = get(client, f"{PREFS}?phone=081234567890", key)
        assert status == 200 and headers["cache-control"] == "no-store"
        assert body == {"phone": "6281234567890", "whatsapp": "allowed", "sms": "allowed", "calls": "allowed",
                        "changed_at": None, "source": None}
        status, body = send(client, "PUT", f"{PREFS}?phone=081234567890", key,
                            {"whatsapp": "opted_out", "sms": "opted_out", "calls": "ignored",
                             "reason": "complaint CS-1234"})
        assert status == 200 and (body["whatsapp"], body["sms"], body["calls"], body["source"]) == (
            "opted_out", "opted_out", "ignored", "staff")
        assert get(client, f"{PREFS}?phone=6281234567890", key)[1] == body  # the same number, either form
        status, body = send(client, "PUT", f"{PREFS}?phone=6281234567890", key,
                            {"whatsapp": "allowed", "reason": "borrower opted in again by phone"})
        assert status == 200 and (body["whatsapp"], body["sms"], body["calls"]) == ("allowed", "opted_out", "ignored")
        status, body = send(client, "PUT", f"{PREFS}?phone=6281234567890", key,
                            {"whatsapp": "allowed", "reason": "no change"})
        assert status == 200
    with conn.cursor() as cur:
        cur.execute("SELECT channel, before_state, after_state, source, reason, api_key_id IS NOT NULL "
                    "FROM contact_preference_audit ORDER BY audit_id")
        audit = cur.fetchall()
    conn.rollback()
    assert audit == [("whatsapp", "allowed", "opted_out", "staff", "complaint CS-1234", True),
                     ("sms", "allowed", "opted_out", "staff", "complaint CS-1234", True),
                     ("calls", "allowed", "ignored", "staff", "complaint CS-1234", True),
                     ("whatsapp", "opted_out", "allowed", "staff", "borrower opted in again by phone", True)]


def test_preference_routes_refuse_bad_input_and_the_wrong_key(conn) -> None:
    key, partner = staff_key(conn), partner_key(conn, make_partner(conn, 1, "Lendana P2P"))
    conn.commit()
    with api_client() as client:
        assert get(client, f"{PREFS}?phone=081234567890")[0] == 401
        assert get(client, f"{PREFS}?phone=081234567890", partner)[0] == 403
        for bad in ("+6281234567890", "0812", "08123abc4567", "1" * 16):
            assert get(client, f"{PREFS}?phone={bad}", key)[0] == 400, bad
        assert get(client, PREFS, key)[0] == 400
        for body in ({"whatsapp": "opted_out"}, {"whatsapp": "maybe", "reason": "x"}, {"reason": "nothing to do"},
                     {"whatsapp": "opted_out", "reason": "x", "email": "opted_out"}, {"sms": "ignored", "reason": "x"},
                     "not json", [1, 2]):
            status, answer = send(client, "PUT", f"{PREFS}?phone=081234567890", key, body)
            assert status == 400 and answer["error"]["code"], body
        assert send(client, "PUT", f"{PREFS}?phone=081234567890", partner,
                    {"whatsapp": "opted_out", "reason": "x"})[0] == 403


def test_staff_change_the_calendar_and_the_stage_worker_follows(conn) -> None:
    key = staff_key(conn)
    make_partner(conn, 1, "Lendana P2P")
    make_loan(conn, postcode="10110", due_dates=[date(2026, 11, 23)])
    conn.commit()
    friday = date(2026, 11, 20)
    with api_client() as client:
        status, body, _ = get(client, "/v1/crm/contact-calendar?year=2026", key)
        assert status == 200
        assert {"day": "2026-12-24", "kind": "cuti_bersama"}.items() <= next(
            d for d in body["decreed"] if d["day"] == "2026-12-24").items()
        assert any(h["day"] == "2026-08-17" for h in body["national_holidays"])
        status, body = send(client, "PUT", "/v1/crm/contact-calendar/2026-11-20", key,
                            {"kind": "holiday", "name": "Hari Libur Contoh", "source": "Keppres (example)",
                             "reason": "decree published today"})
        assert status == 200 and body["kind"] == "holiday" and body["changed_by"] is not None
        assert _selected(conn, friday) == (0, "national_holiday: Hari Libur Contoh")
        status, body = send(client, "DELETE", "/v1/crm/contact-calendar/2026-11-20?reason=entered%20by%20mistake",
                            key)
        assert status == 200 and body == {"day": "2026-11-20", "cleared": True}
        assert _selected(conn, friday) == (1, None)
        assert send(client, "DELETE", "/v1/crm/contact-calendar/2026-11-20?reason=again", key)[0] == 404
        # a Sunday is never a contact day; a contact_day correction only reopens a library holiday
        assert send(client, "PUT", "/v1/crm/contact-calendar/2026-11-22", key,
                    {"kind": "contact_day", "name": "x", "source": "y", "reason": "z"})[0] == 400
        assert send(client, "PUT", "/v1/crm/contact-calendar/2026-11-19", key,
                    {"kind": "contact_day", "name": "x", "source": "y", "reason": "z"})[0] == 400
        assert send(client, "PUT", "/v1/crm/contact-calendar/2026-13-01", key,
                    {"kind": "holiday", "name": "x", "source": "y", "reason": "z"})[0] == 400
        assert send(client, "DELETE", "/v1/crm/contact-calendar/2026-11-20", key)[0] == 400  # no reason
    with conn.cursor() as cur:
        cur.execute("SELECT action, reason FROM contact_calendar_audit ORDER BY audit_id")
        assert cur.fetchall() == [("set", "decree published today"), ("clear", "entered by mistake")]
    conn.rollback()


def _selected(conn, day: date) -> tuple[int, str | None]:
    run = StageRun(Zone.WIB, day, Stage.ROBOCALL_1)

    class Tasks:
        def succeed(self, *_a: Any) -> bool:
            return True

    class Queue:
        def send(self, bodies: Any) -> None:
            list(bodies)

    counts = run_stage(conn, StageMessage(run, "t"), stage_settings(), store=MemoryReminderStore(), tasks=Tasks(),  # type: ignore[arg-type]
                       queue=Queue(), clock=FixedClock(slot_utc(run.zone, day, run.stage)))  # type: ignore[arg-type]
    return counts["selected"], counts["contact_day"]["reason"]


def test_a_payments_contact_history_is_read_by_staff_and_purged_after_its_retention(conn) -> None:
    key = staff_key(conn)
    make_partner(conn, 1, "Lendana P2P")
    loan = make_loan(conn, postcode="90111", due_dates=[date(2026, 11, 23)])
    conn.commit()
    pid = loan.payment_ids[0]
    at = datetime(2026, 11, 20, 0, 0, 5, tzinfo=UTC)  # 08:00:05 WITA
    rows = [Contact(pid, loan.loan_id, "6281234567890", "robocall", "WITA", date(2026, 11, 20), "robocall_1", 0, at,
                    "placed", None, "call-1"),
            Contact(pid, loan.loan_id, "6281234567890", "whatsapp", "WITA", date(2026, 11, 20), "whatsapp", 0,
                    at + timedelta(hours=5), "skipped", "opted_out: opted out of whatsapp", None)]
    assert history.record(conn, rows, Zone.WITA.tzinfo) == 2
    assert history.record(conn, rows, Zone.WITA.tzinfo) == 0  # a redelivered chunk records nothing twice
    with api_client() as client:
        status, body, _ = get(client, f"/v1/crm/payments/{pid}/contacts", key)
        assert status == 200 and body["payment_id"] == pid
        assert [(c["stage"], c["result"], c["reason"], c["at_local"], c["customer_id"]) for c in body["contacts"]] == [
            ("robocall_1", "placed", None, "2026-11-20T08:00:05+08:00", loan.customer_id),
            ("whatsapp", "skipped", "opted_out: opted out of whatsapp", "2026-11-20T13:00:05+08:00", loan.customer_id)]
        assert get(client, "/v1/crm/payments/0/contacts", key)[0] == 400
        assert get(client, "/v1/crm/payments/abc/contacts", key)[0] == 400
    # kept 730 days (two years): the purge takes each row the day its retention ends, not before
    assert history.purge(conn, 730, now=at + timedelta(days=730, seconds=-1)) == 0
    assert history.purge(conn, 730, now=at + timedelta(days=730, hours=1)) == 1  # the 08:00 call, not the 13:00 skip
    assert history.purge(conn, 730, now=at + timedelta(days=730, hours=6)) == 1
