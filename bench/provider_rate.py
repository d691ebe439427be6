"""What the voice provider sees from 1, 2, 4 and 8 dispatch containers sharing one contract.

    .venv/bin/python -m localdev.services --moto -- .venv/bin/python bench/provider_rate.py \\
        [--rates 5 50] [--containers 1 2 4 8] [--calls 240] [--runs 1]

For each contract rate and container count: the WIB reminder day from the packaged template
(``localdev/lambda_runtime/runtime.py``: the dispatch functions run ``ReservedConcurrentExecutions =
DispatchMaxConcurrency = N`` containers, each a process with its own IAM role, taking its send
times from the provider-rate grid in moto's DynamoDB), against a fake Vonage in strict mode (429
above the contract in any rolling second). The book is sized so that the robocall_1 wave has
about ``--calls`` calls at 5 calls/s and ten times as many at 50 (a wave of about 50 s either way).

Printed per run:

- ``mean``: calls per second while work was queued, over the three robocall waves (each wave's
  calls over the time from its first call to its last), and ``share`` = mean / contract;
- ``busiest``: the most calls the provider received in any rolling one-second window;
- ``429``: the strict fake's refusals (over the rate);
- ``ddb/send``: the limiter's own DynamoDB requests (the dispatch containers' calls on the
  ``provider-rate`` table, from the runtime's record of every AWS call) per call placed;
- ``load`` and ``late p99/max``: the machine's 1-minute load average at the end of the run, and how
  late a thread of this process woke up for a 20 ms sleep during it (ms): the grid keeps every
  rolling second under the contract as long as requests reach the provider within 41 ms of their
  slots' spacing, so on a machine whose threads wake up later than that the strict fake sees
  bunched requests, and slots dropped for lateness (> 15 ms) lower the mean.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chalicelib import db
from chalicelib.business_date import default_demo_date
from chalicelib.zones import Zone
from localdev.datagen.lending import load
from localdev.reminder_day import LocalReminderStack, run_day
from localdev.servers import moto_server

# T-3 WIB robocall_1 calls per loan of the generated book (measured: 600 loans -> 25 calls)
CALLS_PER_LOAN = 25 / 600


def busiest_second(times: list[float]) -> int:
    """The most events in any rolling one-second window (t - 1, t]."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


class WakeUpProbe:
    """How late a thread wakes up for a short sleep while the run goes on (the machine's scheduling jitter)."""

    def __init__(self, period: float = 0.02) -> None:
        self.period = period
        self.late: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            target = time.perf_counter() + self.period
            time.sleep(self.period)
            self.late.append(time.perf_counter() - target)

    def __enter__(self) -> WakeUpProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def quantile(self, q: float) -> float:
        ordered = sorted(self.late) or [0.0]
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


@dataclass
class Run:
    rate: float
    containers: int
    design: str
    calls: int
    mean: float
    busiest: int
    refusals: int
    ddb_per_send: float
    waves: list[tuple[int, float]]
    wall: float
    load: float = 0.0
    late_p99: float = 0.0
    late_max: float = 0.0

    def row(self) -> str:
        waves = ", ".join(f"{n}@{r:.1f}/s" for n, r in self.waves)
        return (f"{self.rate:>5g} {self.containers:>4} {self.design:>6} {self.calls:>6} {self.mean:>7.2f} "
                f"{self.mean / self.rate:>6.1%} {self.busiest:>8} {self.refusals:>5} {self.ddb_per_send:>9.3f}"
                f" {self.wall:>6.0f}s {self.load:>5.1f} {self.late_p99:>5.0f}/{self.late_max:<5.0f} {waves}")


HEADER = (f"{'rate':>5} {'cont':>4} {'design':>6} {'calls':>6} {'mean':>7} {'share':>6} {'busiest':>8} "
          f"{'429':>5} {'ddb/send':>9} {'wall':>7} {'load':>5} {'late p99/max':>12} waves (calls@mean)")


def one_run(rate: float, containers: int, loans: int) -> Run:
    business_date = default_demo_date()
    moto_server.reset()
    conn = db.connect()
    load(conn, loans, 7, business_date)
    conn.close()
    marks: list[int] = []
    env = {"DISPATCH_MAX_CONCURRENCY": str(containers)}
    started = time.perf_counter()
    with WakeUpProbe() as probe, LocalReminderStack(calls_per_second=rate, strict=True, extra_env=env) as stack:
        run_day(business_date, stack, zones=[Zone.WIB], timeout=3600,
                between_stages=lambda: marks.append(len(stack.voice.records)))
        records = sorted(stack.voice.records, key=lambda r: r.received_at)
        refusals = stack.voice.limit_refusals()
        assert stack.runtime is not None
        limiter_calls = sum(1 for name, calls in stack.runtime.calls.items() if name.startswith("reminder-dispatch")
                            for c in calls if any("table/provider-rate" in r for r in c.get("resources") or ()))
    wall = time.perf_counter() - started
    # the robocall waves: the records between two "stage done" marks
    stamps = [r.received_at for r in stack.voice.records]
    bounds = sorted(set([0, *marks, len(stamps)]))
    waves = []
    for a, b in itertools.pairwise(bounds):
        wave = sorted(stamps[a:b])
        if len(wave) >= 2:
            waves.append((len(wave), (len(wave) - 1) / (wave[-1] - wave[0])))
    spans = sum((n - 1) / r for n, r in waves)
    placed = sum(1 for r in records if r.placed)
    return Run(rate, containers, "grid", len(records),
               sum(n - 1 for n, _ in waves) / spans if spans else 0.0, busiest_second([r.received_at for r in records]),
               refusals, limiter_calls / max(1, placed), waves, wall, os.getloadavg()[0], probe.quantile(0.99),
               probe.quantile(1.0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/provider_rate.py")
    parser.add_argument("--rates", type=float, nargs="+", default=[5.0, 50.0])
    parser.add_argument("--containers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--calls", type=int, default=240, help="robocall_1 calls at 5 calls/s (x rate/5 above)")
    parser.add_argument("--runs", type=int, default=1, help="runs per configuration (medians printed)")
    args = parser.parse_args(argv)
    print(HEADER, flush=True)
    results: list[Run] = []
    for rate in args.rates:
        loans = max(200, round(args.calls * max(1.0, rate / 5) / CALLS_PER_LOAN))
        for containers in args.containers:
            runs = [one_run(rate, containers, loans) for _ in range(args.runs)]
            for r in runs:
                print(r.row(), flush=True)
            if len(runs) > 1:
                print(f"{'':>12} median: mean {statistics.median(r.mean for r in runs):.2f}, busiest "
                      f"{statistics.median(r.busiest for r in runs):g}", flush=True)
            results.extend(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
