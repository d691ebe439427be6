"""Provider contract pieces that need no server: Vonage webhook JWTs, Meta signatures, WhatsApp
error classes and status parsing, and which connection errors mean "nothing was sent"."""

from __future__ import annotations

import json
import re
import time

import jwt
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from urllib3.exceptions import NewConnectionError, ProtocolError

from chalicelib.reminders.providers import MalformedWebhook, nothing_sent, whatsapp_error_kind, whatsapp_statuses
from chalicelib.reminders.signatures import (
    InvalidSignature,
    payload_hash,
    sign,
    verify,
    verify_vonage,
    vonage_webhook_token,
)

SECRET = "a-vonage-signature-secret-of-32+b"
BODY = json.dumps({"uuid": "call-1", "status": "human"}).encode()


def _bearer(token: str) -> str:
    return f"Bearer {token}"


def test_a_vonage_signed_webhook_is_accepted_with_its_claims():
    claims = verify_vonage(SECRET, BODY, _bearer(vonage_webhook_token(SECRET, BODY, application_id="app-1")))
    assert claims["payload_hash"] == payload_hash(BODY) and claims["application_id"] == "app-1"


@pytest.mark.parametrize("case", ["meta signature", "no header", "wrong secret", "stale iat", "future iat",
                                  "other body", "no payload_hash", "alg none", "not bearer"])
def test_anything_not_signed_the_vonage_way_is_refused(case):
    now = int(time.time())
    headers = {
        "meta signature": sign(SECRET, BODY),
        "no header": None,
        "wrong secret": _bearer(vonage_webhook_token("another-secret-that-is-long-enough", BODY)),
        "stale iat": _bearer(vonage_webhook_token(SECRET, BODY, iat=now - 301)),
        "future iat": _bearer(vonage_webhook_token(SECRET, BODY, iat=now + 301)),
        "other body": _bearer(vonage_webhook_token(SECRET, BODY.replace(b"human", b"busy"))),
        "no payload_hash": _bearer(jwt.encode({"iat": now}, SECRET, algorithm="HS256")),
        "alg none": _bearer(jwt.encode({"iat": now, "payload_hash": payload_hash(BODY)}, None, algorithm="none")),
        "not bearer": "Basic " + vonage_webhook_token(SECRET, BODY),
    }
    with pytest.raises(InvalidSignature):
        verify_vonage(SECRET, BODY, headers[case])


@given(st.integers(min_value=0, max_value=300))
def test_iat_within_five_minutes_either_way_is_accepted(age):
    now = time.time()
    token = vonage_webhook_token(SECRET, BODY, iat=int(now) - age)
    assert verify_vonage(SECRET, BODY, _bearer(token), now=int(now))["iat"] == int(now) - age


def test_no_secret_configured_refuses_everything():
    with pytest.raises(InvalidSignature):
        verify_vonage("", BODY, _bearer(vonage_webhook_token(SECRET, BODY)))
    assert not verify("", BODY, sign("", BODY))


@given(st.binary(max_size=200))
def test_meta_signature_round_trips_and_detects_any_change(body):
    header = sign("app-secret", body)
    assert verify("app-secret", body, header)
    assert not verify("app-secret", body + b"x", header)


def test_whatsapp_error_codes_are_classified():
    for code in (130429, 131056, 80007):
        assert whatsapp_error_kind(code) == "rate_limited"
    for code in (131026, 131047, 132000, 132001, 132015):
        assert whatsapp_error_kind(code) == "permanent"
    assert whatsapp_error_kind(None) == "transient" and whatsapp_error_kind(131000) == "transient"


def test_whatsapp_statuses_keep_ours_and_foreign_apart():
    hook = {"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {"statuses": [
        {"id": "wamid.1", "status": "failed", "biz_opaque_callback_data": "1|2026-11-20|whatsapp|WIB",
         "errors": [{"code": 131047}]},
        {"id": "wamid.2", "status": "delivered"},
    ]}}, {"value": {"messages": [{"type": "text"}]}}]}, {"changes": []}]}
    ours, foreign = whatsapp_statuses(hook)
    assert (ours.reference, ours.error_code, ours.error_kind) == ("1|2026-11-20|whatsapp|WIB", 131047, "permanent")
    assert foreign.reference is None and foreign.error_kind is None


@pytest.mark.parametrize(("hook", "where"), [
    ({"entry": []}, "(body): required"),
    ({"object": "whatsapp_business_account", "entry": {"changes": []}}, "entry: type"),
    ({"object": "whatsapp_business_account", "entry": [{"changes": None}]}, "entry/0/changes: type"),
    ({"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {"statuses": 5}}]}]},
     "entry/0/changes/0/value/statuses: type"),
    ({"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {"statuses": [{"status": "read"}]}}]}]},
     "entry/0/changes/0/value/statuses/0: required"),
    ({"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {"statuses": [
        {"id": "w", "status": "failed", "errors": [{"code": "131047"}]}]}}]}]},
     "entry/0/changes/0/value/statuses/0/errors/0/code: type"),
    ([], "(body): type"),
])
def test_a_webhook_not_of_metas_shape_is_malformed_and_says_where(hook, where):
    with pytest.raises(MalformedWebhook, match=re.escape(where)):
        whatsapp_statuses(hook)


def test_only_failures_before_sending_count_as_nothing_sent():
    refused = requests.ConnectionError(NewConnectionError(None, "Connection refused"))  # type: ignore[arg-type]
    reset = requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError()))
    assert nothing_sent(refused) and nothing_sent(requests.ConnectTimeout())
    assert nothing_sent(requests.exceptions.SSLError("certificate verify failed"))
    assert not nothing_sent(reset) and not nothing_sent(requests.ReadTimeout())
