"""Provider credentials that rotate, against the strict fakes (Meta: 401 with OAuthException code 190 for a
revoked token; Vonage voice: 401 for a JWT signed with a replaced key; Vonage SMS: status 4 for a deleted
API secret).

- a refusal makes the client re-read its secret and send that one request again: a rotated token or
  key costs one extra request, nobody's message;
- refused again with what the secret holds: ``CredentialsRefused`` (a configuration error), and
  nothing was placed;
- a container re-reads its secrets at most once a minute, however many sends were refused.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from chalicelib import settings
from chalicelib.reminders import secrets
from chalicelib.reminders.providers import CredentialsRefused, RetryPolicy, VoiceClient, WhatsAppClient
from chalicelib.reminders.sms_provider import SmsClient
from localdev.fakes import FakeSms, FakeVoice, FakeWhatsApp
from tests.factories import provider_settings

POLICY = RetryPolicy(rate_per_second=1000, max_attempts=3, backoff_base=0.01, backoff_max=0.05, timeout=0.5)
TO = "6281300000009"

PROVIDERS = provider_settings()


@pytest.fixture(autouse=True)
def fresh_container(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No secret read or re-read yet in this 'container'."""
    settings.forget_secrets()
    yield
    settings.forget_secrets()


@pytest.fixture
def whatsapp() -> Iterator[FakeWhatsApp]:
    fake = FakeWhatsApp(webhook_url="http://127.0.0.1:9/hook").start()
    yield fake
    fake.stop()


def test_a_rotated_whatsapp_token_is_read_from_the_secret_and_the_send_goes_out(
        aws: str, whatsapp: FakeWhatsApp, monkeypatch: pytest.MonkeyPatch) -> None:
    sm = settings.aws_clients().client("secretsmanager")
    arn = sm.create_secret(Name="tokens", SecretString=json.dumps({"WHATSAPP_API_TOKEN": whatsapp.token}))["ARN"]
    monkeypatch.delenv("WHATSAPP_API_TOKEN", raising=False)
    monkeypatch.setenv("PROVIDER_TOKENS_SECRET_ARN", arn)
    client = WhatsAppClient(POLICY, settings=PROVIDERS,
                            base_url=whatsapp.env()["WHATSAPP_API_URL"])  # token from the secret
    assert client.send_template(TO, "t", ["a"], "ref-1").attempts == 1
    new = whatsapp.rotate_token()
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps({"WHATSAPP_API_TOKEN": new}))
    accepted = client.send_template(TO, "t", ["a"], "ref-2")
    assert accepted.attempts == 2 and whatsapp.auth_refused == 1 and client.token == new
    assert client.send_template(TO, "t", ["a"], "ref-3").attempts == 1     # the new token from now on
    assert whatsapp.placed_by_reference() == {"ref-1": 1, "ref-2": 1, "ref-3": 1}


