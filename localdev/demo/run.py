"""The demo: one simulated business day of the whole system on this machine.

Run by ``make demo`` inside ``localdev.services`` (PostgreSQL + moto up, migrated).
It runs from the packaged template (``dist/template.json``, rebuilt when a source changed; or
the file in ``DEMO_TEMPLATE``) with IAM enforced, and fails naming the call a template role
does not allow. Settings: ``DEMO_DATE`` (YYYY-MM-DD, run as given; default the most recent contact
day before today in Asia/Jakarta, so a first demo shows a full day), ``DEMO_LOANS``
(default 20000), ``DEMO_SEED`` (default 7), ``DEMO_OUT`` (default ``out/demo/``).
It truncates its database's lending tables, so a ``DATABASE_URL`` other than the project's local
demo database is refused before connecting unless ``DEMO_ALLOW_DATABASE`` names it
(``localdev/demo/guard.py``; ``make demo`` checks it before starting anything).

The console shows each step's table, a progress bar while a long step runs, the time each
step took and where the output is. Everything else the system prints (the handlers' JSON logs,
the HTTP access lines of the local API) goes to ``<out>/logs/demo.log``: file descriptors 1
and 2 point there while the demo runs, and only ``print`` in the steps reaches the terminal.

Each step is a function taking the shared ``DemoContext``; features add theirs to STEPS.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import shutil
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from chalicelib import db
from chalicelib.business_date import default_demo_date, parse_date
from chalicelib.contact_data.calendar_days import load_calendar
from chalicelib.reminders.contact import load_policy
from chalicelib.reminders.selection import iter_t3_payments
from chalicelib.zones import Zone
from infra.manifest import load_manifest
from localdev.aws.bootstrap import bootstrap
from localdev.aws.template_artifact import template_path
from localdev.datagen.lending import load
from localdev.demo import guard
from localdev.demo.analytics import Prepared, finish_analytics, prepare_analytics, step_analytics
from localdev.demo.context import Console, DemoContext
from localdev.demo.disbursements import step_disbursements
from localdev.demo.partner_api import step_partner_api
from localdev.demo.reminders import step_t3_reminders
from localdev.lambda_runtime.containers import ColdStartFailed, LocalAccessDenied
from localdev.lambda_runtime.events import load_handler
from localdev.lambda_runtime.stdio import serialize_stdio

ROOT = Path(__file__).resolve().parents[2]


def step_load_data(ctx: DemoContext) -> None:
    started = time.perf_counter()
    bar = ctx.bar("loading the book", total=ctx.loans, unit="loan")
    try:
        covered = load_policy(ctx.conn, ctx.business_date).plan(Zone.WIB, ctx.business_date).covers_due_dates
        counts = load(ctx.conn, ctx.loans, ctx.seed, ctx.business_date, progress=bar.update, due_dates=covered)
    finally:
        bar.close()
    elapsed = time.perf_counter() - started
    print(f"loaded {ctx.loans:,} loans ({sum(counts.values()):,} rows) in {elapsed:.1f}s "
          f"= {ctx.loans / elapsed:,.0f} loans/s")


def step_t3_selection(ctx: DemoContext) -> None:
    day = load_policy(ctx.conn, ctx.business_date).plan(Zone.WIB, ctx.business_date)
    if not day.allowed:
        print(f"\nT-3 selection for business date {ctx.business_date}: not a contact day ({day.reason}); "
              "nobody is selected")
        return
    print(f"\nT-3 selection for business date {ctx.business_date} "
          f"(payments due {', '.join(d.isoformat() for d in day.covers_due_dates)})")
    print(f"{'zone':<6} {'product':<8} {'payments':>9} {'zone fallback':>14}")
    for zone in Zone:
        by_product: Counter[str] = Counter()
        fallback: Counter[str] = Counter()
        for p in iter_t3_payments(ctx.conn, zone, ctx.business_date, due_dates=day.covers_due_dates):
            by_product[p.product_family or "?"] += 1
            fallback[p.product_family or "?"] += p.zone_fallback
        ctx.conn.commit()
        for product in sorted(by_product):
            print(f"{zone.name:<6} {product:<8} {by_product[product]:>9,} {fallback[product]:>14,}")


# analytics before the T-3 day: its data and full ETL need PostgreSQL only, so on a fresh clone they
# run while the artifact is still being built in the background
STEPS: list[Callable[[DemoContext], None]] = [
    step_load_data,
    step_t3_selection,
    step_analytics,
    step_t3_reminders,
    step_disbursements,
    step_partner_api,
]


def _import_everything() -> None:
    """Import the app and every function handler now, while ``sys.stdout`` is still the log file.

    Their loggers keep the stream they were built with (Powertools binds ``sys.stdout`` when a
    Logger is made), so they write to the log, not to the console the steps print to.
    """
    import app  # noqa: F401 - the API's routes and loggers

    for function in load_manifest().functions:
        load_handler(function.handler)


@contextmanager
def quiet_console(log_path: Path) -> Iterator[Console]:
    """fd 1 and 2 (every logger, access line, warning) into ``log_path``; ``sys.stdout`` is the console."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    raw = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8", errors="replace")
    console = Console(raw)
    with open(log_path, "ab", buffering=0) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        serialize_stdio()  # before the loggers are made: they keep the stream they were given
        previous = sys.stdout
        try:
            _import_everything()
            sys.stdout = console
            yield console
        finally:
            sys.stdout = previous
            for stream in (console, sys.stdout, sys.stderr):
                stream.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            raw.close()


