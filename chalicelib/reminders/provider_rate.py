"""One provider rate for every dispatch container: send times taken from a slot grid they share.

The contract, as the providers define it: at most ``R`` requests in any *rolling* one-second
window (Vonage: "a cap on how many new outbound calls can be initiated within any rolling
one-second window"; above it, 429), and for voice, when the contract has one, at most ``C`` calls
in progress.

**The grid.** Time is cut into slots ``interval`` seconds apart, numbered from the epoch (slot
``n`` starts at ``n × interval``); a request may leave only at the start of a slot it holds, and
every slot is held by at most one container. ``interval = 1 / (R × RATE_HEADROOM)``: R
consecutive slots span ``1 / RATE_HEADROOM`` ≈ 1.04 s, so no rolling second contains more than R
of them, even if each request reaches the provider up to ``JITTER_BUDGET`` (41 ms) later than its
slot relative to the others. A request more than ``LATE_SECONDS`` behind its slot is not sent on
it (the slot is dropped and the next one taken), which keeps our own part of that budget bounded.

**Lanes.** The slots are dealt into ``lanes`` (slot ``n`` is on lane ``n mod lanes``), and the
shared state is one counter per lane: the next slot of that lane nobody holds. A container takes
``k`` consecutive slots of one lane with one conditional write (``claim``), so it pays one
DynamoDB call per ``k`` sends, and containers working side by side take different lanes instead
of waiting for each other's blocks. A busy lane's counter only moves forward (``ADD``); an idle
lane (its counter behind now) is restarted at the first slot from now (``SET`` when still
behind). Whoever has work takes the earliest lane, so a container without work leaves its share
to the others, and the whole grid is used while work is queued. ``lanes`` grows with the rate
(one lane per ``LANE_RATE`` calls per second, at most ``MAX_LANES``): at 5 calls/s a single
lane, at 50 six, at 400 forty-eight, so that a container sending slower than the contract still
uses most of the slots of the lane it claims. Among lanes whose next slot comes within one lane
period, each container has its own order of preference, so that containers starting together
pick different lanes.

**Concurrent calls.** Each call is placed with Vonage's ``ringing_timer`` and ``length_timer`` so
that it ends within ``VOICE_MAX_CALL_SECONDS`` (plus ``CALL_SETUP_SECONDS`` before it rings).
Starts at least ``(VOICE_MAX_CALL_SECONDS + CALL_SETUP_SECONDS) / C`` apart put at most ``C``
starts, hence at most ``C`` calls in progress, in any stretch of that length: when that spacing is
wider than the rate's, it is the grid's interval.

**429.** A 429 pauses the grid for every container until its ``Retry-After`` (or
``DEFAULT_PAUSE_SECONDS`` without one), and for ``SLOW_SECONDS`` after that every tenth slot number
stays unused (90% of the rate, and ~150 ms more tolerance of jitter); a 429 during a slowdown
leaves every fifth, then every second unused (``SLOWDOWN``). Other containers learn the pause and
the slowdown from the answer of their next claim (at most ``CLAIM_HORIZON_SECONDS`` away).

The grid's state lives behind ``LaneStore`` (``DynamoLaneStore`` deployed, ``MemoryLaneStore``
for tests); clocks are the containers' wall clocks (synchronised in Lambda by the Amazon Time
Sync Service).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from typing import Protocol

from chalicelib.logs import get_logger
from chalicelib.reminders.stages import Channel
from chalicelib.settings import RateSettings

logger = get_logger("reminders")

RATE_HEADROOM = 0.96          # slots at 96% of the contract: R slots span 1.042 s
JITTER_BUDGET = 1 / RATE_HEADROOM - 1
LATE_SECONDS = 0.015          # a slot more than this far behind is dropped, not used late
CLAIM_HORIZON_SECONDS = 2.0   # a claim covers about this much of its lane
LANE_RATE = 8.0               # calls per second per lane
IDLE_DENSITY = 2.0            # on an idle grid a claim takes lanes for twice the container's pace,
IDLE_MIN_RATE = 32.0          # and at least this many slots a second (a thread waits ~1/64 s for one)
MAX_LANES = 64
DEFAULT_PAUSE_SECONDS = 1.0   # a 429 without Retry-After
MAX_PAUSE_SECONDS = 60.0
SLOW_SECONDS = 20.0           # after a 429: slower for this long
SLOWDOWN = (0, 10, 5, 2)      # every n-th slot left unused (0: none): each 429 moves one step right
CALL_SETUP_SECONDS = 10       # from our request to the phone ringing, at most (Vonage's timers start there)
DEFAULT_MAX_CALL_SECONDS = RateSettings().voice_max_call_seconds  # VOICE_MAX_CALL_SECONDS's default


class LimiterUnavailable(Exception):
    """The grid could not be reached: no slot, so nothing was sent (the client may retry)."""


class Limiter(Protocol):
    """What a provider client needs from a limiter."""

    def acquire(self) -> float:
        """Block until this thread may send one request; the slot's time."""

    def throttled(self, retry_after: float | None) -> None:
        """The provider answered 429 (``Retry-After`` seconds, if it said)."""

    def chunk(self, expected: int) -> AbstractContextManager[None]:
        """Around a chunk of about ``expected`` sends (how much to claim ahead)."""


