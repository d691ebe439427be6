"""Provider callbacks over real HTTP: signatures checked before anything changes."""

from __future__ import annotations

import json
from datetime import date

import requests

from chalicelib.reminders.ledger import PLACED, Ledger
from chalicelib.reminders.outcomes import CallbackRef
from chalicelib.reminders.signatures import SIGNATURE_HEADER, sign
from chalicelib.reminders.stages import Stage
from chalicelib.zones import Zone
from localdev.bootstrap_aws import bootstrap
from localdev.reminder_day import VOICE_SECRET, WHATSAPP_SECRET, LocalReminderStack
from tests.factories import make_loan, make_partner

BUSINESS_DATE = date(2026, 11, 20)


def _placed_call(conn, stage: Stage = Stage.ROBOCALL_1, provider_id: str = "call-uuid-1") -> int:
    make_partner(conn, 1, "Lendana P2P")
    payment_id = make_loan(conn, postcode="10110", due_dates=[date(2026, 11, 23)]).payment_ids[0]
    conn.commit()
    ledger = Ledger()
    ledger.start_stage(Zone.WIB, BUSINESS_DATE, stage, 0, "token")
    entry = ledger.claim(payment_id, BUSINESS_DATE, stage, Zone.WIB)
    ledger.mark(entry, PLACED, attempts=1, provider_id=provider_id)
    return payment_id


def _post(url: str, body: dict, secret: str, params: dict | None = None) -> requests.Response:
    raw = json.dumps(body).encode()
    return requests.post(url, data=raw, params=params, timeout=10,
                         headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, raw)})


def _success_flag(conn, payment_id: int) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT is_success_robocall FROM payment WHERE payment_id = %s", (payment_id,))
        (flag,) = cur.fetchone()
    conn.rollback()
    return flag


def test_robocall_callback_with_bad_signature_changes_nothing(aws, conn):
    bootstrap()
    payment_id = _placed_call(conn)
    ref = CallbackRef(payment_id, BUSINESS_DATE, Stage.ROBOCALL_1, Zone.WIB).encode()
    event = {"uuid": "call-uuid-1", "status": "human"}
    with LocalReminderStack() as stack:
        url = f"{stack.app.url}/v1/callbacks/robocall"
        forged = _post(url, event, "not-the-secret", {"ref": ref})
        unsigned = requests.post(url, json=event, params={"ref": ref}, timeout=10)
        assert forged.status_code == 401 and unsigned.status_code == 401
        assert forged.json() == {"error": {"code": "unauthorized", "message": "invalid or missing signature"}}
        assert _success_flag(conn, payment_id) is False
        assert Ledger().get(payment_id, BUSINESS_DATE, Stage.ROBOCALL_1, Zone.WIB).outcome is None

        ok = _post(url, event, VOICE_SECRET, {"ref": ref})
        again = _post(url, event, VOICE_SECRET, {"ref": ref})
    assert ok.status_code == 200 and ok.json()["outcome"] == "succeeded"
    assert again.status_code == 200 and again.json()["outcome"] is None  # counted once
    assert _success_flag(conn, payment_id) is True
    assert Ledger().stage_results(Zone.WIB, BUSINESS_DATE, Stage.ROBOCALL_1)["succeeded"] == 1


def test_robocall_failure_statuses_and_bad_input(aws, conn):
    bootstrap()
    payment_id = _placed_call(conn)
    ref = CallbackRef(payment_id, BUSINESS_DATE, Stage.ROBOCALL_1, Zone.WIB).encode()
    with LocalReminderStack() as stack:
        url = f"{stack.app.url}/v1/callbacks/robocall"
        progress = _post(url, {"uuid": "call-uuid-1", "status": "ringing"}, VOICE_SECRET, {"ref": ref})
        wrong_call = _post(url, {"uuid": "someone-else", "status": "human"}, VOICE_SECRET, {"ref": ref})
        machine = _post(url, {"uuid": "call-uuid-1", "status": "machine"}, VOICE_SECRET, {"ref": ref})
        no_ref = _post(url, {"uuid": "call-uuid-1", "status": "busy"}, VOICE_SECRET)
        bad_ref = _post(url, {"uuid": "call-uuid-1", "status": "busy"}, VOICE_SECRET, {"ref": "x|y"})
    assert progress.json()["outcome"] is None and wrong_call.json()["outcome"] is None
    assert machine.json()["outcome"] == "failed"
    assert no_ref.status_code == 400 and bad_ref.status_code == 400
    assert no_ref.json()["error"]["code"] == "bad_request"
    assert _success_flag(conn, payment_id) is False
    results = Ledger().stage_results(Zone.WIB, BUSINESS_DATE, Stage.ROBOCALL_1)
    assert (results["succeeded"], results["failed"]) == (0, 1)


def test_whatsapp_status_webhook(aws, conn):
    bootstrap()
    payment_id = _placed_call(conn, Stage.WHATSAPP, "wamid.abc")
    ref = CallbackRef(payment_id, BUSINESS_DATE, Stage.WHATSAPP, Zone.WIB).encode()
    hook = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "statuses": [{"id": "wamid.abc", "status": "delivered", "biz_opaque_callback_data": ref}]}}]}]}
    with LocalReminderStack() as stack:
        url = f"{stack.app.url}/v1/callbacks/whatsapp"
        forged = _post(url, hook, VOICE_SECRET)          # signed with the wrong provider's secret
        ok = _post(url, hook, WHATSAPP_SECRET)
    assert forged.status_code == 401
    assert ok.status_code == 200 and ok.json()["statuses"][0]["outcome"] == "succeeded"
    assert Ledger().get(payment_id, BUSINESS_DATE, Stage.WHATSAPP, Zone.WIB).provider_status == "delivered"
