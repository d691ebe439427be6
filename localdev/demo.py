"""The demo: one simulated business day of the whole system on this machine.

Run by ``make demo`` inside ``localdev.services`` (PostgreSQL + moto up, migrated).
Settings: ``DEMO_DATE`` (YYYY-MM-DD, default yesterday in Asia/Jakarta), ``DEMO_LOANS``
(default 20000), ``DEMO_SEED`` (default 7), ``DEMO_OUT`` (default ``out/demo/``).

Each step is a function taking the shared ``DemoContext``; features add theirs to STEPS.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psycopg2.extensions

from chalicelib import db
from chalicelib.business_date import default_demo_date, parse_date
from chalicelib.reminders.selection import due_date_for, iter_t3_payments
from chalicelib.zones import Zone
from localdev.datagen.lending import load
from localdev.demo_analytics import step_analytics
from localdev.demo_disbursements import step_disbursements
from localdev.demo_partner_api import step_partner_api
from localdev.demo_reminders import step_t3_reminders

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class DemoContext:
    conn: psycopg2.extensions.connection
    business_date: date
    loans: int
    seed: int
    out_dir: Path


def step_load_data(ctx: DemoContext) -> None:
    started = time.perf_counter()
    counts = load(ctx.conn, ctx.loans, ctx.seed, ctx.business_date)
    elapsed = time.perf_counter() - started
    print(f"loaded {ctx.loans:,} loans ({sum(counts.values()):,} rows) in {elapsed:.1f}s "
          f"= {ctx.loans / elapsed:,.0f} loans/s")


def step_t3_selection(ctx: DemoContext) -> None:
    print(f"\nT-3 selection for business date {ctx.business_date} "
          f"(payments due {due_date_for(ctx.business_date)})")
    print(f"{'zone':<6} {'product':<8} {'payments':>9} {'zone fallback':>14}")
    for zone in Zone:
        by_product: Counter[str] = Counter()
        fallback: Counter[str] = Counter()
        for p in iter_t3_payments(ctx.conn, zone, ctx.business_date):
            by_product[p.product_family or "?"] += 1
            fallback[p.product_family or "?"] += p.zone_fallback
        ctx.conn.commit()
        for product in sorted(by_product):
            print(f"{zone.name:<6} {product:<8} {by_product[product]:>9,} {fallback[product]:>14,}")


STEPS: list[Callable[[DemoContext], None]] = [
    step_load_data,
    step_t3_selection,
    step_t3_reminders,
    step_disbursements,
    step_partner_api,
    step_analytics,
]


def main() -> int:
    business_date = parse_date(os.environ["DEMO_DATE"]) if os.environ.get("DEMO_DATE") else default_demo_date()
    out_dir = Path(os.environ.get("DEMO_OUT", ROOT / "out" / "demo")).resolve()
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    conn = db.connect()
    ctx = DemoContext(
        conn=conn,
        business_date=business_date,
        loans=int(os.environ.get("DEMO_LOANS", "20000")),
        seed=int(os.environ.get("DEMO_SEED", "7")),
        out_dir=out_dir,
    )
    started = time.perf_counter()
    try:
        for step in STEPS:
            step(ctx)
    finally:
        conn.close()
    print(f"\ndemo finished in {time.perf_counter() - started:.1f}s; output in {out_dir}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
