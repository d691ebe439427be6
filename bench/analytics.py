"""Analytics ETL at scale: SQL (full build, daily incremental) vs a pandas implementation of the same.

    LOCAL_PG_DB=julo_bench7 \
      .venv/bin/python -m localdev.services -- .venv/bin/python bench/analytics.py --lines 1000000

Generates --lines order lines (replacing the analytics data in DATABASE_URL), then, --repeat
times each: the SQL full build (``run_etl(full=True)``); pandas reading the source out of
PostgreSQL and computing aggregated_monthly, final_user_analysis, RFM and cohorts in memory;
one simulated day of changes (new orders, late cancellations and returns) followed by the
SQL incremental refresh and, as the naive daily refresh, pandas recomputing everything.
Prints medians, peak memory (PostgreSQL: the backend and its parallel workers, private
memory; pandas: the Python process's RSS above its baseline) and the ratios, and checks
that pandas and SQL agree on row counts, totals and RFM segment sizes.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import statistics
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import psutil  # noqa: E402
import psycopg2.extensions  # noqa: E402

from chalicelib import db  # noqa: E402
from chalicelib.analytics import rfm  # noqa: E402
from chalicelib.analytics.etl import batch_date, run_etl  # noqa: E402
from localdev.datagen import orders as demo_orders  # noqa: E402

KEY = ["marketplace", "shop_id", "shop_name", "user_id", "magpie_region_code"]
EXTRACT = """COPY (
    SELECT f.marketplace, f.shop_id, f.shop_name, f.user_id, f.magpie_region_code, f.kurs_rate,
           f.create_timestamp, f.cancelled_flag, f.returned_flag, f.order_id, f.product_gmv_amount,
           f.marketplace_product_id || ':' || f.marketplace_variant_id AS sku, f.marketplace_product_barcode,
           f.order_shipping_fee_buyer_amount AS fee, o.address_shipping_name
    FROM flatten_order_marketplace f
    LEFT JOIN order_marketplace o ON o.marketplace = f.marketplace AND o.order_id = f.order_id
) TO STDOUT WITH (FORMAT csv, HEADER)"""


class PeakMemory:
    """Samples a memory figure every 50 ms in a thread; ``peak`` is the highest seen (bytes)."""

    def __init__(self, measure: Callable[[], int]) -> None:
        self.measure = measure
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.measure())
            except psutil.Error:
                pass  # a parallel worker ended between listing and reading it
            self._stop.wait(0.05)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.measure())


def backend_memory(backend_pid: int) -> Callable[[], int]:
    """Private memory (USS) of one PostgreSQL backend plus its parallel workers."""
    marker = f"parallel worker for PID {backend_pid}"

    def measure() -> int:
        total = psutil.Process(backend_pid).memory_full_info().uss
        for proc in psutil.process_iter(["cmdline"]):
            if marker in " ".join(proc.info["cmdline"] or ()):
                total += proc.memory_full_info().uss
        return total

    return measure


def own_memory(baseline: int) -> Callable[[], int]:
    me = psutil.Process()
    return lambda: me.memory_info().rss - baseline


# --- the pandas implementation -------------------------------------------------------------

def pandas_extract(conn: psycopg2.extensions.connection) -> pd.DataFrame:
    buffer = io.StringIO()
    with conn.cursor() as cur:
        cur.copy_expert(EXTRACT, buffer)
    conn.rollback()
    buffer.seek(0)
    df = pd.read_csv(buffer, dtype={"order_id": str, "user_id": str, "shop_id": str, "sku": str,
                                    "marketplace_product_barcode": str, "address_shipping_name": str})
    df["create_timestamp"] = pd.to_datetime(df["create_timestamp"], utc=True, format="ISO8601")
    # rupiah = amount x kurs_rate, line by line, before anything is summed
    df["product_gmv_amount"] = df.product_gmv_amount * df.kurs_rate
    df["fee"] = df.fee * df.kurs_rate
    return df


def pandas_aggregate(df: pd.DataFrame, group: list[str]) -> pd.DataFrame:
    valid = df[(df.cancelled_flag == "N") & (df.returned_flag == "N")]
    lines = valid.groupby(group, sort=False).agg(
        first_order_timestamp=("create_timestamp", "min"), last_order_timestamp=("create_timestamp", "max"),
        total_gmv_amount=("product_gmv_amount", "sum"), total_quantity=("marketplace_product_barcode", "count"),
        total_order=("order_id", "nunique"))
    skus = (valid[[*group, "sku"]].drop_duplicates().sort_values("sku")
            .groupby(group, sort=False)["sku"].agg(list).rename("sku_list"))
    out = df.groupby(group, sort=False).agg(kurs_rate=("kurs_rate", "max"))
    out["total_cancelled"] = df[df.cancelled_flag == "Y"].groupby(group, sort=False)["order_id"].nunique()
    out["total_returned"] = (df[(df.cancelled_flag == "N") & (df.returned_flag == "Y")]
                             .groupby(group, sort=False)["order_id"].nunique())
    orders = valid.groupby([*group, "order_id"], sort=False).agg(
        fee=("fee", "max"), ts=("create_timestamp", "max"), address=("address_shipping_name", "first"))
    shipping = orders.groupby(level=group, sort=False)["fee"].agg(["min", "max", "mean"])
    shipping.columns = ["min_shipping_amount", "max_shipping_amount", "avg_shipping_amount"]
    latest = (orders.reset_index().sort_values(["ts", "order_id"])
              .groupby(group, sort=False).tail(1).set_index(group)["address"].rename("address_shipping_name"))
    out = out.join(lines).join(skus).join(shipping).join(latest)
    counts = ["total_cancelled", "total_returned", "total_order", "total_gmv_amount", "total_quantity"]
    out[counts] = out[counts].fillna(0).astype("int64")
    out["avg_shipping_amount"] = (out["avg_shipping_amount"] + 0.5).apply(lambda v: v if pd.isna(v) else int(v))
    out["sku_list"] = out["sku_list"].apply(lambda v: v if isinstance(v, list) else [])
    out["total_sku"] = out["sku_list"].str.len()
    out = out.reset_index()
    out["customer_key"] = [hashlib.md5("\x1f".join(k).encode(), usedforsecurity=False).hexdigest()
                           for k in out[KEY].itertuples(index=False, name=None)]
    return out


def pandas_rfm_and_cohorts(final: pd.DataFrame, monthly: pd.DataFrame, as_of: date) -> tuple[dict, pd.DataFrame]:
    scored = final[final.total_order > 0]
    users = scored.groupby("user_id").agg(last=("last_order_timestamp", "max"), frequency=("total_order", "sum"),
                                          monetary=("total_gmv_amount", "sum"))
    last_day = users["last"].dt.tz_convert("Asia/Jakarta").dt.tz_localize(None).dt.normalize()
    users["recency"] = (pd.Timestamp(as_of) - last_day).dt.days.clip(lower=0)

    def score(values: pd.Series, reverse: bool) -> pd.Series:  # the tie rule of rfm.score
        q1, q3, lowest, highest = values.quantile(0.25), values.quantile(0.75), values.min(), values.max()
        s = pd.Series(2, index=values.index)
        s[(values > q3) | ((values == q3) & (q3 == highest))] = 3
        s[(values < q1) | ((values == q1) & (q1 == lowest))] = 1  # bin 1 wins
        return 4 - s if reverse else s

    patterns = list(zip(score(users.recency, True), score(users.frequency, False), score(users.monetary, False),
                        strict=True))
    segments = pd.Series([rfm.SEGMENTS[p] for p in patterns]).value_counts().to_dict()
    active = monthly[monthly.total_order > 0][["user_id", "month_of_order"]].drop_duplicates()
    idx = active.month_of_order.str[:4].astype(int) * 12 + active.month_of_order.str[5:7].astype(int)
    active = active.assign(idx=idx)
    active["offset"] = active.idx - active.groupby("user_id").idx.transform("min")
    active["cohort"] = active.groupby("user_id").month_of_order.transform("min")
    matrix = active.groupby(["cohort", "offset"]).size().unstack(fill_value=0)
    return segments, matrix


def pandas_full(conn: psycopg2.extensions.connection, as_of: date) -> dict:
    df = pandas_extract(conn)
    df["month_of_order"] = df.create_timestamp.dt.tz_convert("Asia/Jakarta").dt.strftime("%Y-%m")
    monthly = pandas_aggregate(df, [*KEY, "month_of_order"])
    final = pandas_aggregate(df, KEY)
    segments, matrix = pandas_rfm_and_cohorts(final, monthly, as_of)
    return {"monthly": monthly, "final": final, "segments": segments, "cohort_cells": int((matrix > 0).sum().sum())}


# --- the run ---------------------------------------------------------------------------------

def sql_totals(conn: psycopg2.extensions.connection) -> dict:
    with conn.cursor() as cur:
        out = {}
        for table in ("aggregated_monthly", "final_user_analysis"):
            cur.execute(f"SELECT count(*), sum(total_order), sum(total_gmv_amount), sum(total_sku), "
                        f"sum(total_cancelled), sum(avg_shipping_amount) FROM {table}")
            out[table] = tuple(int(v or 0) for v in db.one(cur))
        cur.execute("SELECT count(*) FROM cohort_retention")
        out["cohort_cells"] = db.one(cur)[0]
    conn.rollback()
    return out


def pandas_totals(result: dict) -> dict:
    out = {}
    for table, frame in (("aggregated_monthly", result["monthly"]), ("final_user_analysis", result["final"])):
        out[table] = (len(frame), int(frame.total_order.sum()), int(frame.total_gmv_amount.sum()),
                      int(frame.total_sku.sum()), int(frame.total_cancelled.sum()),
                      int(frame.avg_shipping_amount.dropna().sum()))
    out["cohort_cells"] = result["cohort_cells"]
    return out


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 21))
    parser.add_argument("--sql-only", action="store_true", help="time the SQL ETL only (no pandas comparison)")
    args = parser.parse_args()
    conn = db.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        backend = db.one(cur)[0]
    conn.rollback()

    started = time.perf_counter()
    counts = demo_orders.load(conn, args.lines, args.seed, args.as_of)
    print(f"generated {counts['lines']:,} order lines ({counts['orders']:,} orders) with COPY in "
          f"{time.perf_counter() - started:.1f}s")

    def batch(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, 18, tzinfo=UTC)

    sql_full, sql_full_mem, pd_full, pd_full_mem, sql_inc, sql_inc_mem, pd_inc, groups, derived = (
        [] for _ in range(9))
    day = args.as_of
    for i in range(args.repeat):
        with PeakMemory(backend_memory(backend)) as mem:
            result = run_etl(conn, batch(day), full=True)
        sql_full.append(result.seconds)
        sql_full_mem.append(mem.peak)
        print(f"  run {i + 1}: SQL full build {result.seconds:.1f}s, peak {mib(mem.peak)}")
        if args.sql_only:
            day += timedelta(days=1)
            changes = demo_orders.add_daily_changes(conn, day, args.seed)
            result = run_etl(conn, batch(day))
            sql_inc.append(result.seconds)
            derived.append(result.derived_seconds)
            print(f"  day {day}: +{changes['new_lines']:,} lines -> SQL incremental {result.seconds:.2f}s "
                  f"({result.groups_refreshed:,} groups, of which RFM + cohort rebuild {result.derived_seconds:.2f}s)")
            continue
        with PeakMemory(own_memory(psutil.Process().memory_info().rss)) as mem:
            t = time.perf_counter()
            pandas_result = pandas_full(conn, batch_date(batch(day)))
            pd_full.append(time.perf_counter() - t)
        pd_full_mem.append(mem.peak)
        print(f"  run {i + 1}: pandas full build {pd_full[-1]:.1f}s, peak {mib(mem.peak)}")
        if i == 0:
            sql, pdt = sql_totals(conn), pandas_totals(pandas_result)
            assert sql == pdt, f"pandas and SQL disagree: {sql} vs {pdt}"
            assert {k: s.users for k, s in rfm.summary(conn).segments.items() if s.users} == pandas_result["segments"]
            print("  pandas and SQL agree (row counts, totals, RFM segment sizes, cohort cells)")
        del pandas_result

        day += timedelta(days=1)
        changes = demo_orders.add_daily_changes(conn, day, args.seed)
        with PeakMemory(backend_memory(backend)) as mem:
            result = run_etl(conn, batch(day))
        assert result.mode == "incremental"
        sql_inc.append(result.seconds)
        sql_inc_mem.append(mem.peak)
        groups.append(result.groups_refreshed)
        derived.append(result.derived_seconds)
        with PeakMemory(own_memory(psutil.Process().memory_info().rss)) as mem:
            t = time.perf_counter()
            pandas_result = pandas_full(conn, batch_date(batch(day)))
            pd_inc.append(time.perf_counter() - t)
        if i == 0:
            assert sql_totals(conn) == pandas_totals(pandas_result), "pandas and SQL disagree after a day"
        del pandas_result
        print(f"  day {day}: +{changes['new_lines']:,} lines, {changes['cancelled_lines']:,} cancelled and "
              f"{changes['returned_lines']:,} returned late -> SQL incremental {result.seconds:.2f}s "
              f"({result.groups_refreshed:,} groups, of which RFM + cohort rebuild {result.derived_seconds:.2f}s, "
              f"peak {mib(sql_inc_mem[-1])}), pandas recompute {pd_inc[-1]:.1f}s")

    med = statistics.median
    if args.sql_only:
        print(f"\n{counts['lines']:,} order lines, median of {args.repeat}: SQL full build {med(sql_full):.1f}s, "
              f"SQL daily incremental {med(sql_inc):.2f}s (of which RFM + cohorts {med(derived):.2f}s)")
        conn.close()
        return 0
    print(f"\n{counts['lines']:,} order lines, median of {args.repeat}:")
    print(f"{'':28}{'time':>10}{'peak memory':>14}")
    print(f"{'SQL full build':28}{med(sql_full):>9.1f}s{mib(med(sql_full_mem)):>14}")
    print(f"{'pandas full build':28}{med(pd_full):>9.1f}s{mib(med(pd_full_mem)):>14}")
    print(f"{'SQL daily incremental':28}{med(sql_inc):>9.2f}s{mib(med(sql_inc_mem)):>14}")
    print(f"{'  of which RFM + cohorts':28}{med(derived):>9.2f}s")
    print(f"{'pandas daily (recompute)':28}{med(pd_inc):>9.1f}s")
    print(f"full build: pandas / SQL = {med(pd_full) / med(sql_full):.2f}x; daily refresh: pandas recompute / "
          f"SQL incremental = {med(pd_inc) / med(sql_inc):.1f}x; SQL full / SQL incremental = "
          f"{med(sql_full) / med(sql_inc):.1f}x ({med(groups):,.0f} groups refreshed)")
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
