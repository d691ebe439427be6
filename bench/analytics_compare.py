"""Do two versions of the analytics ETL give the same tables on the same data?

    .venv/bin/python -m localdev.services -- .venv/bin/python bench/analytics_compare.py --old cd59dd5 --lines 1000000

Runs the ETL of git revision ``--old`` (extracted with ``git archive``) and the ETL of this checkout
side by side, each in its own database of the same server (``<db>_old`` and ``<db>_new``, each
migrated by its own version): the same generated order lines (``localdev.datagen.orders``, same
seed and date), a full build, one simulated day of changes, an incremental run. After each run it
compares every analytics output: aggregated_monthly and final_user_analysis (all columns but
load_timestamp), rfm_score, rfm_threshold, cohort_retention and the filter values, as row counts
and an md5 over the rows sorted as text. Exit status 1 when any differs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg2  # noqa: E402

from chalicelib import db  # noqa: E402
from localdev.servers import postgres  # noqa: E402

OUTPUT_COLUMNS = ("customer_key, marketplace, shop_id, shop_name, user_id, {month} magpie_region_code, kurs_rate, "
                  "first_order_timestamp, last_order_timestamp, total_order, total_cancelled, total_returned, "
                  "total_gmv_amount, total_sku, sku_list, total_quantity, address_shipping_name, "
                  "min_shipping_amount, max_shipping_amount, avg_shipping_amount, etl_batch_time")
COMPARED = {
    "aggregated_monthly": f"SELECT {OUTPUT_COLUMNS.format(month='month_of_order,')} FROM aggregated_monthly",
    "final_user_analysis": f"SELECT {OUTPUT_COLUMNS.format(month='')} FROM final_user_analysis",
    "rfm_score": "SELECT * FROM rfm_score",
    "rfm_threshold": "SELECT * FROM rfm_threshold",
    "cohort_retention": "SELECT * FROM cohort_retention",
    "analytics_filter_value": "SELECT * FROM analytics_filter_value",
}
FINGERPRINT = "SELECT count(*), md5(coalesce(string_agg(r::TEXT, E'\\n' ORDER BY r::TEXT), '')) FROM ({query}) r"

# Runs inside each version's tree; uses only what both versions have.
STEP = """
import sys
from datetime import UTC, date, datetime
from chalicelib import db
from chalicelib.analytics.etl import run_etl
from localdev.datagen import orders
step, lines, seed, day = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), date.fromisoformat(sys.argv[4])
conn = db.connect()
batch = datetime(day.year, day.month, day.day, 18, tzinfo=UTC)
if step == "full":
    orders.load(conn, lines, seed, day)
    result = run_etl(conn, batch, full=True)
else:
    orders.add_daily_changes(conn, day, seed)
    result = run_etl(conn, batch)
print(f"{result.mode} {result.seconds:.1f}s")
"""


def database_url(base: str, name: str) -> str:
    return urlunparse(urlparse(base)._replace(path=f"/{name}"))


def fingerprints(url: str) -> dict[str, tuple[int, str]]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            out = {}
            for table, query in COMPARED.items():
                cur.execute(FINGERPRINT.format(query=query))
                count, digest = db.one(cur)
                out[table] = (count, digest)
        return out
    finally:
        conn.close()


def run_step(tree: Path, url: str, step: str, args: argparse.Namespace, day: str) -> str:
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", STEP, step, str(args.lines), str(args.seed), day], cwd=tree,
                          env=env, check=True, capture_output=True, text=True)
    return done.stdout.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--old", required=True, help="git revision of the ETL to compare with (e.g. main)")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--as-of", default="2026-11-21")
    parser.add_argument("--next-day", default="2026-11-22")
    args = parser.parse_args()
    base = os.environ["DATABASE_URL"]
    name = urlparse(base).path.lstrip("/")
    with tempfile.TemporaryDirectory(prefix="analytics-old-") as tmp:
        old_tree = Path(tmp)
        archive = subprocess.run(["git", "archive", "--format=tar", args.old], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        archive_path = old_tree / "old.tar"
        archive_path.write_bytes(archive)
        with tarfile.open(archive_path) as tar:
            tar.extractall(old_tree, filter="data")
        trees = {"old": old_tree, "new": ROOT}
        urls = {}
        for version, tree in trees.items():
            urls[version] = database_url(base, f"{name}_{version}")
            postgres.ensure_database_for(urls[version])
            subprocess.run([sys.executable, "-m", "chalicelib.db", "migrate"], cwd=tree, check=True,
                           env={**os.environ, "DATABASE_URL": urls[version], "PYTHONPATH": str(tree)})
        same = True
        for step, day in (("full", args.as_of), ("incremental", args.next_day)):
            prints = {}
            for version, tree in trees.items():
                started = time.perf_counter()
                summary = run_step(tree, urls[version], step, args, day)
                print(f"{version} ({args.old if version == 'old' else 'this checkout'}): {summary} "
                      f"(step {time.perf_counter() - started:.0f}s)")
                prints[version] = fingerprints(urls[version])
            for table in COMPARED:
                old, new = prints["old"][table], prints["new"][table]
                verdict = "same" if old == new else "DIFFERENT"
                same &= old == new
                print(f"  after {step:<11} {table:<24} {old[0]:>9,} rows  {verdict}")
    print("same output" if same else "OUTPUTS DIFFER")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
