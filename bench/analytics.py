"""Analytics ETL at scale: SQL (full build, daily incremental) vs a pandas implementation of the same.

    LOCAL_PG_DB=julo_bench7 \
      .venv/bin/python -m localdev.services -- .venv/bin/python bench/analytics.py --lines 1000000
    LOCAL_PG_DB=julo_bench7 \
      .venv/bin/python -m localdev.services -- .venv/bin/python bench/analytics.py --lines 1000000 --sql-only --old main

Generates --lines order lines (replacing the analytics data in DATABASE_URL), then, --repeat
times each: the SQL full build (``run_etl(full=True)``); pandas reading the source out of
PostgreSQL and computing aggregated_monthly, final_user_analysis, RFM and cohorts in memory;
one simulated day of changes (new orders, late cancellations and returns) followed by the
SQL incremental refresh and, as the naive daily refresh, pandas recomputing everything.
Prints medians, peak memory (PostgreSQL: the backend and its parallel workers, private
memory; pandas: the Python process's RSS above its baseline) and the ratios, and checks
that pandas and SQL agree on row counts, totals and RFM segment sizes.

``--sql-only`` times the SQL ETL alone; its naive comparison is a full rebuild every day (full /
incremental). ``--old REV`` also runs git revision REV's ETL (``git archive``) in the same run, in
database ``<db>_old`` (migrated by that version) on the same generated lines and daily changes,
alternating with this checkout's run by run, and prints old / new. Every SQL figure comes with the
PostgreSQL CPU seconds it took (the backend and its parallel workers: on a shared machine wall time
measures the neighbours too) and the 1-minute load average when it finished.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import psutil  # noqa: E402
import psycopg2.extensions  # noqa: E402

from chalicelib import db  # noqa: E402
from chalicelib.analytics import rfm  # noqa: E402
from chalicelib.analytics.etl import batch_date, run_etl  # noqa: E402
from localdev.datagen import orders as demo_orders  # noqa: E402
from localdev.servers import postgres  # noqa: E402

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
    """Samples a memory figure every 50 ms in a thread; ``peak`` is the highest seen (bytes).
    With ``processes`` (a function listing the processes measured), also their CPU seconds
    (user + system) while it ran: ``cpu``; a process that ends counts with its last sample."""

    def __init__(self, measure: Callable[[], int],
                 processes: Callable[[], list[psutil.Process]] | None = None) -> None:
        self.measure = measure
        self.processes = processes
        self.peak = 0
        self.cpu = 0.0
        self._start: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample_cpu(self, first: bool = False) -> None:
        for proc in self.processes() if self.processes else ():
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue  # ended between listing and reading it
            used = times.user + times.system
            if first:
                self._start[proc.pid] = used
            self._last[proc.pid] = used

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.measure())
            except psutil.Error:
                pass  # a parallel worker ended between listing and reading it
            self._sample_cpu()
            self._stop.wait(0.05)

    def __enter__(self) -> PeakMemory:
        self._sample_cpu(first=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample_cpu()
        self.cpu = sum(used - self._start.get(pid, 0.0) for pid, used in self._last.items())
        try:
            self.peak = max(self.peak, self.measure())
        except psutil.Error:
            pass  # the measured processes ended (a finished subprocess's backend)


def backend_processes(backend_pid: int) -> Callable[[], list[psutil.Process]]:
    """One PostgreSQL backend and its parallel workers."""
    marker = f"parallel worker for PID {backend_pid}"

    def processes() -> list[psutil.Process]:
        found = [psutil.Process(backend_pid)]
        for proc in psutil.process_iter(["cmdline"]):
            if marker in " ".join(proc.info["cmdline"] or ()):
                found.append(proc)
        return found

    return processes


def private_memory(processes: Callable[[], list[psutil.Process]]) -> Callable[[], int]:
    """Private memory (USS) of the processes."""
    def measure() -> int:
        total = 0
        for proc in processes():
            try:
                total += proc.memory_full_info().uss
            except psutil.Error:
                pass
        return total

    return measure


def backend_memory(backend_pid: int) -> Callable[[], int]:
    """Private memory (USS) of one PostgreSQL backend plus its parallel workers."""
    return private_memory(backend_processes(backend_pid))


def load() -> float:
    return os.getloadavg()[0]


# --- the previous version (--old) --------------------------------------------------------------

# Runs inside the old version's tree with its DATABASE_URL; uses only what every version has.
OLD_STEP = """
import sys
from datetime import UTC, date, datetime
from chalicelib import db
from chalicelib.analytics.etl import run_etl
from localdev.datagen import orders
step, lines, seed, day = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), date.fromisoformat(sys.argv[4])
conn = db.connect()
batch = datetime(day.year, day.month, day.day, 18, tzinfo=UTC)
if step == "load":
    orders.load(conn, lines, seed, day)
    print("loaded")
