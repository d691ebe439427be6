"""Replaying captured, genuinely signed callbacks (issue 21): the attacker holds real Vonage tokens
and bodies, and the event URLs we gave Vonage, but not our reference key.

- The same token again (its ``jti``): 409 ``replayed``.
- A genuine token and body of one call sent with another payment's reference: unsigned, with the
  first call's MAC, or with that payment's own genuine signed reference: 403 / 403 / 409.
- WhatsApp (Meta signs the whole body): statuses with a forged reference or another message's id
  are refused and counted.
Every refusal leaves the ledger table and the payment rows exactly as they were.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import requests

from chalicelib import resources, settings
from chalicelib.http import db_conn
from chalicelib.reminders import references
from chalicelib.reminders.outcomes import CallbackRef
from chalicelib.reminders.replay import REPLAY_TABLE
from chalicelib.reminders.signatures import SIGNATURE_HEADER, sign, vonage_webhook_token
from chalicelib.reminders.stages import Stage, StageRun
from chalicelib.reminders.store import EntryStatus
from chalicelib.reminders.store.dynamo import DynamoReminderStore
from chalicelib.reminders.store.dynamo_tables import LEDGER_TABLE
from chalicelib.zones import Zone
from localdev.aws.bootstrap import bootstrap
from localdev.aws.template_resolution import LOCAL_CALLBACK_REFERENCE_KEY as KEY
from localdev.fakes.voice import LOCAL_SIGNATURE_SECRET as VOICE_SECRET
from localdev.fakes.whatsapp import LOCAL_APP_SECRET as WHATSAPP_SECRET
from localdev.reminder_day import LocalReminderStack
from tests.factories import make_loan, make_partner

RUN = StageRun(Zone.WIB, date(2026, 11, 20), Stage.ROBOCALL_1)
WHATSAPP = StageRun(Zone.WIB, date(2026, 11, 20), Stage.WHATSAPP)


def _payments(conn, n: int) -> list[int]:
    make_partner(conn, 1, "Lendana P2P")
    ids = [make_loan(conn, postcode="10110", due_dates=[date(2026, 11, 23)]).payment_ids[0] for _ in range(n)]
    conn.commit()
    return ids


def _place(store: DynamoReminderStore, run: StageRun, payment_id: int, provider_id: str | None) -> None:
    store.start_stage(run, "token")
    assert store.claim(run, payment_id).fresh
    if provider_id is None:  # the provider's answer was lost: its own callback may bind it
        store.settle(run, payment_id, EntryStatus.UNCERTAIN, attempts=1, error="answer lost after sending: ReadTimeout")
    else:
        store.settle(run, payment_id, EntryStatus.PLACED, attempts=1, provider_id=provider_id)


def _ledger() -> list[dict[str, Any]]:
    ddb = settings.aws_clients().client("dynamodb")
    items = ddb.scan(TableName=resources.table_name(LEDGER_TABLE), ConsistentRead=True)["Items"]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["payment_id"]["S"]))


def _payment_rows(conn, ids: list[int]) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM payment WHERE payment_id = ANY(%s) ORDER BY payment_id", (ids,))
        rows = cur.fetchall()
    conn.rollback()
    return rows


def _signed(payment_id: int, run: StageRun = RUN) -> str:
    return references.sign(CallbackRef(payment_id, run), KEY)


def _post(url: str, raw: bytes, ref: str, token: str) -> requests.Response:
    return requests.post(url, data=raw, params={"ref": ref, "template": "robocall_t3_v1"}, timeout=10,
                         headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})


def test_a_genuine_callback_replayed_or_cross_bound_is_refused_and_changes_nothing(aws, conn):
    bootstrap()
    a, b, c = _payments(conn, 3)
    store = DynamoReminderStore()
    _place(store, RUN, a, "call-a")
    _place(store, RUN, b, None)        # uncertain: the call a lost answer left unbound
    _place(store, RUN, c, "call-c")
    raw = json.dumps({"uuid": "call-a", "status": "human", "conversation_uuid": "CON-a",
                      "direction": "outbound", "timestamp": "2026-11-20T01:00:07.000Z"}).encode()
    genuine = vonage_webhook_token(VOICE_SECRET, raw)  # what Vonage sent for call a (captured)

    with LocalReminderStack() as stack:
        url = f"{stack.app.url}/v1/callbacks/robocall"
        ok = _post(url, raw, _signed(a), genuine)
        assert ok.status_code == 200 and ok.json()["outcome"] == "succeeded", ok.text
        ledger, rows = _ledger(), _payment_rows(conn, [a, b, c])

        def fresh() -> str:  # another genuine token of the same event (a provider retry, captured)
            return vonage_webhook_token(VOICE_SECRET, raw)

        a_mac = _signed(a).rsplit("|", 1)[1]
        attacks = {
            "same token again": _post(url, raw, _signed(a), genuine),
            "same token, payment b": _post(url, raw, _signed(b), genuine),
            "b unsigned (the reported attack)": _post(url, raw, CallbackRef(b, RUN).encode(), fresh()),
            "b with a's mac": _post(url, raw, f"{CallbackRef(b, RUN).encode()}|{a_mac}", fresh()),
            "b's own signed reference (unbound entry)": _post(url, raw, _signed(b), fresh()),
            "c's own signed reference (bound entry)": _post(url, raw, _signed(c), fresh()),
        }
        answers = {name: (r.status_code, r.json()["error"]["code"]) for name, r in attacks.items()}
        assert answers == {
            "same token again": (409, "replayed"),
            "same token, payment b": (409, "replayed"),
            "b unsigned (the reported attack)": (403, "forbidden"),
            "b with a's mac": (403, "forbidden"),
            "b's own signed reference (unbound entry)": (409, "conflict"),
            "c's own signed reference (bound entry)": (409, "conflict"),
        }
        assert _ledger() == ledger and _payment_rows(conn, [a, b, c]) == rows

        # b's own call still binds b: the refusals did not block the genuine one
        own = json.dumps({"uuid": "call-b", "status": "busy"}).encode()
        bound = _post(url, own, _signed(b), vonage_webhook_token(VOICE_SECRET, own))
    assert bound.status_code == 200 and bound.json()["outcome"] == "failed"
    entry = store.get(RUN, b)
    assert (entry.provider_id, entry.status, entry.outcome) == ("call-b", EntryStatus.PLACED, "failed")


def test_a_progress_status_changes_and_reads_nothing_so_its_token_is_not_kept(aws, conn):
    """``started``, ``ringing``, ``answered`` change nothing: answered 200 however often and under whichever of
    our references, with nothing written to the replay cache, the ledger or the payment rows."""
    bootstrap()
    a, b = _payments(conn, 2)
    _place(DynamoReminderStore(), RUN, a, "call-a")
    ledger, rows = _ledger(), _payment_rows(conn, [a, b])
    answers = []
    with LocalReminderStack() as stack:
        url = f"{stack.app.url}/v1/callbacks/robocall"
        for status in ("started", "ringing", "answered"):
            raw = json.dumps({"uuid": "call-a", "status": status}).encode()
            token = vonage_webhook_token(VOICE_SECRET, raw)
            answers += [_post(url, raw, _signed(a), token), _post(url, raw, _signed(a), token),
                        _post(url, raw, _signed(b), token)]
    assert {(r.status_code, r.json()["outcome"]) for r in answers} == {(200, None)}
    assert _ledger() == ledger and _payment_rows(conn, [a, b]) == rows
    replay = settings.aws_clients().client("dynamodb").scan(TableName=resources.table_name(REPLAY_TABLE))
    assert replay["Items"] == []


def test_a_callback_that_failed_gives_its_token_back_and_an_applied_one_keeps_it(aws, conn, monkeypatch):
    """The database is down while the success is written: 503, and the provider's retry with the
    same token is accepted (and heals the flag); once applied, the token is spent."""
    bootstrap()
    (a,) = _payments(conn, 1)
    _place(DynamoReminderStore(), RUN, a, "call-a")
    raw = json.dumps({"uuid": "call-a", "status": "human"}).encode()
    token = vonage_webhook_token(VOICE_SECRET, raw)
    with LocalReminderStack() as stack:
        url = f"{stack.app.url}/v1/callbacks/robocall"
        with monkeypatch.context() as down:
            down.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
            db_conn.close_all()
            failed = _post(url, raw, _signed(a), token)
        db_conn.close_all()
        retried = _post(url, raw, _signed(a), token)
        replayed = _post(url, raw, _signed(a), token)
    assert failed.status_code == 503
    assert retried.status_code == 200 and _success(conn, a) is True
    assert replayed.status_code == 409 and replayed.json()["error"]["code"] == "replayed"


def _success(conn, payment_id: int) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT is_success_robocall FROM payment WHERE payment_id = %s", (payment_id,))
        (flag,) = cur.fetchone()
    conn.rollback()
    return bool(flag)


def _whatsapp_hook(statuses: list[dict[str, Any]]) -> bytes:
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "messages", "value": {"statuses": statuses}}]}]}).encode()


def test_whatsapp_statuses_with_forged_or_cross_bound_references_are_refused(aws, conn):
    bootstrap()
    a, b = _payments(conn, 2)
    store = DynamoReminderStore()
    _place(store, WHATSAPP, a, "wamid.a")
    _place(store, WHATSAPP, b, None)
    ledger = _ledger()
    raw = _whatsapp_hook([
        {"id": "wamid.a", "status": "read", "biz_opaque_callback_data": CallbackRef(b, WHATSAPP).encode()},
        {"id": "wamid.a", "status": "read", "biz_opaque_callback_data":
            CallbackRef(b, WHATSAPP).encode() + "|" + _signed(a, WHATSAPP).rsplit("|", 1)[1]},
        {"id": "wamid.a", "status": "read", "biz_opaque_callback_data": _signed(b, WHATSAPP)},
    ])
    with LocalReminderStack() as stack:
        answer = requests.post(f"{stack.app.url}/v1/callbacks/whatsapp", data=raw, timeout=10, headers={
            "Content-Type": "application/json", SIGNATURE_HEADER: sign(WHATSAPP_SECRET, raw)})
    assert answer.status_code == 200  # never a 4xx to Meta for a status: it would retry and disable us
    assert (answer.json()["statuses"], answer.json()["skipped"], answer.json()["refused"]) == ([], 1, 2)
    assert _ledger() == ledger
