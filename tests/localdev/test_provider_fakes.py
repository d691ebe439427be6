"""The provider clients against the strict fakes: what each fault mode does to a borrower.

The rule under test: a request that may have been placed is never sent again (OutcomeUnknown);
failures where nothing was placed are retried (ProviderGaveUp when they persist)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.reminders.providers import (
    CredentialsRefused,
    OutcomeUnknown,
    ProviderGaveUp,
    ProviderRejected,
    RetryPolicy,
    VoiceClient,
    WhatsAppClient,
)
from chalicelib.reminders.signatures import SIGNATURE_HEADER, InvalidSignature, verify, verify_vonage
from localdev.fakes import FakeVoice, FakeWhatsApp, FaultRates
from tests.factories import provider_settings

POLICY = RetryPolicy(rate_per_second=1000, max_attempts=3, backoff_base=0.01, backoff_max=0.05, timeout=0.5)
TO = "6281300000001"

PROVIDERS = provider_settings()


class Receiver:
    """Our side of the webhooks, minimal: records what arrives, answers the Meta handshake if asked."""

    def __init__(self, verify_token: str | None = None) -> None:
        self.hooks: list[tuple[dict[str, str], bytes]] = []
        self.verify_token = verify_token
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                q = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                ok = q.get("hub.mode") == "subscribe" and q.get("hub.verify_token") == receiver.verify_token
                data = q.get("hub.challenge", "").encode() if ok else b"no"
                self.send_response(200 if ok else 403)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.hooks.append(({k: v for k, v in self.headers.items()}, raw))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # shutdown() waits for the loop to look at its flag: every 0.5 s by default, in every test's teardown
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def statuses(self) -> list[str]:
        return [json.loads(body)["status"] for _h, body in self.hooks]


@pytest.fixture
def voice(monkeypatch):
    fake = FakeVoice(timeout_sleep=0.8, slow_sleep=0.1).start()
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    yield fake
    fake.stop()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


def _client(fake: FakeVoice) -> VoiceClient:
    return VoiceClient(POLICY, settings=PROVIDERS, base_url=fake.url, application_id=fake.application_id,
                       private_key=fake.private_key)


def test_a_call_is_placed_through_the_sdk_and_its_events_are_signed_the_vonage_way(voice, receiver):
    voice.force_outcome(TO, "human")
    accepted = _client(voice).call(TO, "Halo Budi", f"{receiver.url}?ref=1")
    assert voice.wait_idle(10)
    body = voice.records[0].body
    assert body["ncco"] == [{"action": "talk", "text": "Halo Budi", "language": "id-ID"}]
    assert body["machine_detection"] == "hangup" and body["event_url"] == [f"{receiver.url}?ref=1"]
    assert receiver.statuses() == ["started", "ringing", "answered", "human", "completed"]
    for headers, raw in receiver.hooks:
        assert verify_vonage(voice.signature_secret, raw, headers["Authorization"])
        assert json.loads(raw)["uuid"] == accepted.provider_id


def test_an_unanswered_call_ends_without_answered(voice, receiver):
    voice.force_outcome(TO, "busy")
    _client(voice).call(TO, "Halo", f"{receiver.url}?ref=1")
    assert voice.wait_idle(10)
    assert receiver.statuses() == ["started", "ringing", "busy"]


def test_the_fake_refuses_a_jwt_not_signed_by_the_application_key(voice, monkeypatch):
    other = FakeVoice()  # another application's key pair
    monkeypatch.setenv("VONAGE_PRIVATE_KEY", other.private_key)  # the secret holds the wrong key too
    client = VoiceClient(POLICY, settings=PROVIDERS, base_url=voice.url, application_id=voice.application_id,
                         private_key=other.private_key)
    with pytest.raises(CredentialsRefused) as refused:
        client.call(TO, "Halo", "http://127.0.0.1:9/cb")
    # refused, the key read again from the secret, refused again: a configuration error
    assert refused.value.code == 401 and voice.auth_failures == 2 and not voice.placed_by_reference()


@pytest.mark.parametrize("fault, placed", [("timeout", 0), ("answer_lost", 1), ("cut", 1)])
def test_a_lost_answer_is_outcome_unknown_and_never_sent_again(voice, fault, placed):
    voice.inject(fault, count=3)
    with pytest.raises(OutcomeUnknown) as unknown:
        _client(voice).call(TO, "Halo", "http://127.0.0.1:9/cb?ref=7")
    assert unknown.value.attempts == 1
    assert len(voice.records) == 1
    assert sum(voice.placed_by_reference().values()) == placed


@pytest.mark.parametrize("fault", ["429", "500"])
def test_refusals_where_nothing_was_placed_are_retried(voice, fault):
    voice.inject(fault, count=1)
    accepted = _client(voice).call(TO, "Halo", "http://127.0.0.1:9/cb?ref=7")
    assert accepted.attempts == 2 and voice.placed_by_reference() == {"http://127.0.0.1:9/cb?ref=7": 1}
    voice.inject(fault, count=3)
    with pytest.raises(ProviderGaveUp) as gave_up:
        _client(voice).call(TO, "Halo", "http://127.0.0.1:9/cb?ref=8")
    assert gave_up.value.attempts == 3 and "http://127.0.0.1:9/cb?ref=8" not in voice.placed_by_reference()


def test_an_invalid_number_is_rejected_before_any_request(voice):
    with pytest.raises(ProviderRejected):
        _client(voice).call("0812", "Halo", "http://127.0.0.1:9/cb")
    assert voice.records == []


def test_webhook_faults_duplicate_and_reorder(voice, receiver):
    voice.force_outcome(TO, "human")
    voice.inject("duplicate")
    _client(voice).call(TO, "Halo", f"{receiver.url}?ref=1")
    assert voice.wait_idle(10)
    assert receiver.statuses() == ["started", "started", "ringing", "ringing", "answered", "answered", "human",
                                   "human", "completed", "completed"]
    receiver.hooks.clear()
    voice.set_rates(FaultRates(reorder=1.0))
    _client(voice).call(TO, "Halo", f"{receiver.url}?ref=2")
    assert voice.wait_idle(10)
    assert sorted(receiver.statuses()) == sorted(["started", "ringing", "answered", "human", "completed"])


def test_whatsapp_webhooks_wait_for_the_handshake_and_are_signed_with_the_app_secret():
    refusing, answering = Receiver(verify_token="something-else"), Receiver(verify_token="local-whatsapp-verify-token")
    for r, expect_delivery in ((refusing, False), (answering, True)):
        fake = FakeWhatsApp(webhook_url=r.url, mix=(("read", 1.0),), foreign_rate=0.0).start()
        client = WhatsAppClient(POLICY, settings=PROVIDERS, base_url=fake.env()["WHATSAPP_API_URL"], token=fake.token)
        accepted = client.send_template(TO, "julo_t3_reminder_v2", ["Budi"], "1|2026-11-20|whatsapp|WIB")
        assert fake.wait_idle(10)
        fake.stop()
        if not expect_delivery:
            assert r.hooks == [] and fake.callbacks_dropped == 3 and not fake.subscribed
            continue
        assert fake.subscribed and fake.handshakes == 1
        statuses = [json.loads(raw)["entry"][0]["changes"][0]["value"]["statuses"][0] for _h, raw in r.hooks]
        assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
        assert {s["id"] for s in statuses} == {accepted.provider_id}
        assert all(verify(fake.app_secret, raw, headers[SIGNATURE_HEADER]) for headers, raw in r.hooks)
        with pytest.raises(InvalidSignature):  # a Meta-signed body is no Vonage webhook
            verify_vonage("local-vonage-signature-secret-32b", r.hooks[0][1], r.hooks[0][0][SIGNATURE_HEADER])


def test_whatsapp_rate_limits_are_retried_and_refused_credentials_are_not_the_borrowers_failure(monkeypatch):
    fake = FakeWhatsApp(webhook_url="http://127.0.0.1:9/hook").start()
    client = WhatsAppClient(POLICY, settings=PROVIDERS, base_url=fake.env()["WHATSAPP_API_URL"], token=fake.token)
    fake.inject("429", count=1)
    assert client.send_template(TO, "t", ["a"], "ref-1").attempts == 2
    monkeypatch.setenv("WHATSAPP_API_TOKEN", "expired")  # the secret holds the bad token too
    bad_token = WhatsAppClient(POLICY, settings=PROVIDERS, base_url=fake.env()["WHATSAPP_API_URL"], token="expired")
    with pytest.raises(CredentialsRefused) as rejected:
        bad_token.send_template(TO, "t", ["a"], "ref-2")
    fake.stop()
    assert rejected.value.code == 190 and rejected.value.attempts == 2 and fake.auth_refused == 2
