"""Demo step: customer analytics. Generates marketplace orders, runs the full ETL, simulates the
next day (new orders, late cancellations and returns), runs the daily incremental ETL, and
writes the dashboard to ``<out>/dashboard.html``. ``DEMO_ORDER_LINES`` (default 100000)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib.analytics import rfm
from chalicelib.analytics.dashboard import render_dashboard
from chalicelib.analytics.etl import run_etl
from infra.manifest import FunctionSpec, load_manifest
from localdev.datagen import orders as demo_orders
from localdev.lambda_runtime.runtime import LambdaRuntime
from localdev.loops import cron

if TYPE_CHECKING:
    from localdev.demo.context import DemoContext


def _nightly_batch(spec: FunctionSpec, day: date) -> datetime:
    """When the manifest's schedule fires after business day ``day`` (01:00 WIB the next day)."""
    if spec.schedule is None:
        raise ValueError(f"{spec.name} has no schedule in the manifest")
    return cron.parse(spec.schedule).next_after(datetime(day.year, day.month, day.day, 12, tzinfo=UTC))


@dataclass(frozen=True)
class Prepared:
    """The analytics step's PostgreSQL part, done: the next day's changes are in, its scheduled ETL not run yet."""

    next_day: date
    changes: dict[str, int]


def prepare_analytics(ctx: DemoContext) -> Prepared:
    """Orders, the full ETL and the next day's changes: PostgreSQL only (the demo runs it beside the T-3 day)."""
    lines = int(os.environ.get("DEMO_ORDER_LINES", "100000"))
    print(f"\ncustomer analytics: {lines:,} marketplace order lines up to {ctx.business_date}")
    started = time.perf_counter()
    counts = demo_orders.load(ctx.conn, lines, ctx.seed, ctx.business_date)
    print(f"  generated {counts['lines']:,} lines in {counts['orders']:,} orders in "
          f"{time.perf_counter() - started:.1f}s")
    spec = load_manifest().function("analytics-etl")
    full = run_etl(ctx.conn, _nightly_batch(spec, ctx.business_date), full=True)
    print(f"  full ETL: {full.groups_refreshed:,} (customer, month) groups, {full.users_scored:,} users scored "
          f"in {full.seconds:.1f}s")
    next_day = ctx.business_date + timedelta(days=1)
    changes = demo_orders.add_daily_changes(ctx.conn, next_day, ctx.seed, new_orders=max(20, lines // 500),
                                            late_cancellations=max(5, lines // 3000),
                                            late_returns=max(5, lines // 5000))
    ctx.conn.commit()
    return Prepared(next_day, changes)


def finish_analytics(ctx: DemoContext, prepared: Prepared) -> None:
    """The next night's scheduled ETL in its container (template, IAM enforced), the RFM summary, the dashboard."""
    spec = load_manifest().function("analytics-etl")
    changes = prepared.changes
    ctx.aws_ready()  # the artifact and its resources (built in the background while the book loaded)
    daily_started = time.perf_counter()
    with LambdaRuntime(placeholders=True) as runtime:  # the scheduled function from the template, IAM enforced
        daily = runtime.fire_schedule(spec.name, _nightly_batch(spec, prepared.next_day))
    print(f"  next day: +{changes['new_lines']:,} lines, {changes['cancelled_lines']:,} lines cancelled late, "
          f"{changes['returned_lines']:,} returned -> scheduled {daily['mode']} ETL refreshed "
          f"{daily['groups_refreshed']:,} groups in {time.perf_counter() - daily_started:.2f}s")
    summary = rfm.summary(ctx.conn)
    print(f"  RFM as of {daily['as_of']}: " + ", ".join(
        f"{name} {s.users:,}" for name, s in summary.segments.items()))
    print(f"  revenue pyramid: the top 20% of buyers bring {summary.top_20_gmv_share:.1%} of GMV")
    path = ctx.out_dir / "dashboard.html"
    path.write_text(render_dashboard(ctx.conn))
    ctx.conn.commit()
    print(f"  dashboard: {path}")


def step_analytics(ctx: DemoContext) -> None:
    finish_analytics(ctx, prepare_analytics(ctx))
