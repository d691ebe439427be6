"""Both provider clients against their fakes with every fault mode at 10%: what the client reports
must be true at the provider (nobody contacted twice; "not placed" really means not placed)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.reminders.providers import (
    Accepted,
    OutcomeUnknown,
    ProviderError,
    ProviderGaveUp,
    ProviderRejected,
    RetryPolicy,
    VoiceClient,
    WhatsAppClient,
)
from chalicelib.reminders.sms_provider import SmsClient
from localdev.fakes import FakeSms, FakeVoice, FakeWhatsApp, FaultRates
from tests.factories import provider_settings

REQUESTS = 80
POLICY = RetryPolicy(rate_per_second=1000, max_attempts=4, backoff_base=0.01, backoff_max=0.05, timeout=0.3)
INVARIANT = "no one contacted twice; a send reported not placed was not placed; every unknown is reported"

PROVIDERS = provider_settings()


def _run(send, refs: list[str]) -> dict[str, Accepted | ProviderError]:
    def one(ref: str) -> Accepted | ProviderError:
        try:
            return send(ref)
        except ProviderError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(refs, pool.map(one, refs), strict=True))


def _check(results: dict[str, Accepted | ProviderError], placed: dict[str, int]) -> None:
    assert max(placed.values(), default=0) == 1, "someone was contacted twice"
    for ref, result in results.items():
        if isinstance(result, Accepted):
            assert placed.get(ref) == 1, ref
        elif isinstance(result, (ProviderGaveUp, ProviderRejected)):
            assert ref not in placed, f"{ref}: reported not placed, but placed"
        else:
            assert isinstance(result, OutcomeUnknown) and result.attempts >= 1
    kinds = {type(r).__name__ for r in results.values()}
    assert {"Accepted", "OutcomeUnknown"} <= kinds  # the faults did happen


@pytest.mark.chaos(scenario="Vonage: 429, 5xx, timeout, answer lost, cut, slow at 10% each", invariant=INVARIANT)
def test_voice_client_under_every_fault(monkeypatch):
    fake = FakeVoice(seed=11, rates=FaultRates.each(0.10), timeout_sleep=0.45, slow_sleep=0.05).start()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle)
    client = VoiceClient(POLICY, settings=PROVIDERS, base_url=fake.url, application_id=fake.application_id,
                         private_key=fake.private_key)
    refs = [f"http://127.0.0.1:9/cb?ref={i}" for i in range(REQUESTS)]
    results = _run(lambda ref: client.call(f"62813{int(ref.rsplit('=', 1)[1]):08d}", "Halo", ref), refs)
    placed = fake.placed_by_reference()
    fake.stop()
    _check(results, placed)


@pytest.mark.chaos(scenario="WhatsApp: 429, 5xx, timeout, answer lost, cut, slow at 10% each", invariant=INVARIANT)
def test_whatsapp_client_under_every_fault():
    fake = FakeWhatsApp(webhook_url="http://127.0.0.1:9/hook", seed=11, rates=FaultRates.each(0.10),
                        timeout_sleep=0.45, slow_sleep=0.05).start()
    client = WhatsAppClient(POLICY, settings=PROVIDERS, base_url=fake.env()["WHATSAPP_API_URL"], token=fake.token)
    refs = [f"{i}|2026-11-20|whatsapp|WIB" for i in range(REQUESTS)]
    results = _run(lambda ref: client.send_template(f"62813{int(ref.split('|')[0]):08d}", "t", ["a"], ref), refs)
    placed = fake.placed_by_reference()
    fake.stop()
    _check(results, placed)


@pytest.mark.chaos(scenario="Vonage SMS: throttled, 5xx, timeout, answer lost, cut, slow at 10% each",
                   invariant=INVARIANT)
def test_sms_client_under_every_fault(monkeypatch):
    fake = FakeSms(seed=11, rates=FaultRates.each(0.10), timeout_sleep=0.45, slow_sleep=0.05).start()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle)
    client = SmsClient(POLICY, base_url=fake.url, api_key=fake.api_key, api_secret=fake.api_secret)
    refs = [f"{i}|2026-11-20|sms|WIB|0" for i in range(REQUESTS)]
    results = _run(lambda ref: client.send(f"62813{int(ref.split('|')[0]):08d}", "JULO: Angsuran", ref), refs)
    placed = fake.placed_by_reference()
    fake.stop()
    _check(results, placed)
