"""``POST /v1/callbacks/sms`` over real HTTP: Vonage's SMS signature checked before anything changes."""

from __future__ import annotations

import json
import time
from datetime import date
from urllib.parse import urlencode

import requests

from chalicelib import resources, settings
from chalicelib.reminders import references
from chalicelib.reminders.outcomes import CallbackRef
from chalicelib.reminders.signatures import vonage_webhook_token
from chalicelib.reminders.sms_signatures import sign_sms_params
from chalicelib.reminders.stages import Stage, StageRun
from chalicelib.reminders.store import EntryStatus
from chalicelib.reminders.store.dynamo import DynamoReminderStore
from chalicelib.reminders.store.dynamo_tables import LEDGER_TABLE
from chalicelib.zones import Zone
from localdev.aws.bootstrap import bootstrap
from localdev.aws.template_resolution import LOCAL_CALLBACK_REFERENCE_KEY
from localdev.fakes.sms import LOCAL_SIGNATURE_METHOD
from localdev.fakes.voice import LOCAL_SIGNATURE_SECRET
from localdev.reminder_day import LocalReminderStack
from tests.factories import make_loan, make_partner

BUSINESS_DATE = date(2026, 11, 20)
RUN = StageRun(Zone.WIB, BUSINESS_DATE, Stage.SMS)


def _sent_sms(conn, status: str = EntryStatus.PLACED, message_id: str | None = "0B00000000000001") -> int:
    make_partner(conn, 1, "Lendana P2P")
    payment_id = make_loan(conn, postcode="10110", due_dates=[date(2026, 11, 23)]).payment_ids[0]
    conn.commit()
    store = DynamoReminderStore()
    store.start_stage(RUN, "token")
    assert store.claim(RUN, payment_id).fresh
    store.settle(RUN, payment_id, status, attempts=1, provider_id=message_id)
    return payment_id


def _signed(payment_id: int) -> str:
    """The client-ref dispatch gives Vonage: our reference with our MAC (the local runs' key)."""
    return references.sign(CallbackRef(payment_id, RUN), LOCAL_CALLBACK_REFERENCE_KEY)


def _receipt(payment_id: int, status: str = "delivered", message_id: str = "0B00000000000001", **extra: str) -> dict:
    params = {"msisdn": "6281300000001", "to": "JULO", "network-code": "51010", "messageId": message_id,
              "price": "0.03330000", "status": status, "scts": "2611201000", "err-code": "0" if status == "delivered"
              else "1", "api-key": "localkey", "client-ref": _signed(payment_id),
              "message-timestamp": "2026-11-20 03:00:00", "timestamp": str(int(time.time())),
              "nonce": f"nonce-{time.monotonic_ns()}", **extra}
    params["sig"] = sign_sms_params(params, LOCAL_SIGNATURE_SECRET, LOCAL_SIGNATURE_METHOD)
    return params


