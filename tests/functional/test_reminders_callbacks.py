"""Provider callbacks over real HTTP: each provider's signature checked before anything changes."""

from __future__ import annotations

import json
import time
from datetime import date

import requests

from chalicelib.reminders import references
from chalicelib.reminders.outcomes import CallbackRef
from chalicelib.reminders.signatures import SIGNATURE_HEADER, sign, vonage_webhook_token
from chalicelib.reminders.stages import Stage, StageRun
from chalicelib.reminders.store import EntryStatus
from chalicelib.reminders.store.dynamo import DynamoReminderStore
from chalicelib.reminders.summary import stage_summary
from chalicelib.zones import Zone
from localdev.aws.bootstrap import bootstrap
from localdev.aws.template_resolution import LOCAL_CALLBACK_REFERENCE_KEY
from localdev.fakes.voice import LOCAL_SIGNATURE_SECRET as VOICE_SECRET
from localdev.fakes.whatsapp import LOCAL_APP_SECRET as WHATSAPP_SECRET
from localdev.fakes.whatsapp import LOCAL_VERIFY_TOKEN
from localdev.reminder_day import LocalReminderStack
from tests.factories import make_loan, make_partner

BUSINESS_DATE = date(2026, 11, 20)
RUN = StageRun(Zone.WIB, BUSINESS_DATE, Stage.ROBOCALL_1)
WHATSAPP_RUN = StageRun(Zone.WIB, BUSINESS_DATE, Stage.WHATSAPP)


def _signed(payment_id: int, run: StageRun) -> str:
    """The reference dispatch gives the provider: signed with the local runs' key."""
    return references.sign(CallbackRef(payment_id, run), LOCAL_CALLBACK_REFERENCE_KEY)


def _placed_call(conn, stage: Stage = Stage.ROBOCALL_1, provider_id: str = "call-uuid-1") -> int:
    make_partner(conn, 1, "Lendana P2P")
    payment_id = make_loan(conn, postcode="10110", due_dates=[date(2026, 11, 23)]).payment_ids[0]
    conn.commit()
    store = DynamoReminderStore()
    run = StageRun(Zone.WIB, BUSINESS_DATE, stage)
    store.start_stage(run, "token")
    assert store.claim(run, payment_id).fresh
    store.settle(run, payment_id, EntryStatus.PLACED, attempts=1, provider_id=provider_id)
    return payment_id


def _post(url: str, body: dict, secret: str, params: dict | None = None) -> requests.Response:
    """Signed the Meta way (X-Hub-Signature-256)."""
    raw = json.dumps(body).encode()
    return requests.post(url, data=raw, params=params, timeout=10,
                         headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, raw)})


def _vonage(url: str, body: dict, params: dict | None = None, *, secret: str = VOICE_SECRET,
            iat: int | None = None, signed_body: bytes | None = None) -> requests.Response:
    """Signed the Vonage way: Authorization: Bearer HS256 JWT with payload_hash of the body."""
    raw = json.dumps(body).encode()
    token = vonage_webhook_token(secret, raw if signed_body is None else signed_body, iat=iat)
    return requests.post(url, data=raw, params=params, timeout=10,
                         headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})


def _success_flag(conn, payment_id: int) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT is_success_robocall FROM payment WHERE payment_id = %s", (payment_id,))
        (flag,) = cur.fetchone()
    conn.rollback()
    return flag


def test_robocall_callback_with_bad_signature_changes_nothing(aws, conn):
    bootstrap()
    payment_id = _placed_call(conn)
    ref = _signed(payment_id, RUN)
    event = {"uuid": "call-uuid-1", "status": "human"}
    with LocalReminderStack() as stack:
        url = f"{stack.app.url}/v1/callbacks/robocall"
        refused = {
            "wrong secret": _vonage(url, event, {"ref": ref}, secret="not-the-signature-secret-at-all!!"),
            "unsigned": requests.post(url, json=event, params={"ref": ref}, timeout=10),
            "meta signature": _post(url, event, VOICE_SECRET, {"ref": ref}),
            "stale iat": _vonage(url, event, {"ref": ref}, iat=int(time.time()) - 6 * 60),
            "body not payload_hash": _vonage(url, event, {"ref": ref},
                                             signed_body=json.dumps({**event, "status": "busy"}).encode()),
        }
        assert {name: r.status_code for name, r in refused.items()} == dict.fromkeys(refused, 401)
        assert all(r.json()["error"]["code"] == "unauthorized" for r in refused.values())
        assert _success_flag(conn, payment_id) is False
        assert DynamoReminderStore().get(RUN, payment_id).outcome is None

        ok = _vonage(url, event, {"ref": ref})
        again = _vonage(url, event, {"ref": ref})
    assert ok.status_code == 200 and ok.json()["outcome"] == "succeeded"
    assert again.status_code == 200 and again.json()["outcome"] is None  # counted once
    assert _success_flag(conn, payment_id) is True
    assert stage_summary(DynamoReminderStore(), RUN)["succeeded"] == 1