elif step == "changes":
    orders.add_daily_changes(conn, day, seed)
    print("changed")
else:  # the bench measures this backend: it names it, then waits for the go
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        print(cur.fetchone()[0], flush=True)
    conn.rollback()
    sys.stdin.readline()
    print(run_etl(conn, batch, full=step == "full").seconds, flush=True)
    sys.stdin.readline()  # the backend stays until the bench has read its figures
"""


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class OldVersion:
    """Git revision ``rev``'s ETL, run in a subprocess from its own tree against database ``<db>_old``."""

    def __init__(self, rev: str, tree: Path, base_url: str) -> None:
        self.rev = rev
        self.tree = tree
        name = urlparse(base_url).path.lstrip("/") + "_old"
        self.dbname = name
        self.url = urlunparse(urlparse(base_url)._replace(path=f"/{name}"))
        archive = subprocess.run(["git", "archive", "--format=tar", rev], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        (tree / "old.tar").write_bytes(archive)
        with tarfile.open(tree / "old.tar") as tar:
            tar.extractall(tree, filter="data")
        postgres.ensure_database_for(self.url)
        self._run("-m", "chalicelib.db", "migrate")

    def _env(self) -> dict[str, str]:
        return {**os.environ, "DATABASE_URL": self.url, "PYTHONPATH": str(self.tree)}

    def _run(self, *args: str) -> str:
        done = subprocess.run([sys.executable, *args], cwd=self.tree, env=self._env(), check=True,
                              capture_output=True, text=True)
        return done.stdout.strip().splitlines()[-1]

    def step(self, step: str, lines: int, seed: int, day: date) -> str:
        return self._run("-c", OLD_STEP, step, str(lines), str(seed), day.isoformat())

    def etl(self, step: str, lines: int, seed: int, day: date) -> tuple[float, float, int]:
        """(seconds as run_etl reports them, PostgreSQL CPU seconds, peak private memory) of the step's
        own backend and its parallel workers, as for this checkout's runs (every backend of the
        database counted the step's connection set-up and whatever else was connected)."""
        with subprocess.Popen([sys.executable, "-c", OLD_STEP, step, str(lines), str(seed), day.isoformat()],
                              cwd=self.tree, env=self._env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True) as child:
            assert child.stdin is not None and child.stdout is not None
            backend = next(int(line) for line in child.stdout if line.strip().isdigit())
            with PeakMemory(backend_memory(backend), backend_processes(backend)) as mem:
                child.stdin.write("go\n")
                child.stdin.flush()
                seconds = next(float(line) for line in child.stdout if _is_number(line))  # after its log lines
            child.stdin.write("done\n")
            child.stdin.close()
        if child.returncode != 0:
            raise subprocess.CalledProcessError(child.returncode, "old ETL step")
        return seconds, mem.cpu, mem.peak


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


@dataclass
class Figures:
    """One ETL kind's runs: wall seconds, PostgreSQL CPU seconds, peak private memory, load at the end."""
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    peak: list[float] = field(default_factory=list)
    load: list[float] = field(default_factory=list)

    def add(self, wall: float, cpu: float, peak: float) -> str:
        self.wall.append(wall)
        self.cpu.append(cpu)
        self.peak.append(peak)
        self.load.append(load())
        return f"{wall:.2f}s (PostgreSQL CPU {cpu:.2f}s, peak {mib(peak)}, load {self.load[-1]:.1f})"

    def row(self, name: str) -> str:
        med = statistics.median
        return (f"{name:32}{med(self.wall):>9.2f}s{med(self.cpu):>9.2f}s{mib(med(self.peak)):>14}"
                f"   {min(self.load):.1f}-{max(self.load):.1f}")


def backend_pid(conn: psycopg2.extensions.connection) -> int:
    """The PostgreSQL backend serving ``conn`` (whose CPU and memory the bench reads)."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = int(db.one(cur)[0])
    conn.rollback()
    return pid


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 21))
    parser.add_argument("--sql-only", action="store_true", help="time the SQL ETL only (no pandas comparison)")
    parser.add_argument("--old", metavar="REV", help="also time git revision REV's ETL in the same run (old / new)")
    args = parser.parse_args()
    conn = db.connect()
    backend = backend_pid(conn)
    print(f"load average (1, 5, 15 min) at the start: {', '.join(f'{v:.1f}' for v in os.getloadavg())}; "
          f"{os.cpu_count()} CPUs")

    started = time.perf_counter()
    counts = demo_orders.load(conn, args.lines, args.seed, args.as_of)
    print(f"generated {counts['lines']:,} order lines ({counts['orders']:,} orders) with COPY in "
          f"{time.perf_counter() - started:.1f}s")
    with tempfile.TemporaryDirectory(prefix="analytics-old-") as tmp:
        old = None
        if args.old:
            old = OldVersion(args.old, Path(tmp), os.environ["DATABASE_URL"])
            old.step("load", args.lines, args.seed, args.as_of)
            print(f"previous version {args.old}: database {old.dbname}, the same lines loaded")
        bench = Bench(args, conn, backend, old)
        bench.run()
    bench.report(counts["lines"])
    conn.close()
    return 0


def batch(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 18, tzinfo=UTC)


class Bench:
    """The measured runs: this checkout's SQL ETL, the previous version's (``old``), pandas."""

    def __init__(self, args: argparse.Namespace, conn: psycopg2.extensions.connection, backend: int,
                 old: OldVersion | None) -> None:
        self.args, self.conn, self.old = args, conn, old
        self.meter = (backend_memory(backend), backend_processes(backend))
        self.sql_full, self.sql_inc, self.old_full, self.old_inc = Figures(), Figures(), Figures(), Figures()
        self.pd_full: list[float] = []
        self.pd_full_mem: list[float] = []
        self.pd_inc: list[float] = []
        self.groups: list[int] = []
        self.derived: list[float] = []

    def full(self, i: int, day: date) -> None:
        with PeakMemory(*self.meter) as mem:
            result = run_etl(self.conn, batch(day), full=True)
        print(f"  run {i + 1}: SQL full build {self.sql_full.add(result.seconds, mem.cpu, mem.peak)}")
        if self.old:
            figures = self.old_full.add(*self.old.etl("full", self.args.lines, self.args.seed, day))
            print(f"  run {i + 1}: previous ({self.args.old}) full build {figures}")

    def next_day(self, day: date) -> str:
        """One day of changes, then this version's incremental run (and the previous version's)."""
        changes = demo_orders.add_daily_changes(self.conn, day, self.args.seed)
        with PeakMemory(*self.meter) as mem:
            result = run_etl(self.conn, batch(day))
        assert result.mode == "incremental"
        self.groups.append(result.groups_refreshed)
        self.derived.append(result.derived_seconds)
        line = (f"  day {day}: +{changes['new_lines']:,} lines, {changes['cancelled_lines']:,} cancelled and "
                f"{changes['returned_lines']:,} returned late -> SQL incremental "
                f"{self.sql_inc.add(result.seconds, mem.cpu, mem.peak)} ({result.groups_refreshed:,} groups, "
                f"of which RFM + cohort rebuild {result.derived_seconds:.2f}s)")
        if self.old:
            self.old.step("changes", self.args.lines, self.args.seed, day)
            figures = self.old_inc.add(*self.old.etl("incremental", self.args.lines, self.args.seed, day))
            line += f"\n  day {day}: previous ({self.args.old}) incremental {figures}"
        return line

    def pandas(self, i: int, day: date) -> None:
        """pandas' full build, checked against SQL's in the first run."""
        with PeakMemory(own_memory(psutil.Process().memory_info().rss)) as mem:
            t = time.perf_counter()
            pandas_result = pandas_full(self.conn, batch_date(batch(day)))
            self.pd_full.append(time.perf_counter() - t)
        self.pd_full_mem.append(mem.peak)
        print(f"  run {i + 1}: pandas full build {self.pd_full[-1]:.1f}s, peak {mib(mem.peak)}")
        if i == 0:
            sql, pdt = sql_totals(self.conn), pandas_totals(pandas_result)
            assert sql == pdt, f"pandas and SQL disagree: {sql} vs {pdt}"
            segments = {k: s.users for k, s in rfm.summary(self.conn).segments.items() if s.users}
            assert segments == pandas_result["segments"]
            print("  pandas and SQL agree (row counts, totals, RFM segment sizes, cohort cells)")

    def pandas_recompute(self, i: int, day: date) -> str:
        t = time.perf_counter()
        pandas_result = pandas_full(self.conn, batch_date(batch(day)))
        self.pd_inc.append(time.perf_counter() - t)
        if i == 0:
            assert sql_totals(self.conn) == pandas_totals(pandas_result), "pandas and SQL disagree after a day"
        return f", pandas recompute {self.pd_inc[-1]:.1f}s"

    def run(self) -> None:
        day = self.args.as_of
        for i in range(self.args.repeat):
            self.full(i, day)
            if not self.args.sql_only:
                self.pandas(i, day)
            day += timedelta(days=1)
            line = self.next_day(day)
            print(line + ("" if self.args.sql_only else self.pandas_recompute(i, day)))

    def report(self, lines: int) -> None:
        med = statistics.median
        print(f"\n{lines:,} order lines, median of {self.args.repeat}:")
        print(f"{'':32}{'wall':>10}{'PG CPU':>10}{'peak memory':>14}   load (1 min)")
        print(self.sql_full.row("SQL full build"))
        print(self.sql_inc.row("SQL daily incremental"))
        print(f"{'  of which RFM + cohorts':32}{med(self.derived):>9.2f}s")
        if self.old:
            print(self.old_full.row(f"previous ({self.args.old}) full build"))
            print(self.old_inc.row(f"previous ({self.args.old}) incremental"))
        if not self.args.sql_only:
            print(f"{'pandas full build':32}{med(self.pd_full):>9.1f}s{'':>10}{mib(med(self.pd_full_mem)):>14}")
            print(f"{'pandas daily (recompute)':32}{med(self.pd_inc):>9.1f}s")
            print(f"full build: pandas / SQL = {med(self.pd_full) / med(self.sql_full.wall):.2f}x; daily refresh: "
                  f"pandas recompute / SQL incremental = {med(self.pd_inc) / med(self.sql_inc.wall):.1f}x")
        print(f"daily refresh: naive (a full rebuild) / incremental = "
              f"{med(self.sql_full.wall) / med(self.sql_inc.wall):.1f}x wall, "
              f"{med(self.sql_full.cpu) / med(self.sql_inc.cpu):.1f}x PostgreSQL CPU "
              f"({med(self.groups):,.0f} groups refreshed)")
        if self.old:
            print(f"previous ({self.args.old}) / this version: full build "
                  f"{med(self.old_full.wall) / med(self.sql_full.wall):.2f}x wall, "
                  f"{med(self.old_full.cpu) / med(self.sql_full.cpu):.2f}x CPU; incremental "
                  f"{med(self.old_inc.wall) / med(self.sql_inc.wall):.2f}x wall, "
                  f"{med(self.old_inc.cpu) / med(self.sql_inc.cpu):.2f}x CPU")


if __name__ == "__main__":
    sys.exit(main())
