"""The provider contract from both sides: the fakes enforce it as Vonage and Meta do (429 above the
rate in a rolling second, above the concurrent calls), and the shared grid holds it on DynamoDB,
where a 429 heard by one container pauses and slows down the others."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest

from chalicelib.reminders.provider_rate import RateContract, SharedRateLimiter
from chalicelib.reminders.provider_rate_dynamo import DynamoLaneStore, grid_key
from chalicelib.reminders.providers import ProviderGaveUp, RetryPolicy, VoiceClient, WhatsAppClient
from chalicelib.reminders.sms_provider import SmsClient
from chalicelib.reminders.stages import Channel
from chalicelib.settings import DispatchSettings
from localdev.aws.bootstrap import bootstrap
from localdev.aws.template_resolution import LOCAL_VOICE_FROM_NUMBER
from localdev.fakes import FakeSms, FakeVoice, FakeWhatsApp
from tests.factories import dispatch_settings, provider_settings
from tests.unit import test_provider_rate as rules
from tests.unit.test_provider_rate import (  # noqa: F401 (collected here against DynamoDB)
    T0,
    VirtualTime,
    test_a_429_pauses_every_container_then_slows_them_down,
    test_a_grid_left_idle_restarts_at_now_without_a_burst,
    test_repeated_429s_slow_down_further,
    test_the_concurrent_call_limit_spaces_calls_by_their_longest_duration,
)

ONCE = RetryPolicy(rate_per_second=1000, max_attempts=1, timeout=2.0)
TO = "6281300000001"

PROVIDERS = provider_settings()


@pytest.fixture(params=["dynamodb"])
def lanes(aws: str) -> Iterator[DynamoLaneStore]:
    bootstrap()
    store = DynamoLaneStore(Channel.ROBOCALL, RateContract(1.0))
    store.key = {"pk": {"S": f"test#{uuid.uuid4()}"}}  # a grid of its own (a moto server may be shared)
    yield store


@pytest.mark.parametrize(("rate", "most"), [(5.0, 0.15), (50.0, 0.15)])
def test_four_containers_keep_the_contract_busy_through_dynamodb(aws: str, rate: float, most: float) -> None:
    bootstrap()
    rules.test_containers_together_keep_the_contract_busy_and_never_exceed_it(
        DynamoLaneStore(Channel.ROBOCALL, RateContract(rate)), rate, 4)
    rules.test_the_limiter_costs_a_fraction_of_a_store_request_per_send(  # a grid of its own
        DynamoLaneStore(Channel.WHATSAPP, RateContract(rate)), rate, most)


class FixedClock:
    def __init__(self, at: float = T0) -> None:
        self.now = at

    def __call__(self) -> float:
        return self.now


def _voice(fake: FakeVoice, policy: RetryPolicy = ONCE, settings: DispatchSettings = PROVIDERS,
           **kwargs: object) -> VoiceClient:
    return VoiceClient(policy, settings=settings, base_url=fake.url, application_id=fake.application_id,
                       private_key=fake.private_key, **kwargs)  # type: ignore[arg-type]


def test_the_strict_voice_fake_answers_429_above_its_rate_in_a_rolling_second(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FixedClock()
    with FakeVoice(strict_rate=2, clock=clock, callback_delay=60) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle)
        client = _voice(fake)
        client.call(TO, "Halo", "https://example.invalid/cb?ref=1")
        clock.now += 0.5
        client.call(TO, "Halo", "https://example.invalid/cb?ref=2")
        clock.now += 0.4  # three in 0.9 s: over
        with pytest.raises(ProviderGaveUp) as refused:
            client.call(TO, "Halo", "https://example.invalid/cb?ref=3")
        assert refused.value.code == 429
        clock.now += 0.11  # the first has left the rolling second
        client.call(TO, "Halo", "https://example.invalid/cb?ref=4")
        assert fake.limit_refusals() == 1
        assert [r.http_status for r in fake.records] == [201, 201, 429, 201]
        assert [r.placed for r in fake.records] == [True, True, False, True]


def test_the_strict_voice_fake_refuses_calls_over_its_concurrent_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FixedClock()
    with FakeVoice(max_concurrent=2, call_seconds=300, clock=clock, callback_delay=60) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle)
        client = _voice(fake, settings=provider_settings(voice_max_call_seconds=40))
        for ref in (1, 2):
            client.call(TO, "Halo", f"https://example.invalid/cb?ref={ref}")
        body = fake.records[0].body
        assert (body["ringing_timer"], body["length_timer"]) == (20, 20)  # Vonage hangs up by then
        clock.now += 39
        with pytest.raises(ProviderGaveUp):
            client.call(TO, "Halo", "https://example.invalid/cb?ref=3")
        assert fake.records[-1].fault == "concurrency"
        clock.now += 1.01  # both calls have hung up (ringing_timer + length_timer = 40 s)
        client.call(TO, "Halo", "https://example.invalid/cb?ref=4")
        assert fake.limit_refusals() == 1 and fake.most_in_progress == 2


def test_the_strict_whatsapp_fake_answers_the_cloud_api_rate_limit() -> None:
    clock = FixedClock()
    with FakeWhatsApp(webhook_url="http://127.0.0.1:9/unused", strict_rate=1, clock=clock) as fake:
        client = WhatsAppClient(ONCE, settings=PROVIDERS, base_url=fake.env()["WHATSAPP_API_URL"],
                                token=fake.token)
        client.send_template("6281300000001", "julo_t3_reminder_v2", ["a"], "ref-1")
        with pytest.raises(ProviderGaveUp) as refused:
            client.send_template("6281300000002", "julo_t3_reminder_v2", ["a"], "ref-2")
        assert refused.value.code == 130429
        assert fake.records[-1].fault == "rate_limit"


def test_the_strict_sms_fake_throttles_the_sms_api_way_and_every_container_slows_down(
        monkeypatch: pytest.MonkeyPatch, aws: str) -> None:
    """Vonage's SMS API above the account's rate: "rejected with status code 1 - Throttled" (HTTP 200,
    the status in the part, no Retry-After). The SMS client gives up on it as nothing sent and tells
    the SMS grid, which pauses every container sending SMS for the default second, then slows down."""
    bootstrap()
    contract = RateContract(1.0)
    store_a, store_b = (DynamoLaneStore(Channel.SMS, contract) for _ in range(2))
    t = VirtualTime()
    a = SharedRateLimiter(store_a, contract, clock=t.clock, sleep=t.sleep)
    clock = FixedClock()
    with FakeSms(strict_rate=1, clock=clock, callback_delay=60) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle)
        client = SmsClient(ONCE, base_url=fake.url, api_key=fake.api_key, api_secret=fake.api_secret, limiter=a)
        client.send(TO, "JULO: angsuran", "ref-1")
        with pytest.raises(ProviderGaveUp) as refused:  # the fake's clock stands still: a second one is over
            client.send("6281300000002", "JULO: angsuran", "ref-2")
        assert refused.value.code == 1
        assert [(r.http_status, r.fault) for r in fake.records] == [(200, None), (200, "rate_limit")]
        assert fake.limit_refusals() == 1
    seen = store_b.read()
    assert seen.paused_until >= t.now + 1.0 and seen.skip == 10


def test_the_sms_dispatch_client_has_a_grid_of_its_own(monkeypatch: pytest.MonkeyPatch, aws: str) -> None:
    """SMS_MESSAGES_PER_SECOND is its own contract: the SMS client claims lanes on its own grid item,
    apart from the voice and WhatsApp grids."""
    bootstrap()
    monkeypatch.setenv("SMS_MESSAGES_PER_SECOND", "30")
    monkeypatch.setenv("CALLS_PER_SECOND", "30")
    monkeypatch.setenv("WHATSAPP_MESSAGES_PER_SECOND", "30")
    with FakeSms(strict_rate=30) as fake:
        for key, value in fake.env().items():
            monkeypatch.setenv(key, value)
        client = SmsClient(settings=dispatch_settings())  # the fake's SMS_API_URL, the rates set above
        assert isinstance(client.limiter, SharedRateLimiter) and isinstance(client.limiter.store, DynamoLaneStore)
        assert client.limiter.contract == RateContract(30.0) and client.limiter.lanes == 3
        client.send(TO, "JULO: angsuran", "ref-1")
        assert client.limiter.sent == 1 and fake.records[0].placed
    keys = {grid_key(channel, RateContract(30.0)) for channel in Channel}
    assert len(keys) == 3 and client.limiter.store.key == {"pk": {"S": grid_key(Channel.SMS, RateContract(30.0))}}
    voice = DynamoLaneStore(Channel.ROBOCALL, RateContract(30.0)).read()
    assert voice.lanes == {}  # the SMS send took nothing from the voice grid
    assert DynamoLaneStore(Channel.SMS, RateContract(30.0)).read().lanes  # and did claim on its own


def test_a_429_heard_by_one_container_pauses_the_others(monkeypatch: pytest.MonkeyPatch, aws: str) -> None:
    bootstrap()
    contract = RateContract(1.0)
    store_a, store_b = (DynamoLaneStore(Channel.ROBOCALL, contract) for _ in range(2))  # two containers
    t = VirtualTime()
    a = SharedRateLimiter(store_a, contract, clock=t.clock, sleep=t.sleep)
    b = SharedRateLimiter(store_b, contract, clock=t.clock, sleep=t.sleep)
    clock = FixedClock()
    with FakeVoice(strict_rate=1, clock=clock, callback_delay=60) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle)
        policy = RetryPolicy(rate_per_second=1, max_attempts=2, backoff_base=0.01, backoff_max=0.01, timeout=2.0)
        client = _voice(fake, policy, limiter=a)
        client.call(TO, "Halo", "https://example.invalid/cb?ref=1")
        with pytest.raises(ProviderGaveUp):  # the fake's clock stands still: over its rate, twice
            client.call(TO, "Halo", "https://example.invalid/cb?ref=2")
    assert [r.fault for r in fake.records] == [None, "rate_limit", "rate_limit"]
    seen = store_b.read()
    assert seen.paused_until >= t.now + 1.0 and seen.skip == 10  # Retry-After: 1, then 90% for a while
    with b.chunk(3):
        assert all(b.acquire() >= seen.paused_until for _ in range(3))


def test_a_client_built_by_the_dispatch_takes_its_slots_from_the_shared_grid(monkeypatch: pytest.MonkeyPatch,
                                                                             aws: str) -> None:
    bootstrap()
    monkeypatch.setenv("CALLS_PER_SECOND", "3")
    with FakeVoice(strict_rate=3) as fake:
        for key, value in fake.env().items():
            monkeypatch.setenv(key, value)
        client = VoiceClient(settings=replace(dispatch_settings(), voice_from_number=LOCAL_VOICE_FROM_NUMBER))
        assert isinstance(client.limiter, SharedRateLimiter)
        assert isinstance(client.limiter.store, DynamoLaneStore)
        assert client.limiter.contract == RateContract(3.0)
        client.call(TO, "Halo", "https://example.invalid/cb?ref=1")
        assert client.limiter.store.calls >= 1 and client.limiter.sent == 1
