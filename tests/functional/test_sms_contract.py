"""The SMS client (Vonage's SDK) against the strict fake: what each answer and fault means for a borrower.

The rules: an SMS that may have gone out is never sent again (``OutcomeUnknown``); refusals where
nothing went out are retried (``ProviderGaveUp`` when they persist); a refusal that will not change
is ``ProviderRejected``; a rotated API secret is read again, and credentials refused again after that
are ``CredentialsRefused`` (our configuration error), never blamed on the borrower. Receipts
are signed the SMS API's way and our verification accepts exactly those.
"""

from __future__ import annotations

import json

import pytest

from chalicelib.reminders.providers import (
    CredentialsRefused,
    OutcomeUnknown,
    ProviderGaveUp,
    ProviderRejected,
    RetryPolicy,
)
from chalicelib.reminders.sms_provider import SmsClient
from chalicelib.reminders.sms_signatures import InvalidSmsSignature, verify_sms_signature
from localdev.fakes import FakeSms
from tests.factories import dispatch_settings
from tests.localdev.test_provider_fakes import Receiver

POLICY = RetryPolicy(rate_per_second=1000, max_attempts=3, backoff_base=0.01, backoff_max=0.05, timeout=0.5)
TO = "6281300000001"
TEXT = ("JULO: Angsuran Rp 1.250.000 jatuh tempo 23 November 2026. Bayar via VA BCA 1234567890. "
        "Abaikan jika sudah membayar.")
REF = "42|2026-11-20|sms|WIB|0"


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture
def sms(monkeypatch, receiver):
    fake = FakeSms(receipt_url=receiver.url, timeout_sleep=0.8, slow_sleep=0.1).start()
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    yield fake
    fake.stop()


def _client(**kwargs) -> SmsClient:
    return SmsClient(POLICY, settings=dispatch_settings(), **kwargs)  # the fake's SMS_API_URL, SMS_SENDER_ID


def _receipts(receiver: Receiver) -> list[dict[str, str]]:
    return [json.loads(raw) for _h, raw in receiver.hooks]


def test_an_sms_goes_out_through_the_sdk_with_our_reference_and_comes_back_signed(sms, receiver):
    sms.force_outcome(TO, "delivered")
    accepted = _client().send(TO, TEXT, REF, f"{receiver.url}")
    assert sms.wait_idle(10)
    body = sms.records[0].body
    assert (body["to"], body["from"], body["text"], body["type"]) == (TO, "JULO", TEXT, "text")
    assert (body["client-ref"], body["status-report-req"], body["callback"]) == (REF, "True", receiver.url)
    assert "api_secret" not in body  # the secret travels in the Basic header, never in the form
    receipts = _receipts(receiver)
    assert [r["status"] for r in receipts] == ["accepted", "delivered"]
    for receipt in receipts:
        checked = verify_sms_signature(receipt, sms.signature_secret, sms.signature_method)
        assert (checked["messageId"], checked["client-ref"], checked["err-code"]) == (accepted.provider_id, REF, "0")
        with pytest.raises(InvalidSmsSignature):
            verify_sms_signature(receipt, sms.signature_secret, "md5hash")


@pytest.mark.parametrize("outcome, code", [("failed", None), ("expired", "2")])
def test_failed_and_expired_receipts_carry_an_error_code(sms, receiver, outcome, code):
    sms.force_outcome(TO, outcome)
    _client().send(TO, TEXT, REF, receiver.url)
    assert sms.wait_idle(10)
    final = _receipts(receiver)[-1]
    assert final["status"] == outcome and final["err-code"] != "0"
    if code:
        assert final["err-code"] == code


def test_a_two_part_sms_is_one_send_with_a_receipt_per_part(sms, receiver):
    long_text = "a" * 200
    accepted = _client().send(TO, long_text, REF, receiver.url)
    assert sms.wait_idle(10)
    ids = {r["messageId"] for r in _receipts(receiver)}
    assert len(ids) == 2 and accepted.provider_id in ids and len(sms.records) == 1


