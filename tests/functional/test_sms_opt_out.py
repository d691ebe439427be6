"""SMS opt-out, end to end against the strict SMS fake: a borrower texts STOP / BERHENTI to our Vonage number.

Sources: Vonage's inbound SMS webhook (fields ``msisdn``, ``to``, ``messageId``, ``text``, ``type``,
``keyword``, ``message-timestamp``; signed webhooks add ``timestamp``, ``nonce``, ``sig`` with the
account's signature secret; Vonage resends until answered 2xx); POJK 22/2023 (a borrower's stated wish not
to be contacted on a channel is honoured). Mirrors issue 19's WhatsApp opt-out: one channel per opt-out,
one confirmation, the send-time gate skips with reason ``opted_out``.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import requests

from chalicelib.contact_data import history, inbound, preferences
from chalicelib.contact_policy import FixedClock
from chalicelib.reminders.contact import PgContactRecords
from chalicelib.reminders.dispatch import Dispatcher
from chalicelib.reminders.messages import Chunk, chunk_body
from chalicelib.reminders.opt_out import SMS_REPLY_REF, ReplyQueue
from chalicelib.reminders.sms_signatures import sign_sms_params
from chalicelib.reminders.stages import Stage, StageRun, slot_utc
from chalicelib.reminders.store import EntryStatus
from chalicelib.reminders.store.dynamo import DynamoReminderStore
from chalicelib.zones import Zone
from localdev.aws.bootstrap import bootstrap
from localdev.fakes.sms import LOCAL_SIGNATURE_METHOD, LOCAL_VIRTUAL_NUMBER
from localdev.fakes.voice import LOCAL_SIGNATURE_SECRET
from localdev.reminder_day import DISPATCH_FUNCTIONS, LocalReminderStack
from tests.factories import dispatch_settings, make_loan, make_partner

BUSINESS_DATE = date(2026, 11, 20)  # a Friday
DUE = date(2026, 11, 23)
RUN = StageRun(Zone.WIB, BUSINESS_DATE, Stage.SMS)
IN_THE_SMS_SLOT = FixedClock(slot_utc(RUN.zone, RUN.business_date, RUN.stage) + timedelta(minutes=1))  # 15:01 WIB


def _inbound(number: str, text: str, **extra: str) -> dict[str, str]:
    params = {"msisdn": number, "to": LOCAL_VIRTUAL_NUMBER, "messageId": uuid.uuid4().hex[:16].upper(),
              "text": text, "type": "text", "keyword": (text.split() or [""])[0].upper(),
              "message-timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
              "timestamp": str(int(time.time())), "nonce": str(uuid.uuid4()), **extra}
    params["sig"] = sign_sms_params(params, LOCAL_SIGNATURE_SECRET, LOCAL_SIGNATURE_METHOD)
    return params


def _post(url: str, params: dict[str, str], *, form: bool = False) -> requests.Response:
    # a safety net, not an expectation: the app's first request (database connection, SQS client) took over
    # 10 s on the shared 2-core machine at load 18 in make test
    if form:
        return requests.post(url, data=urlencode(params), timeout=60,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    return requests.post(url, json=params, timeout=60)


def _rows(conn: Any, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        rows = cur.fetchall()
    conn.rollback()
    return rows


def _replies(stack: LocalReminderStack) -> list[Any]:
    return [r for r in stack.sms.records if r.body.get("client-ref") == SMS_REPLY_REF]


def test_an_sms_stop_opts_the_number_out_of_sms_only_and_is_confirmed_exactly_once(aws, conn) -> None:
    bootstrap()
    number, other = "6281355560001", "6281355560002"
    with LocalReminderStack() as stack:
        stack.sms.inject("duplicate", count=1, recipient=number)   # Vonage delivers the webhook twice
        first = stack.sms.inbound(number, "  Stop. ")
        assert stack.sms.wait_idle(30)
        stack.sms.inbound(number, "BERHENTI")                       # again: already opted out, no second reply
        stack.sms.inbound(other, "saya sudah bayar kemarin")        # for customer service only
        stack.sms.inbound(other, "jangan stop dulu")                # not the keyword alone: not an opt-out
        assert stack.sms.wait_idle(30)
        stack.runtime.drain(DISPATCH_FUNCTIONS, idle=stack.idle)
        replies = _replies(stack)
    assert [r.body["to"] for r in replies] == [number]
    assert replies[0].body["text"] == inbound.SMS_REPLY_TEXT and replies[0].body["type"] == "text"
    mine = preferences.preference(conn, number)
    assert (mine["sms"], mine["source"]) == ("opted_out", "sms_inbound")
    assert (mine["whatsapp"], mine["calls"]) == ("allowed", "allowed")  # an SMS STOP is about SMS
    assert preferences.preference(conn, other)["sms"] == "allowed"
    rows = _rows(conn, "SELECT message_id, phone, kind, reply_state, reply_id FROM sms_inbound")
    assert sorted(((p, k, s) for _m, p, k, s, _r in rows), key=str) == sorted(
        [(number, "opt_out", "sent"), (number, "opt_out", None), (other, "other", None), (other, "other", None)],
        key=str)
    confirmed = [(m, r) for m, _p, _k, s, r in rows if s == "sent"]
    assert confirmed == [(first, replies[0].provider_id)]  # the confirmation's Vonage id is kept with the STOP
    assert _rows(conn, "SELECT channel, before_state, after_state, source, inbound_message_id "
                       "FROM contact_preference_audit WHERE phone = %s", number) == [
        ("sms", "allowed", "opted_out", "sms_inbound", first)]


def test_unsigned_or_wrongly_signed_inbound_sms_are_401_and_change_nothing(aws, conn) -> None:
    bootstrap()
    number = "6281355560003"
    good = _inbound(number, "STOP")
    with LocalReminderStack() as stack:
        url = f"{stack.app.url}/v1/callbacks/sms/inbound"
        refused = {
            "unsigned": _post(url, {k: v for k, v in good.items() if k != "sig"}),
            "wrong secret": _post(url, {**good, "sig": sign_sms_params(good, "another", LOCAL_SIGNATURE_METHOD)}),
            "another method": _post(url, {**good, "sig": sign_sms_params(good, LOCAL_SIGNATURE_SECRET, "md5hash")}),
            "stale": _post(url, _inbound(number, "STOP", timestamp=str(int(time.time()) - 6 * 60))),
            "sender changed": _post(url, {**good, "msisdn": "6281355560099"}),
            "text changed": _post(url, {**good, "text": "halo"}),
            "no nonce": _post(url, (lambda p: {**p, "sig": sign_sms_params(p, LOCAL_SIGNATURE_SECRET,
                                                                           LOCAL_SIGNATURE_METHOD)})(
                {k: v for k, v in good.items() if k not in ("sig", "nonce")})),
            "not JSON": requests.post(url, data=b"{", timeout=60, headers={"Content-Type": "application/json"}),
        }
        stack.runtime.drain(DISPATCH_FUNCTIONS, idle=stack.idle)
        sent = list(stack.sms.records)
    for name, resp in refused.items():
        assert resp.status_code == 401, (name, resp.status_code, resp.text)
        assert resp.json()["error"]["code"] == "unauthorized", name
    assert sent == []
    assert preferences.preference(conn, number)["sms"] == "allowed"
    assert _rows(conn, "SELECT count(*) FROM sms_inbound") == [(0,)]


def test_a_signed_inbound_sms_as_a_form_is_stored_once_per_message_id(aws, conn) -> None:
    bootstrap()
    number = "6281355560004"
    message = _inbound(number, "berhenti")
    again = {**message, "nonce": str(uuid.uuid4())}  # Vonage's retry of the same message: a new signature
    again["sig"] = sign_sms_params(again, LOCAL_SIGNATURE_SECRET, LOCAL_SIGNATURE_METHOD)
    with LocalReminderStack() as stack:
        url = f"{stack.app.url}/v1/callbacks/sms/inbound"
        first = _post(url, message, form=True)
        second = _post(url, again)
        missing = _post(url, (lambda p: {**p, "sig": sign_sms_params(p, LOCAL_SIGNATURE_SECRET,
                                                                     LOCAL_SIGNATURE_METHOD)})(
            {k: v for k, v in _inbound(number, "STOP").items() if k not in ("sig", "messageId")}))
        stack.runtime.drain(DISPATCH_FUNCTIONS, idle=stack.idle)
        replies = _replies(stack)
    assert first.status_code == 200 and first.json() == {"inbound": 1, "opt_out": 1, "replies_requested": 1}
    # the confirmation is still owed (not sent yet): asked for again, and claimed once
    assert second.status_code == 200 and second.json() == {"inbound": 1, "opt_out": 1, "replies_requested": 1}
    assert missing.status_code == 400
    assert [r.body["to"] for r in replies] == [number]
    assert _rows(conn, "SELECT kind, reply_state FROM sms_inbound") == [("opt_out", "sent")]


def test_a_confirmation_whose_answer_was_lost_is_never_sent_again(aws, conn) -> None:
    bootstrap()
    number = "6281355560005"
    with LocalReminderStack() as stack:
        stack.sms.inject("answer_lost", count=1, recipient=number)
        message_id = stack.sms.inbound(number, "STOP")
        assert stack.sms.wait_idle(30)
        stack.runtime.drain(DISPATCH_FUNCTIONS, idle=stack.idle)
        # the reply message again (SQS delivers at least once): the reply is claimed, never sent twice
        ReplyQueue(inbound.SMS).send(message_id)
        stack.runtime.drain(DISPATCH_FUNCTIONS, idle=stack.idle)
        replies = _replies(stack)
    assert len(replies) == 1
    assert _rows(conn, "SELECT reply_state FROM sms_inbound") == [("uncertain",)]


class _Tasks:
    def succeed(self, token: str, output: dict[str, Any]) -> bool:
        return True

    def fail(self, token: str, error: str, cause: str) -> bool:
        return True

    def heartbeat(self, token: str) -> bool:
        return True


def _chunk(loans: list[Any], phones: list[str], chunk_id: str) -> Chunk:
    rows = [[loan.payment_ids[0], loan.loan_id, phone, "Budi Santoso", 1_200_000, DUE.isoformat(), "JULO", "10110",
             loan.payment_ids[0]] for loan, phone in zip(loans, phones, strict=True)]
    return Chunk.parse(chunk_body(RUN, chunk_id, json.dumps(rows)))


def test_an_sms_stop_mid_stage_skips_that_number_with_reason_opted_out(aws, conn) -> None:
    """The fast equivalent of the chaos scenario: the SMS stage's first chunk goes out, a borrower of the second
    texts BERHENTI, the second chunk skips her (``opted_out``) and texts the others."""
    bootstrap()
    make_partner(conn, 1, "Lendana P2P")
    phones = [f"08135556{i:04d}" for i in range(4)]
    loans = [make_loan(conn, postcode="10110", phone=p, due_dates=[DUE], has_whatsapp=False) for p in phones]
    conn.commit()
    store = DynamoReminderStore()
    store.start_stage(RUN, "token")
    store.seal_stage(RUN, 2, {"selected": 4, "enqueued": 4})
    target = "62" + phones[3][1:]
    with LocalReminderStack() as stack:
        dispatcher = Dispatcher(conn, dispatch_settings(), store=store, tasks=_Tasks(), clock=IN_THE_SMS_SLOT,  # type: ignore[arg-type]
                                records=PgContactRecords(conn))
        first = dispatcher.run(_chunk(loans[:2], phones[:2], "0-2"))
        stack.sms.inbound(target, "Berhenti")
        assert stack.sms.wait_idle(30)
        second = dispatcher.run(_chunk(loans[2:], phones[2:], "2-4"))
        stack.runtime.drain(DISPATCH_FUNCTIONS, idle=stack.idle)
        to_target = [r for r in stack.sms.records if r.body.get("to") == target]
    assert first["placed"] == 2 and (second["placed"], second["skipped"]) == (1, 1)
    assert [r.body.get("client-ref") for r in to_target] == [SMS_REPLY_REF]  # the confirmation, no reminder
    entry = store.get(RUN, loans[3].payment_ids[0])
    assert entry is not None and entry.status == EntryStatus.SKIPPED and (entry.error or "").startswith("opted_out")
    rows = history.of_payment(conn, loans[3].payment_ids[0])
    assert [(r["channel"], r["result"], (r["reason"] or "").split(":")[0]) for r in rows] == [
        ("sms", "skipped", "opted_out")]