def _post(url: str, params: dict, *, form: bool = False) -> requests.Response:
    if form:
        return requests.post(url, data=urlencode(params), timeout=10,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    return requests.post(url, json=params, timeout=10)


def test_unsigned_or_wrongly_signed_receipts_are_401_and_change_nothing(aws, conn):
    bootstrap()
    payment_id = _sent_sms(conn)
    good = _receipt(payment_id, "failed")
    with LocalReminderStack() as stack:
        url = f"{stack.app.url}/v1/callbacks/sms"
        wrong_secret = {**good, "sig": sign_sms_params(good, "another-secret", LOCAL_SIGNATURE_METHOD)}
        other_method = {**good, "sig": sign_sms_params(good, LOCAL_SIGNATURE_SECRET, "md5hash")}
        stale = _receipt(payment_id, "failed", timestamp=str(int(time.time()) - 6 * 60))
        raw = json.dumps({k: v for k, v in good.items() if k != "sig"}).encode()
        refused = {
            "unsigned": _post(url, {k: v for k, v in good.items() if k != "sig"}),
            "wrong secret": _post(url, wrong_secret),
            "another method": _post(url, other_method),
            "stale": _post(url, stale),
            "status changed": _post(url, {**good, "status": "delivered"}),
            "payment changed": _post(url, {**good, "client-ref": _signed(payment_id + 1)}),
            "voice JWT instead": requests.post(url, data=raw, timeout=10, headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {vonage_webhook_token(LOCAL_SIGNATURE_SECRET, raw)}"}),
            "not JSON": requests.post(url, data=b"{", timeout=10, headers={"Content-Type": "application/json"}),
        }
    for name, resp in refused.items():
        assert resp.status_code == 401, (name, resp.status_code, resp.text)
        assert resp.json()["error"]["code"] == "unauthorized", name
    entry = DynamoReminderStore().get(RUN, payment_id)
    assert entry is not None and entry.outcome is None, "a refused receipt changed the ledger"


def test_a_signed_receipt_records_the_outcome_once_json_or_form(aws, conn):
    bootstrap()
    payment_id = _sent_sms(conn)
    with LocalReminderStack() as stack:
        url = f"{stack.app.url}/v1/callbacks/sms"
        progress = _post(url, _receipt(payment_id, "accepted"), form=True)
        final = _post(url, _receipt(payment_id, "expired", **{"err-code": "2"}))
        later = _post(url, _receipt(payment_id, "delivered"), form=True)
        foreign = _post(url, {**(r := _receipt(payment_id)), "client-ref": "", "sig": sign_sms_params(
            {**r, "client-ref": ""}, LOCAL_SIGNATURE_SECRET, LOCAL_SIGNATURE_METHOD)})
    assert progress.status_code == 200 and progress.json()["outcome"] is None
    assert final.status_code == 200 and final.json() == {"payment_id": payment_id, "stage": "sms",
                                                          "status": "expired", "outcome": "failed", "error_code": 2}
    assert later.status_code == 200 and later.json()["outcome"] is None  # the first final status wins
    assert foreign.status_code == 200 and foreign.json()["skipped"] == 1
    entry = DynamoReminderStore().get(RUN, payment_id)
    assert entry is not None and (entry.outcome, entry.provider_status) == ("failed", "expired")


def test_a_receipt_binds_an_sms_whose_answer_was_lost(aws, conn):
    bootstrap()
    payment_id = _sent_sms(conn, status=EntryStatus.UNCERTAIN, message_id=None)
    with LocalReminderStack() as stack:
        resp = _post(f"{stack.app.url}/v1/callbacks/sms", _receipt(payment_id, "delivered", message_id="0BLOST"))
    assert resp.status_code == 200 and resp.json()["outcome"] == "succeeded"
    entry = DynamoReminderStore().get(RUN, payment_id)
    assert entry is not None
    assert (entry.status, entry.provider_id, entry.outcome) == (EntryStatus.PLACED, "0BLOST", "succeeded")


def _ledger() -> list[dict]:
    ddb = settings.aws_clients().client("dynamodb")
    items = ddb.scan(TableName=resources.table_name(LEDGER_TABLE), ConsistentRead=True)["Items"]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["payment_id"]["S"]))


def _resigned(receipt: dict, **changes: str) -> dict:
    """The receipt with ``changes``, signed again: what someone holding the signature secret (or
    another system on the same Vonage account) could post."""
    changed = {k: v for k, v in {**receipt, **changes}.items() if k != "sig"}
    changed["sig"] = sign_sms_params(changed, LOCAL_SIGNATURE_SECRET, LOCAL_SIGNATURE_METHOD)
    return changed


def test_a_replayed_receipt_or_a_forged_reference_is_refused_and_changes_nothing(aws, conn):
    """Vonage's sig covers client-ref, so changing it without the signature secret is a 401 (the
    first test's "payment changed"); with it, a reference in our format without our MAC or with
    a wrong one, or another message's id, is refused; a captured receipt (its nonce) is accepted
    once. No refusal changes the ledger or a payment row."""
    bootstrap()
    payment_id = _sent_sms(conn)
    other = _sent_sms(conn, message_id="0B00000000000002")
    with LocalReminderStack() as stack:
        url = f"{stack.app.url}/v1/callbacks/sms"
        genuine = _receipt(payment_id, "failed")
        first = _post(url, genuine)
        assert first.status_code == 200 and first.json()["outcome"] == "failed", first.text
        ledger, rows = _ledger(), _payment_rows(conn, [payment_id, other])
        unsigned_ref = CallbackRef(other, RUN).encode()
        attacks = {
            "replayed as captured": _post(url, genuine),
            "replayed as a form": _post(url, genuine, form=True),
            "other's reference, unsigned": _post(url, _resigned(genuine, **{"client-ref": unsigned_ref,
                                                                           "nonce": "n-unsigned"})),
            "other's reference, wrong mac": _post(url, _resigned(genuine, **{
                "client-ref": unsigned_ref + "|" + _signed(payment_id).rsplit("|", 1)[1], "nonce": "n-mac"})),
            "other's reference, another message id": _post(url, _resigned(
                genuine, **{"client-ref": _signed(other), "status": "delivered", "nonce": "n-cross"})),
        }
        answers = {name: (r.status_code, r.json().get("refused") or r.json().get("error", {}).get("code"))
                   for name, r in attacks.items()}
    assert answers == {
        "replayed as captured": (409, "replayed"),
        "replayed as a form": (409, "replayed"),
        "other's reference, unsigned": (200, 1),
        "other's reference, wrong mac": (200, 1),
        "other's reference, another message id": (200, 1),
    }
    assert _ledger() == ledger and _payment_rows(conn, [payment_id, other]) == rows
    assert DynamoReminderStore().get(RUN, other).outcome is None


def _payment_rows(conn, ids: list[int]) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM payment WHERE payment_id = ANY(%s) ORDER BY payment_id", (ids,))
        rows = cur.fetchall()
    conn.rollback()
    return rows