@pytest.mark.parametrize("fault, placed", [("timeout", 0), ("answer_lost", 1), ("cut", 1)])
def test_a_lost_answer_is_outcome_unknown_and_never_sent_again(sms, fault, placed):
    sms.inject(fault, count=3)
    with pytest.raises(OutcomeUnknown) as unknown:
        _client().send(TO, TEXT, REF)
    assert unknown.value.attempts == 1 and len(sms.records) == 1
    assert sum(sms.placed_by_reference().values()) == placed


@pytest.mark.parametrize("fault", ["429", "500"])
def test_throttled_and_server_errors_are_retried(sms, fault):
    sms.inject(fault, count=1)
    accepted = _client().send(TO, TEXT, REF)
    assert accepted.attempts == 2 and sms.placed_by_reference() == {REF: 1}
    if fault == "429":  # the SMS API says it in the body of an HTTP 200, as Vonage does
        assert sms.records[0].http_status == 200


def test_throttling_that_persists_gives_up_with_nothing_sent(sms):
    sms.inject("429", count=5)
    with pytest.raises(ProviderGaveUp) as gave_up:
        _client().send(TO, TEXT, REF)
    assert gave_up.value.attempts == 3 and gave_up.value.code == 1 and not sms.placed_by_reference()


def test_wrong_credentials_are_a_configuration_error_not_the_numbers(sms, monkeypatch):
    monkeypatch.setenv("VONAGE_API_SECRET", "not-the-secret")
    with pytest.raises(CredentialsRefused) as refused:      # read again once, refused again
        _client().send(TO, TEXT, REF)
    assert refused.value.code == 4 and refused.value.attempts == 2 and sms.auth_failures == 2
    assert not sms.placed_by_reference()


def test_a_401_blip_costs_one_request(sms):
    sms.inject("401", count=1)
    assert _client().send(TO, TEXT, REF).attempts == 2
    assert sms.auth_refused == 1 and sms.placed_by_reference() == {REF: 1}


def test_a_rotated_api_secret_is_read_again_and_the_sms_goes_out_once(sms, monkeypatch):
    client = _client()
    assert client.send(TO, TEXT, REF).attempts == 1
    monkeypatch.setenv("VONAGE_API_SECRET", sms.rotate_secret())  # the secret store now has the new one
    accepted = client.send(TO, TEXT, REF + "b")
    assert accepted.attempts == 2 and sms.auth_failures == 1 and sms.auth_refused == 1
    assert sms.placed_by_reference() == {REF: 1, REF + "b": 1}


@pytest.mark.parametrize("to, text, ref, why", [
    ("081300000001", TEXT, REF, "invalid_number"),
    ("0813-0000-0001 / 0812 9999 0002", TEXT, REF, "invalid_number"),  # two numbers typed in one field
    (TO, TEXT, "r" * 101, "invalid_request: client_ref"),
    (TO, "Pembayaran 日本", REF, "status 6"),        # type=text with characters GSM 03.38 lacks
])
def test_what_can_never_go_out_is_rejected_once(sms, to, text, ref, why):
    """Rejected once, and the error (kept in the ledger and the logs) names codes and fields, never the
    number or the text (issue 21)."""
    with pytest.raises(ProviderRejected, match=why) as rejected:
        _client().send(to, text, ref)
    assert len(sms.records) <= 1 and not sms.placed_by_reference()
    error = str(rejected.value)
    digits = "".join(c for c in to if c.isdigit())
    assert to not in error and digits[1:8] not in error and text not in error and "Pembayaran" not in error


def test_a_callback_url_longer_than_vonage_takes_falls_back_to_the_dashboards(sms, receiver):
    _client().send(TO, TEXT, REF, "https://example.invalid/" + "x" * 100)
    assert sms.wait_idle(10)
    assert "callback" not in sms.records[0].body and len(receiver.hooks) == 2  # sent to receipt_url