def test_robocall_failure_statuses_and_bad_input(aws, conn):
    bootstrap()
    payment_id = _placed_call(conn)
    ref = _signed(payment_id, RUN)
    with LocalReminderStack() as stack:
        url = f"{stack.app.url}/v1/callbacks/robocall"
        progress = _vonage(url, {"uuid": "call-uuid-1", "status": "ringing"}, {"ref": ref})
        wrong_call = _vonage(url, {"uuid": "someone-else", "status": "human"}, {"ref": ref})
        machine = _vonage(url, {"uuid": "call-uuid-1", "status": "machine"}, {"ref": ref})
        no_ref = _vonage(url, {"uuid": "call-uuid-1", "status": "busy"})
        bad_ref = _vonage(url, {"uuid": "call-uuid-1", "status": "busy"}, {"ref": "x|y"})
    assert progress.json()["outcome"] is None and wrong_call.json()["outcome"] is None
    assert machine.json()["outcome"] == "failed"
    assert no_ref.status_code == 400 and no_ref.json()["error"]["code"] == "bad_request"
    assert bad_ref.status_code == 403 and bad_ref.json()["error"]["code"] == "forbidden"
    assert _success_flag(conn, payment_id) is False
    results = stage_summary(DynamoReminderStore(), RUN)
    assert (results["succeeded"], results["failed"]) == (0, 1)


def test_whatsapp_status_webhook(aws, conn):
    bootstrap()
    payment_id = _placed_call(conn, Stage.WHATSAPP, "wamid.abc")
    ref = _signed(payment_id, WHATSAPP_RUN)
    hook = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "statuses": [{"id": "wamid.abc", "status": "delivered", "biz_opaque_callback_data": ref}]}}]}]}
    with LocalReminderStack() as stack:
        url = f"{stack.app.url}/v1/callbacks/whatsapp"
        forged = _post(url, hook, VOICE_SECRET)          # signed with the wrong provider's secret
        ok = _post(url, hook, WHATSAPP_SECRET)
    assert forged.status_code == 401
    assert ok.status_code == 200 and ok.json()["statuses"][0]["outcome"] == "succeeded"
    assert (ok.json()["skipped"], ok.json()["refused"]) == (0, 0)
    assert DynamoReminderStore().get(WHATSAPP_RUN, payment_id).provider_status == "delivered"


def test_whatsapp_statuses_not_ours_are_skipped_and_counted_never_refused(aws, conn):
    bootstrap()
    payment_id = _placed_call(conn, Stage.WHATSAPP, "wamid.ours")
    ref = _signed(payment_id, WHATSAPP_RUN)
    statuses = [{"id": "wamid.agent", "status": "delivered", "recipient_id": "6281100000000"},  # sent by a person
                {"id": "wamid.other", "status": "read", "biz_opaque_callback_data": "campaign-42"},
                {"id": "wamid.ours", "status": "failed", "biz_opaque_callback_data": ref,
                 "errors": [{"code": 131026, "title": "Message undeliverable"}]}]
    hook = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "messages", "value": {"statuses": statuses}}]}]}
    with LocalReminderStack() as stack:
        answer = _post(f"{stack.app.url}/v1/callbacks/whatsapp", hook, WHATSAPP_SECRET)
    assert answer.status_code == 200
    assert answer.json()["skipped"] == 2
    assert answer.json()["statuses"] == [{"payment_id": payment_id, "status": "failed", "outcome": "failed",
                                          "error_code": 131026, "error_kind": "permanent"}]


def test_whatsapp_subscription_handshake(aws):
    with LocalReminderStack() as stack:
        url = f"{stack.app.url}/v1/callbacks/whatsapp"
        ok = requests.get(url, timeout=10, params={"hub.mode": "subscribe", "hub.verify_token": LOCAL_VERIFY_TOKEN,
                                                   "hub.challenge": "1158201444"})
        wrong = requests.get(url, timeout=10, params={"hub.mode": "subscribe", "hub.verify_token": "guess",
                                                      "hub.challenge": "1158201444"})
        not_subscribe = requests.get(url, timeout=10, params={"hub.mode": "unsubscribe",
                                                              "hub.verify_token": LOCAL_VERIFY_TOKEN,
                                                              "hub.challenge": "1158201444"})
    assert ok.status_code == 200 and ok.text == "1158201444"
    assert ok.headers["Content-Type"].startswith("text/plain")
    assert wrong.status_code == 403 and not_subscribe.status_code == 403
    assert wrong.json()["error"]["code"] == "forbidden"


def test_non_ascii_signature_headers_are_a_401_never_a_500(aws):
    """Header values arrive decoded as ISO-8859-1 (http.server) or UTF-8 (API Gateway): a signature
    with characters outside ASCII is a wrong signature (``hmac.compare_digest`` used to raise)."""
    body = json.dumps({"entry": []}).encode()
    genuine = sign(WHATSAPP_SECRET, body)
    forged = [genuine[:-1] + "é", "sha256=" + "ü" * 64, "ᛋᚻᚪ256=x", "\u00a0" + genuine]
    with LocalReminderStack() as stack:
        answers = [requests.post(f"{stack.app.url}/v1/callbacks/whatsapp", data=body, timeout=10,
                                 headers={"Content-Type": "application/json", SIGNATURE_HEADER: value.encode()})
                   for value in forged]
        answers += [requests.post(f"{stack.app.url}/v1/callbacks/robocall", data=body, timeout=10,
                                  headers={"Content-Type": "application/json", "Authorization": value.encode()})
                    for value in ("Bearer é.é.é", "Bëarer x", "Bearer " + "\u2603" * 40)]
    assert [a.status_code for a in answers] == [401] * len(answers)
    assert all(a.json()["error"]["code"] == "unauthorized" for a in answers)