# steps that run for seconds without a bar of their own: an elapsed-time bar while they run
ELAPSED_BAR = {step_analytics: "customer analytics", step_disbursements: "disbursement events"}


# A step whose first part needs PostgreSQL only runs that part beside the T-3 day (which spends its time waiting on
# moto and the providers' callbacks, not on PostgreSQL), in a process of its own: (its PostgreSQL part, the rest,
# the step it runs beside). Its output is held and shown after that step's, then the rest runs; its own time.
BESIDE: dict[Callable[[DemoContext], None], tuple[Callable[[DemoContext], Prepared],
                                                  Callable[[DemoContext, Prepared], None],
                                                  Callable[[DemoContext], None]]] = {
    step_analytics: (prepare_analytics, finish_analytics, step_t3_reminders),
}


def _seconds_since(started: float) -> Callable[[], int]:
    return lambda: int(time.perf_counter() - started)


def _prepare_elsewhere(prepare: Callable[[DemoContext], Prepared], business_date: date, loans: int, seed: int,
                       out_dir: Path) -> tuple[Prepared, str, float]:
    """A step's PostgreSQL part in a process of its own (its Python work must not take the GIL from the fake
    providers and the Lambda pollers of the step beside it): what it returned, printed, and its seconds."""
    conn = db.connect()
    printed = io.StringIO()
    ctx = DemoContext(conn=conn, business_date=business_date, loans=loans, seed=seed, out_dir=out_dir,
                      console=printed, bars=False)
    started = time.perf_counter()
    try:
        with redirect_stdout(printed):
            prepared = prepare(ctx)
    finally:
        conn.close()
    return prepared, printed.getvalue(), time.perf_counter() - started


@dataclass
class _Beside:
    future: Future[tuple[Prepared, str, float]]
    pool: ProcessPoolExecutor


def _start_beside(ctx: DemoContext, prepare: Callable[[DemoContext], Prepared]) -> _Beside:
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    return _Beside(pool.submit(_prepare_elsewhere, prepare, ctx.business_date, ctx.loans, ctx.seed, ctx.out_dir),
                   pool)


def _finish_beside(ctx: DemoContext, beside: _Beside, finish: Callable[[DemoContext, Prepared], None]) -> float:
    """Wait for the PostgreSQL part, show what it printed, run the rest here; the step's own seconds."""
    try:
        prepared, printed, seconds = beside.future.result()
    finally:
        beside.pool.shutdown(wait=True)
    print(printed, end="")
    started = time.perf_counter()
    finish(ctx, prepared)
    return seconds + time.perf_counter() - started


