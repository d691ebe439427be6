"""Signed provider webhooks whose body is JSON but not the provider's shape.

A body signed with our own secrets is either the provider's or a caller holding a leaked secret;
either way a body that is not the provider's schema is refused with a JSON 4xx and changes
nothing. It used to be a 500 for two shapes: a body nested 200,000 deep (the JSON parser's
RecursionError) and a WhatsApp ``"statuses": 5`` (iterated without a type check). The SMS delivery
receipts (issue 23; the signature is a body parameter over text values) are held to the same rule.

The property behind the two named cases: each field of Meta's status webhook whose type Meta
documents, given a value of another JSON type, is a 400.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.reminders.signatures import SIGNATURE_HEADER, sign, vonage_webhook_token
from chalicelib.reminders.sms_signatures import sign_sms_params
from localdev.aws.bootstrap import bootstrap
from tests.api_support import api_client

VONAGE_SECRET = "chaos-vonage-signature-secret-32by"
META_SECRET = "chaos-meta-app-secret"
REF = "1|2026-11-20|robocall_1|WIB|0"
DEEP = 200_000
INVARIANT = "a signed body that is JSON but not the provider's schema is a JSON 4xx, never a 5xx"

# Meta's status webhook (developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components)
VALID_STATUS_HOOK: dict[str, Any] = {
    "object": "whatsapp_business_account",
    "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "statuses": [{"id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjY5NjRFMTk5M0M5MEIA",
                      "status": "failed", "timestamp": "1750263773", "recipient_id": "16505551234",
                      "biz_opaque_callback_data": "campaign-42",
                      "errors": [{"code": 131026, "title": "Message undeliverable"}]}]}}]}],
}
# (path into the hook, the JSON types Meta allows there)
TYPED_FIELDS: list[tuple[tuple[Any, ...], set[type]]] = [
    (("entry",), {list}),
    (("entry", 0), {dict}),
    (("entry", 0, "changes"), {list}),
    (("entry", 0, "changes", 0), {dict}),
    (("entry", 0, "changes", 0, "field"), {str}),
    (("entry", 0, "changes", 0, "value"), {dict}),
    (("entry", 0, "changes", 0, "value", "statuses"), {list}),
    (("entry", 0, "changes", 0, "value", "statuses", 0), {dict}),
    (("entry", 0, "changes", 0, "value", "statuses", 0, "id"), {str}),
    (("entry", 0, "changes", 0, "value", "statuses", 0, "status"), {str}),
    (("entry", 0, "changes", 0, "value", "statuses", 0, "timestamp"), {str}),
    (("entry", 0, "changes", 0, "value", "statuses", 0, "recipient_id"), {str}),
    (("entry", 0, "changes", 0, "value", "statuses", 0, "biz_opaque_callback_data"), {str}),
    (("entry", 0, "changes", 0, "value", "statuses", 0, "errors"), {list}),
    (("entry", 0, "changes", 0, "value", "statuses", 0, "errors", 0), {dict}),
    (("entry", 0, "changes", 0, "value", "statuses", 0, "errors", 0, "code"), {int}),
]
JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                        st.text(max_size=10), st.lists(st.integers(), max_size=3),
                        st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))


@pytest.fixture
def client(aws: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    bootstrap()
    monkeypatch.setenv("VONAGE_SIGNATURE_SECRET", VONAGE_SECRET)
    monkeypatch.setenv("WHATSAPP_APP_SECRET", META_SECRET)
    monkeypatch.setenv("VONAGE_SIGNATURE_METHOD", "sha256")
    with api_client() as c:
        yield c


def _meta(client: Client, raw: bytes) -> tuple[int, Any]:
    response = client.http.post("/v1/callbacks/whatsapp", body=raw, headers={
        "Content-Type": "application/json", SIGNATURE_HEADER: sign(META_SECRET, raw)})
    return response.status_code, _json(response.body)


def _vonage(client: Client, raw: bytes) -> tuple[int, Any]:
    token = vonage_webhook_token(VONAGE_SECRET, raw)
    response = client.http.post(f"/v1/callbacks/robocall?ref={REF}", body=raw, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    return response.status_code, _json(response.body)


def _sms(client: Client, raw: bytes) -> tuple[int, Any]:
    response = client.http.post("/v1/callbacks/sms", body=raw, headers={"Content-Type": "application/json"})
    return response.status_code, _json(response.body)


def _signed_sms(params: dict[str, Any]) -> bytes:
    """A receipt signed the SMS API's way (``sig`` over the other parameters, as text)."""
    stamped = {**params, "timestamp": str(int(time.time())), "nonce": "chaos-nonce"}
    return json.dumps({**stamped, "sig": sign_sms_params({k: str(v) for k, v in stamped.items()},
                                                          VONAGE_SECRET, "sha256")}).encode()


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body[:200]


def _is_json_4xx(status: int, body: Any) -> bool:
    return 400 <= status < 500 and isinstance(body, dict) and bool(body.get("error", {}).get("code"))


@pytest.mark.chaos(scenario="signed webhooks: body nested 200,000 deep; WhatsApp \"statuses\": 5", invariant=INVARIANT)
def test_the_two_malformed_signed_webhooks_are_a_4xx(client: Client) -> None:
    deep = ("[" * DEEP + "]" * DEEP).encode()
    statuses_five = json.dumps({"object": "whatsapp_business_account",
                                "entry": [{"id": "1", "changes": [{"field": "messages",
                                                                   "value": {"statuses": 5}}]}]}).encode()
    answers = {"vonage, 200k deep": _vonage(client, deep), "meta, 200k deep": _meta(client, deep),
               "meta, statuses: 5": _meta(client, statuses_five),
               # the SMS receipts (issue 23): the signature is in the body, every value text
               "vonage sms, 200k deep": _sms(client, deep),
               "vonage sms, status an object": _sms(client, _signed_sms(
                   {"messageId": "0A0000000123ABCD1", "status": {"delivered": 1}, "client-ref": REF})),
               "vonage sms, no status": _sms(client, _signed_sms({"messageId": "0A0000000123ABCD1",
                                                                   "client-ref": REF}))}
    wrong = {case: (status, str(body)[:120]) for case, (status, body) in answers.items()
             if not _is_json_4xx(status, body)}
    assert wrong == {}, f"not a JSON 4xx: {wrong}"
    assert answers["vonage sms, no status"][0] == 400, "signed, read, refused for its shape"


def _set(hook: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(hook)
    target: Any = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


@pytest.mark.chaos(scenario="signed WhatsApp webhooks: every typed field of Meta's status webhook given another type",
                   invariant=INVARIANT)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(TYPED_FIELDS), value=JSON_VALUES)
def test_a_field_of_the_wrong_type_is_a_4xx(client: Client, field: tuple[tuple[Any, ...], set[type]],
                                            value: Any) -> None:
    path, allowed = field
    if type(value) in allowed or (int in allowed and type(value) is float and value.is_integer()):
        return  # a value of the allowed type (JSON has one number type: 7.0 is the integer 7)
    status, body = _meta(client, json.dumps(_set(VALID_STATUS_HOOK, path, value)).encode())
    assert _is_json_4xx(status, body), f"{'/'.join(map(str, path))} = {value!r}: {status} {str(body)[:200]}"


@pytest.mark.chaos(scenario="signed WhatsApp webhook of Meta's documented shape", invariant="it is answered 200")
def test_the_documented_shape_is_accepted(client: Client) -> None:
    status, body = _meta(client, json.dumps(VALID_STATUS_HOOK).encode())
    assert status == 200 and body == {"statuses": [], "skipped": 1, "refused": 0}, body
