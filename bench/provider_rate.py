"""The provider rate holds across dispatch containers: what the voice provider sees.

    .venv/bin/python -m localdev.services --moto -- .venv/bin/python bench/provider_rate.py \\
        [--calls-per-second 5] [--containers 4] [--loans 1500] [--chunk-size 5]

Runs the WIB reminder day from the packaged template (``localdev/template_stack.py``): the
dispatch functions get ``ReservedConcurrentExecutions = DispatchMaxConcurrency = --containers``
and run that many containers in parallel, each keeping ``CallsPerSecond / containers``. Prints
the calls the fake voice provider received: the busiest one-second window and the mean rate
over the robocall waves, against the contract's ``--calls-per-second``.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chalicelib import db
from chalicelib.business_date import default_demo_date
from chalicelib.zones import Zone
from localdev.bootstrap_aws import bootstrap
from localdev.datagen.lending import load
from localdev.reminder_day import LocalReminderStack, run_day


def busiest_second(times: list[float]) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/provider_rate.py")
    parser.add_argument("--calls-per-second", type=float, default=5.0)
    parser.add_argument("--containers", type=int, default=4)
    parser.add_argument("--loans", type=int, default=1500)
    parser.add_argument("--chunk-size", type=int, default=5, help="payments per dispatch chunk (enough chunks "
                        "to keep every container busy)")
    args = parser.parse_args(argv)
    business_date = default_demo_date()
    conn = db.connect()
    load(conn, args.loans, 7, business_date)
    conn.close()
    bootstrap()
    with LocalReminderStack(calls_per_second=args.calls_per_second, strict=True,
                            extra_env={"DISPATCH_MAX_CONCURRENCY": str(args.containers),
                                       "REMINDER_CHUNK_SIZE": str(args.chunk_size)}) as stack:
        run_day(business_date, stack, zones=[Zone.WIB], timeout=1800)
        times = [r.received_at for r in stack.voice.records]
        containers = stack.runtime.functions["reminder-dispatch-robocall"].concurrency if stack.runtime else 1
        cold = stack.runtime.cold_starts.get("reminder-dispatch-robocall", 0) if stack.runtime else 0
    if not times:
        print("no calls placed")
        return 1
    span = max(times) - min(times)
    print(f"contract {args.calls_per_second:g} calls/s; dispatch containers allowed {containers}, started {cold}")
    print(f"voice provider received {len(times)} calls in {timedelta(seconds=round(span))}: "
          f"busiest second {busiest_second(times)} calls, mean {len(times) / max(span, 1e-9):.2f} calls/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