def test_a_revoked_token_the_secret_still_holds_is_a_configuration_error_and_nothing_is_placed(
        aws: str, whatsapp: FakeWhatsApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHATSAPP_API_TOKEN", whatsapp.token)
    client = WhatsAppClient(POLICY, settings=PROVIDERS, base_url=whatsapp.env()["WHATSAPP_API_URL"])
    whatsapp.rotate_token()                      # revoked, and nobody updated the secret
    with pytest.raises(CredentialsRefused) as refused:
        client.send_template(TO, "t", ["a"], "ref-1")
    assert refused.value.code == 190 and whatsapp.auth_refused == 2 and not whatsapp.placed_by_reference()


def test_a_401_blip_costs_one_request(aws: str, whatsapp: FakeWhatsApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHATSAPP_API_TOKEN", whatsapp.token)
    client = WhatsAppClient(POLICY, settings=PROVIDERS, base_url=whatsapp.env()["WHATSAPP_API_URL"])
    whatsapp.inject("401", count=1)
    assert client.send_template(TO, "t", ["a"], "ref-1").attempts == 2
    assert whatsapp.placed_by_reference() == {"ref-1": 1}


def test_a_regenerated_vonage_key_is_read_from_the_secret_and_the_call_goes_out(
        aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    voice = FakeVoice().start()
    try:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", voice.ca_bundle)
        monkeypatch.setenv("VONAGE_APPLICATION_ID", voice.application_id)
        monkeypatch.setenv("VONAGE_PRIVATE_KEY", voice.private_key)
        client = VoiceClient(POLICY, settings=PROVIDERS, base_url=voice.url)
        assert client.call(TO, "Halo", "http://127.0.0.1:9/cb?ref=1").attempts == 1
        monkeypatch.setenv("VONAGE_PRIVATE_KEY", voice.rotate_key())   # the secret now holds the new key
        assert client.call(TO, "Halo", "http://127.0.0.1:9/cb?ref=2").attempts == 2
        assert voice.auth_failures == 1
        assert client.call(TO, "Halo", "http://127.0.0.1:9/cb?ref=3").attempts == 1
    finally:
        voice.stop()


def test_a_new_vonage_api_secret_is_read_from_the_secret_and_the_sms_goes_out(
        aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sms = FakeSms(receipt_url="http://127.0.0.1:9/receipts").start()
    try:
        sm = settings.aws_clients().client("secretsmanager")
        arn = sm.create_secret(Name="tokens", SecretString=json.dumps(
            {"VONAGE_API_KEY": sms.api_key, "VONAGE_API_SECRET": sms.api_secret}))["ARN"]
        for key, value in sms.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("VONAGE_API_KEY")
        monkeypatch.delenv("VONAGE_API_SECRET")
        monkeypatch.setenv("PROVIDER_TOKENS_SECRET_ARN", arn)
        client = SmsClient(POLICY, base_url=sms.url)        # key and secret from the secret
        assert client.send(TO, "Halo", "ref-1").attempts == 1
        new = sms.rotate_secret()                           # Vonage: the old API secret deleted
        sm.put_secret_value(SecretId=arn, SecretString=json.dumps(
            {"VONAGE_API_KEY": sms.api_key, "VONAGE_API_SECRET": new}))
        assert client.send(TO, "Halo", "ref-2").attempts == 2
        assert client.send(TO, "Halo", "ref-3").attempts == 1     # the new secret from now on
        sms.rotate_secret()                                 # deleted again, and nobody updated the secret
        with pytest.raises(CredentialsRefused) as refused:
            client.send(TO, "Halo", "ref-4")
        assert refused.value.code == 4 and sms.auth_refused == 3
        assert sms.placed_by_reference() == {"ref-1": 1, "ref-2": 1, "ref-3": 1}
    finally:
        sms.stop()


def test_secrets_are_re_read_at_most_once_a_minute_per_container(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sm = settings.aws_clients().client("secretsmanager")
    arn = sm.create_secret(Name="tokens", SecretString=json.dumps({"WHATSAPP_API_TOKEN": "one"}))["ARN"]
    monkeypatch.delenv("WHATSAPP_API_TOKEN", raising=False)
    monkeypatch.setenv("PROVIDER_TOKENS_SECRET_ARN", arn)
    assert secrets.provider_secret("WHATSAPP_API_TOKEN") == "one"
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps({"WHATSAPP_API_TOKEN": "two"}))
    assert secrets.provider_secret("WHATSAPP_API_TOKEN") == "one"          # cached
    assert secrets.refresh_provider_secrets()
    assert secrets.provider_secret("WHATSAPP_API_TOKEN") == "two"
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps({"WHATSAPP_API_TOKEN": "three"}))
    assert not secrets.refresh_provider_secrets()                          # within the minute: not again
    assert secrets.provider_secret("WHATSAPP_API_TOKEN") == "two"
    minute = settings.SECRET_REFRESH_MIN_INTERVAL_S                         # the last re-read a minute ago
    monkeypatch.setitem(settings._refreshed_at, secrets.PROVIDER_GROUP, time.monotonic() - minute)
    assert secrets.refresh_provider_secrets()
    assert secrets.provider_secret("WHATSAPP_API_TOKEN") == "three"
