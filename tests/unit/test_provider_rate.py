"""The provider rate shared by every dispatch container: what the provider would see from the slots
the containers get (virtual time: each container waits for its slots in parallel, so the clock only
moves when the test says so). The same rules run against DynamoDB in
tests/functional/test_provider_rate_dynamo.py."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from chalicelib.reminders.provider_rate import (
    CLAIM_HORIZON_SECONDS,
    LATE_SECONDS,
    RATE_HEADROOM,
    SLOW_SECONDS,
    LaneStore,
    LimiterUnavailable,
    MemoryLaneStore,
    RateContract,
    SharedRateLimiter,
)

T0 = 1_800_000_000.0


class VirtualTime:
    def __init__(self) -> None:
        self.now = T0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:  # a container waits for its slot; the others go on meanwhile
        self.slept.append(seconds)


@pytest.fixture(params=["memory"])
def lanes(request: pytest.FixtureRequest) -> Iterator[LaneStore]:
    yield MemoryLaneStore()


def _containers(store: LaneStore, contract: RateContract, n: int, t: VirtualTime) -> list[SharedRateLimiter]:
    return [SharedRateLimiter(store, contract, clock=t.clock, sleep=t.sleep, rng=random.Random(i)) for i in range(n)]


def _run(limiters: list[SharedRateLimiter], wants: list[int]) -> list[float]:
    """Every container sends what it wants, one send each in turn (as they would side by side)."""
    sent: list[float] = []
    with ExitStack() as stack:
        for lim, n in zip(limiters, wants, strict=True):
            stack.enter_context(lim.chunk(n))
        left = list(wants)
        while any(left):
            for i, lim in enumerate(limiters):
                if left[i]:
                    sent.append(lim.acquire())
                    left[i] -= 1
    return sorted(sent)


def busiest(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    j, best = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


@pytest.mark.parametrize("rate", [5.0, 50.0, 400.0])
@pytest.mark.parametrize("containers", [1, 2, 4, 8])
def test_containers_together_keep_the_contract_busy_and_never_exceed_it(lanes: LaneStore, rate: float,
                                                                       containers: int) -> None:
    t = VirtualTime()
    contract = RateContract(rate)
    wants = [int(rate * 10)] * containers  # ten seconds of work each
    wants[0] = 0  # one container has nothing to do: its share goes to the others
    sent = _run(_containers(lanes, contract, containers, t), wants)
    if not sent:
        return
    assert len(sent) == sum(wants)
    # even with each request reaching the provider up to JITTER late relative to the others
    jitter = 1 / RATE_HEADROOM - 1 - 1e-6
    assert busiest(sent) <= rate and busiest([s + jitter * (i % 2) for i, s in enumerate(sent)]) <= rate
    assert min(b - a for a, b in itertools.pairwise(sent)) >= contract.interval - 1e-6
    # while work is queued the whole contract is used (the last tenth left out: there the containers
    # run out of work, and slots one claimed ahead stay unused)
    queued = sent[: max(2, len(sent) * 9 // 10)]
    assert (len(queued) - 1) / (queued[-1] - queued[0]) >= 0.95 * rate
    assert sent[0] >= T0  # nothing before now


def test_a_grid_left_idle_restarts_at_now_without_a_burst(lanes: LaneStore) -> None:
    t = VirtualTime()
    contract = RateContract(5.0)
    first = _run(_containers(lanes, contract, 2, t), [10, 10])
    t.now += 600  # ten minutes without work
    later = _run(_containers(lanes, contract, 2, t), [10, 10])
    assert later[0] >= t.now and busiest(first + later) <= 5
    assert later[0] - first[-1] >= 590


def test_a_429_pauses_every_container_then_slows_them_down(lanes: LaneStore) -> None:
    t = VirtualTime()
    contract = RateContract(10.0)
    a, b = _containers(lanes, contract, 2, t)
    with a.chunk(5), b.chunk(100):
        a.acquire()
        b.acquire()  # b now holds a few slots
        a.throttled(retry_after=3.0)  # a heard 429 with Retry-After: 3
        slots = [b.acquire() for _ in range(60)]
    # b had claimed ahead at most a claim's worth (it learns of the pause from its next claim) ...
    ahead = math.ceil(CLAIM_HORIZON_SECONDS * contract.send_rate) + 1
    later = slots[ahead:]
    assert later and all(s >= T0 + 3.0 for s in later)
    # ... then for SLOW_SECONDS every tenth slot stays unused: 90% of the rate
    numbers = [round(s / contract.interval) for s in later if s < T0 + 3.0 + SLOW_SECONDS]
    assert numbers and all(n % 10 for n in numbers)
    assert busiest(later) <= 10 * 0.9 + 1


def test_repeated_429s_slow_down_further(lanes: LaneStore) -> None:
    t = VirtualTime()
    lim = _containers(lanes, RateContract(10.0), 1, t)[0]
    lim.throttled(None)
    lim.throttled(None)  # another answer of the same burst: the same pause, no further slowdown
    assert lanes.read().skip == 10
    t.now += 2.0
    lim.throttled(None)  # a 429 after the pause
    assert lanes.read().skip == 5  # every fifth slot unused: 80%
    for _ in range(2):
        t.now += 2.0
        lim.throttled(None)
    assert lanes.read().skip == 2  # at most half the rate
    t.now += 1.0 + SLOW_SECONDS + 1  # a slowdown ends SLOW_SECONDS after its last pause
    assert lanes.read().skip_at(t.now) == 0  # and back to the whole contract


def test_the_concurrent_call_limit_spaces_calls_by_their_longest_duration(lanes: LaneStore) -> None:
    t = VirtualTime()
    contract = RateContract(5.0, max_concurrent=3, max_call_seconds=20)
    assert contract.interval == pytest.approx(10.0)  # (20 s + 10 s to ring) / 3 calls
    assert contract.call_timers() == (10, 10)
    sent = _run(_containers(lanes, contract, 3, t), [4, 4, 4])
    # a call placed at s is over by s + 30: at any time at most 3 are in progress
    assert max(sum(1 for s in sent if s <= x < s + 30) for x in sent) <= 3
    assert busiest(sent, 30.0) <= 3


@pytest.mark.parametrize(("rate", "most"), [(5.0, 0.15), (50.0, 0.15), (400.0, 0.15)])
def test_the_limiter_costs_a_fraction_of_a_store_request_per_send(lanes: LaneStore, rate: float,
                                                                  most: float) -> None:
    t = VirtualTime()
    sent = _run(_containers(lanes, RateContract(rate), 4, t), [int(rate * 5)] * 4)
    assert lanes.calls / len(sent) <= most


def test_a_grid_it_cannot_reach_sends_nothing() -> None:
    class Down(MemoryLaneStore):
        def claim(self, *args: object, **kwargs: object) -> None:
            raise ConnectionError("dynamodb unreachable")

    t = VirtualTime()
    lim = SharedRateLimiter(Down(), RateContract(5.0), clock=t.clock, sleep=t.sleep)
    with pytest.raises(LimiterUnavailable, match="unreachable"):
        lim.acquire()


def test_a_slot_missed_by_more_than_the_lateness_allowed_is_not_used(lanes: LaneStore) -> None:
    t = VirtualTime()

    def wake_late_once(seconds: float) -> None:  # the first wake-up comes late (a busy machine)
        t.now += seconds + (LATE_SECONDS * 2 if not t.slept else 0.0)
        t.slept.append(seconds)

    lim = SharedRateLimiter(lanes, RateContract(5.0), clock=t.clock, sleep=wake_late_once)
    with lim.chunk(3):
        first = lim.acquire()
        second = lim.acquire()
    # the slot it woke up late for was left unused: the one after it was taken
    assert lim.dropped == 1 and second - first == pytest.approx(2 * RateContract(5.0).interval)