@dataclass(frozen=True)
class RateContract:
    """What a provider allows a channel: calls per second, and (voice) calls in progress."""

    per_second: float
    max_concurrent: int = 0            # 0: the contract has no concurrent-call limit
    max_call_seconds: int = DEFAULT_MAX_CALL_SECONDS

    def __post_init__(self) -> None:
        if self.per_second <= 0:
            raise ValueError("the contract's rate must be positive")

    @classmethod
    def of(cls, channel: Channel, rates: RateSettings) -> RateContract:
        """The channel's contract as the settings give it (``CALLS_PER_SECOND`` …)."""
        if channel is Channel.ROBOCALL:
            return cls(rates.calls_per_second, max(0, rates.voice_max_concurrent_calls),
                       max(2, rates.voice_max_call_seconds))
        if channel is Channel.SMS:  # the Vonage SMS API's rate per API key (its own grid, apart from voice)
            return cls(rates.sms_messages_per_second)
        return cls(rates.whatsapp_messages_per_second)

    @property
    def interval(self) -> float:
        """Seconds between two slots of the grid."""
        spacing = 1.0 / (self.per_second * RATE_HEADROOM)
        if self.max_concurrent > 0:
            spacing = max(spacing, (self.max_call_seconds + CALL_SETUP_SECONDS) / self.max_concurrent)
        return spacing

    @property
    def send_rate(self) -> float:
        """Calls per second the grid hands out (what a capacity plan may count on)."""
        return 1.0 / self.interval

    @property
    def lanes(self) -> int:
        return max(1, min(MAX_LANES, math.floor(self.send_rate / LANE_RATE)))

    def call_timers(self) -> tuple[int, int]:
        """Vonage's (ringing_timer, length_timer) that end a call within ``max_call_seconds``."""
        ringing = min(60, max(1, self.max_call_seconds // 2))
        return ringing, max(1, self.max_call_seconds - ringing)


@dataclass(frozen=True)
class GridView:
    """The shared state as of one answer: each lane's next free slot, the pause and the slowdown."""

    lanes: dict[int, int] = field(default_factory=dict)
    paused_until: float = 0.0
    slow_until: float = 0.0
    skip: int = 0  # every skip-th slot number is left unused until slow_until (0: none)

    def skip_at(self, now: float) -> int:
        return self.skip if now < self.slow_until else 0


def slower(skip: int) -> int:
    """The next step of ``SLOWDOWN`` after ``skip``."""
    steps = list(SLOWDOWN)
    return steps[min(len(steps) - 1, steps.index(skip) + 1)] if skip in steps else SLOWDOWN[1]


@dataclass(frozen=True)
class LaneClaim:
    floor: int   # the lane's first slot from now (and after any pause)
    busy: bool   # the lane's counter is (as last seen) at or past floor


class LaneStore(Protocol):
    """The grid's shared state: every method is one conditional write (or one read)."""

    calls: int  # requests made to the store (the limiter's cost)

    def claim(self, lanes: dict[int, LaneClaim], advance: int) -> tuple[dict[int, int], GridView] | None:
        """Take ``advance`` slot numbers of each lane, all or none: the first slot taken per lane,
        and the state after. A ``busy`` lane only if its counter is at or past the claim's
        ``floor`` (it moves forward by ``advance``); an idle one only if its counter is behind
        ``floor`` or unset (it becomes ``floor + advance``). None when a condition does not hold.
        """

    def throttle(self, paused_until: float, slow_until: float, skip: int) -> GridView:
        """Pause every container until ``paused_until``; leave every ``skip``-th slot unused until
        ``slow_until``."""

    def read(self) -> GridView:
        """The current state."""


class MemoryLaneStore:
    """``LaneStore`` in memory (unit tests; several limiters in one process share one)."""

    def __init__(self) -> None:
        self.view = GridView()
        self.calls = 0
        self._lock = threading.Lock()

    def claim(self, lanes: dict[int, LaneClaim], advance: int) -> tuple[dict[int, int], GridView] | None:
        with self._lock:
            self.calls += 1
            starts: dict[int, int] = {}
            for lane, c in lanes.items():
                current = self.view.lanes.get(lane)
                if c.busy and current is not None and current >= c.floor:
                    starts[lane] = current
                elif not c.busy and (current is None or current < c.floor):
                    starts[lane] = c.floor
                else:
                    return None
            self.view = replace(self.view, lanes={**self.view.lanes, **{j: n + advance for j, n in starts.items()}})
            return starts, self.view

    def throttle(self, paused_until: float, slow_until: float, skip: int) -> GridView:
        with self._lock:
            self.calls += 1
            if paused_until > self.view.paused_until:
                self.view = replace(self.view, paused_until=paused_until, slow_until=slow_until, skip=skip)
            return self.view

    def read(self) -> GridView:
        with self._lock:
            self.calls += 1
            return self.view


def first_slot(at: float, lane: int, lanes: int, interval: float) -> int:
    """The number of the first slot of ``lane`` that starts at or after ``at``."""
    n = math.ceil(at / interval - 1e-9)
    return n + (lane - n) % lanes


class SharedRateLimiter:
    """The grid as one container sees it: slots it holds, handed to its threads in time order.

    No lock is held during a request to the store: a thread sleeping towards its slot never waits
    behind another thread's claim.
    """

    def __init__(self, store: LaneStore, contract: RateContract, *, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None) -> None:
        self.store = store
        self.contract = contract
        self.interval = contract.interval
        self.lanes = contract.lanes
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()        # the held slots and the counters (never held across a store call)
        self._claiming = threading.Lock()    # one claim at a time per container
        self._held: list[float] = []         # send times of the slots this container holds, ascending
        self._generation = 0                 # bumped whenever slots are added
        self._view = GridView()
        self._preference = (rng or random.Random()).sample(range(self.lanes), self.lanes)  # this container's lane order
        self._expected = 0                   # sends still expected in the current chunk (0: unknown)
        self._recent: deque[float] = deque()  # when this container's recent sends left (its pace)
        self._mine: dict[int, int] = {}       # lane -> its counter as this container's last claim left it
        self._saturated = False               # most lanes busy with others' claims (as of our last claim)
        self.sent = 0                        # slots used
        self.dropped = 0                     # slots not used: we were late, or a 429 paused the grid
        self.claims = 0                      # claims that got slots

    # --- sending ---
    def acquire(self) -> float:
        while True:
            slot = self._take()
            now = self._clock()
            if slot > now:
                self._sleep(slot - now)
                now = self._clock()
            usable = slot >= self._view.paused_until and now - slot <= LATE_SECONDS
            with self._lock:
                if usable:
                    self.sent += 1
                    self._recent.append(now)
                    return slot
                self.dropped += 1  # we are late, or a 429 paused the grid meanwhile: the next slot

    def _take(self) -> float:
        while True:
            with self._lock:
                now = self._clock()
                while self._held and (self._held[0] < now - LATE_SECONDS or self._held[0] < self._view.paused_until):
                    self._held.pop(0)
                    self.dropped += 1
                # on a saturated grid a container claims no more than it needs; on an idle one, more
                # lanes whenever a thread would wait long (unused slots cost nobody anything there)
                enough = self._saturated and bool(self._expected) and len(self._held) >= self._expected
                if self._held and (enough or not self._earlier_lane(self._held[0], now)):
                    if self._expected:
                        self._expected -= 1
                    return self._held.pop(0)
                generation = self._generation
            with self._claiming:
                if self._generation == generation:  # nobody added slots while we waited: claim
                    self._claim()

    def _earlier_lane(self, held: float, now: float) -> bool:
        """Whether this thread would wait long for ``held`` (more than a lane's period on a saturated
        grid, more than ``1 / IDLE_MIN_RATE`` on an idle one) while some lane (as last seen) has a slot
        clearly earlier: then it claims lanes (a container whose threads outrun its lanes takes idle
        ones). A container slower than its lanes claims nothing more."""
        patience = self.interval * self.lanes if self._saturated else max(self.interval, 1.0 / IDLE_MIN_RATE)
        if self.lanes == 1 or held - now <= patience:
            return False
        earliest = min(self._lane_start(self._view, j, now) for j in range(self.lanes))
        return earliest * self.interval < held - patience

    def _lane_start(self, view: GridView, lane: int, now: float) -> int:
        floor = first_slot(max(now, view.paused_until), lane, self.lanes, self.interval)
        known = view.lanes.get(lane)
        return max(floor, known) if known is not None else floor

    def _claim(self) -> None:
        with self._lock:
            now, view, held = self._clock(), self._view, len(self._held)
            expected = self._expected
            pace = self._pace(now)
        skip = view.skip_at(now)
        starts = {j: self._lane_start(view, j, now) for j in range(self.lanes)}
        floors = {j: first_slot(max(now, view.paused_until), j, self.lanes, self.interval) for j in range(self.lanes)}
        others = sum(1 for j in range(self.lanes)
                     if view.lanes.get(j, -1) >= floors[j] and view.lanes.get(j) != self._mine.get(j))
        saturated = others * 2 > self.lanes  # most lanes busy with other containers' claims
        self._saturated = saturated
        lane_rate = 1.0 / (self.interval * self.lanes)
        # on an idle grid, lanes enough for twice this container's pace (a thread waits little for its
        # slot: over-claiming costs nothing there); on a saturated one, one lane a claim (more when its
        # threads wait longer than a lane's period: _earlier_lane)
        density = max(IDLE_DENSITY * pace, IDLE_MIN_RATE)
        width = 1 if saturated else max(1, min(self.lanes, math.ceil(density / lane_rate)))
        soon = min(starts.values()) + self.lanes  # within one lane period of the earliest: as good
        order = [j for j in self._preference if starts[j] <= soon] + sorted(
            (j for j in self._preference if starts[j] > soon), key=lambda j: starts[j])
        chosen = order[:width]
        k = max(1, math.ceil(CLAIM_HORIZON_SECONDS * lane_rate))
        if expected and saturated:  # no more than the chunk still needs, spread over the lanes so that
            # the chunk's tail ends soon (on an idle grid a whole horizon: unused slots cost nobody)
            k = max(1, min(k, math.ceil(max(1, expected - held) / self.lanes)))
        if skip:  # every skip-th slot number stays unused: claim that many more
            k += k // (skip - 1)
        claims = {j: LaneClaim(floors[j], view.lanes.get(j, -1) >= floors[j]) for j in chosen}
        try:
            got = self.store.claim(claims, k * self.lanes)
            if got is None and len(claims) == 1:  # one lane: the other way round
                (j, c), = claims.items()
                got = self.store.claim({j: LaneClaim(c.floor, not c.busy)}, k * self.lanes)
            if got is None:  # it moved meanwhile: learn where it stands, the caller tries again
                fresh = self.store.read()
                with self._lock:
                    self._view = fresh
                return
        except Exception as exc:
            raise LimiterUnavailable(f"provider-rate grid unavailable: {type(exc).__name__}: {exc}") from exc
        firsts, fresh = got
        skip = fresh.skip_at(now)
        numbers = [n + i * self.lanes for n in firsts.values() for i in range(k)]
        slots = [n * self.interval for n in numbers if not (skip and n % skip == 0)]
        with self._lock:
            self._view = fresh
            self._held = sorted(self._held + slots)
            self._generation += 1
            self.claims += 1
            for j, n in firsts.items():
                self._mine[j] = n + k * self.lanes  # the lane's counter as our claim left it

    def _pace(self, now: float) -> float:
        """This container's sends per second over the last claim horizon."""
        while self._recent and self._recent[0] < now - CLAIM_HORIZON_SECONDS:
            self._recent.popleft()
        return len(self._recent) / CLAIM_HORIZON_SECONDS

    # --- feedback and hints ---
    def throttled(self, retry_after: float | None) -> None:
        """A 429: pause every container until ``Retry-After``, then leave slots unused for a while."""
        now = self._clock()
        pause = DEFAULT_PAUSE_SECONDS if retry_after is None else min(MAX_PAUSE_SECONDS, max(0.0, retry_after))
        view = self._view
        # a 429 for a request sent before the pause was known is the same episode: pause, no further slowdown
        skip = view.skip_at(now) if now < view.paused_until else slower(view.skip_at(now))
        try:
            fresh = self.store.throttle(now + pause, now + pause + SLOW_SECONDS, skip)
        except Exception as exc:  # the others will hear the provider themselves; this container pauses anyway
            logger.warning("provider throttled; the grid could not be told", extra={"error": str(exc)})
            fresh = replace(self._view, paused_until=now + pause, slow_until=now + pause + SLOW_SECONDS, skip=skip)
        with self._lock:
            self._view = fresh
            self._held = [t for t in self._held if t >= fresh.paused_until]
        logger.warning("provider throttled: every container pauses, then slows down", extra={
            "retry_after": retry_after, "paused_seconds": round(fresh.paused_until - now, 3),
            "skip_every": fresh.skip_at(now + pause)})

    @contextmanager
    def chunk(self, expected: int) -> Iterator[None]:
        with self._lock:
            self._expected = max(0, expected)
            before = (self.sent, self.dropped, self.store.calls)
        try:
            yield
        finally:
            with self._lock:
                self._expected = 0
                sent, dropped, calls = (self.sent - before[0], self.dropped - before[1],
                                        self.store.calls - before[2])
                held = len(self._held)
            logger.info("provider slots of the chunk", extra={
                "slots_used": sent, "slots_dropped": dropped, "slots_held": held, "grid_requests": calls,
                "grid_requests_per_send": round(calls / sent, 3) if sent else None})


def shared_limiter(channel: Channel, rates: RateSettings,
                   store: Callable[[Channel, RateContract], LaneStore]) -> SharedRateLimiter:
    """The channel's limiter for this container, on the grid ``store`` builds for the channel's contract
    (``DynamoLaneStore``: the deployed one)."""
    contract = RateContract.of(channel, rates)
    return SharedRateLimiter(store(channel, contract), contract)