def run_steps(ctx: DemoContext, steps: list[Callable[[DemoContext], None]]) -> list[tuple[str, float, str]]:
    """Each step's name, its own seconds and where it ran (beside another step, or after the one before)."""
    timings: list[tuple[str, float, str]] = []
    waiting: dict[Callable[[DemoContext], None], list[tuple[Callable[[DemoContext], None], _Beside]]] = {}
    try:
        for step in steps:
            name = step.__name__.removeprefix("step_")
            if step in BESIDE and BESIDE[step][2] in steps[steps.index(step):]:
                prepare, _finish, partner = BESIDE[step]
                print(f"\n{name}: its PostgreSQL part runs beside {partner.__name__.removeprefix('step_')} "
                      "(output below, after that step's)")
                waiting.setdefault(partner, []).append((step, _start_beside(ctx, prepare)))
                continue
            started = time.perf_counter()
            if step in ELAPSED_BAR:
                with ctx.progress(ELAPSED_BAR[step], _seconds_since(started), unit="s"):
                    step(ctx)
            else:
                step(ctx)
            timings.append((name, time.perf_counter() - started, ""))
            for other, beside in waiting.pop(step, []):
                timings.append((other.__name__.removeprefix("step_"), _finish_beside(ctx, beside, BESIDE[other][1]),
                                f"part beside {name}"))
    finally:
        for pending in waiting.values():  # a step failed: nothing outlives the demo
            for _other, beside in pending:
                beside.pool.shutdown(wait=True, cancel_futures=True)
    return timings


def print_timings(timings: list[tuple[str, float, str]], wall: float) -> None:
    print("\nstep                      seconds")
    for name, seconds, where in timings:
        print(f"{name:<24} {seconds:>8.1f}" + (f"  ({where})" if where else ""))
    print(f"{'total':<24} {wall:>8.1f}  (wall time of the steps; the sum is {sum(t[1] for t in timings):.1f})")


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python -m localdev.demo", description=__doc__.split("\n\n")[0],
                            epilog="Settings: DEMO_DATE, DEMO_LOANS, DEMO_SEED, DEMO_OUT, DEMO_PROGRESS (auto|0|1), "
                                   "DEMO_ALLOW_DATABASE.",
                            ).parse_args(argv)
    refused = guard.refusal()  # before connecting: only the local demo database (or DEMO_ALLOW_DATABASE's)
    if refused:
        print(refused, file=sys.stderr)
        return 2
    out_dir = Path(os.environ.get("DEMO_OUT", ROOT / "out" / "demo")).resolve()
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    conn = db.connect()
    business_date = parse_date(os.environ["DEMO_DATE"]) if os.environ.get("DEMO_DATE") else default_demo_date(
        calendar=load_calendar(conn, default_demo_date()))
    conn.rollback()
    ctx = DemoContext(
        conn=conn,
        business_date=business_date,
        loans=int(os.environ.get("DEMO_LOANS", "20000")),
        seed=int(os.environ.get("DEMO_SEED", "7")),
        out_dir=out_dir,
    )
    started = time.perf_counter()
    with quiet_console(ctx.log_path) as console:
        ctx.console = console
        os.environ["LAMBDA_LOG_FILE"] = str(ctx.log_path)  # the function containers log there too
        template = template_path()  # built (when stale) and provisioned in the background below
        shown = template.relative_to(ROOT) if template.is_relative_to(ROOT) else template
        print(f"demo for business date {business_date}: {ctx.loans:,} loans; "
              f"handler logs and HTTP access lines -> {ctx.log_path}")
        print(f"running from the template {shown} with IAM enforced: resources created from it, each function "
              "and the API in their own containers with their template environment and role")
        # the artifact (rebuilt when a source changed) and its AWS resources in moto, alongside the
        # book's COPY into PostgreSQL; the first step that needs them waits for them
        background = ThreadPoolExecutor(max_workers=1)
        ctx.aws_ready = background.submit(bootstrap).result
        try:
            steps_started = time.perf_counter()
            timings = run_steps(ctx, STEPS)
            steps_wall = time.perf_counter() - steps_started
        except (LocalAccessDenied, ColdStartFailed) as exc:
            print(f"\ndemo FAILED: the template does not allow what the code does:\n{exc}")
            return 1
        except Exception:
            traceback.print_exc(file=sys.stderr)  # the full trace in the log
            print(f"\ndemo FAILED: {traceback.format_exc().strip().splitlines()[-1]}\n"
                  f"full trace and logs in {ctx.log_path}")
            return 1
        finally:
            background.shutdown(wait=True)
            conn.close()
        print_timings(timings, steps_wall)
        print(f"\ndemo finished in {time.perf_counter() - started:.1f}s; output in {out_dir}/ "
              f"(logs in {ctx.log_path.parent}/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
