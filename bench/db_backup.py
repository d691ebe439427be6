"""Backup and restore of a demo book: custom-format dump, background restore with -j 2 vs serial.

    LOCAL_PG_DB=julo_i6 \
      .venv/bin/python -m localdev.services -- .venv/bin/python bench/db_backup.py --loans 50000

Loads a deterministic book of --loans loans into DATABASE_URL (replacing its lending data),
dumps it with ``make db-dump``'s code (pg_dump -Fc), then restores it --repeat times into a
scratch database ``<db>_bench_restore`` exactly as ``make db-restore`` does (background,
``pg_restore -j 2``, waiting for the log's finish line) and, as the naive comparison, with
``-j 1``. Prints dump size and time, median restore times and the ratio; every restore's row
counts are checked against the source.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg2  # noqa: E402

from chalicelib import db  # noqa: E402
from localdev.datagen import lending as demo_data  # noqa: E402
from localdev.servers import db_backup  # noqa: E402


def counts(url: str) -> dict[str, int]:
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        out = {}
        for (t,) in cur.fetchall():
            cur.execute(f'SELECT count(*) FROM "{t}"')
            out[t] = db.one(cur)[0]
    conn.close()
    return out


def drop(url: str) -> None:
    parts = urlparse(url)
    admin = psycopg2.connect(urlunparse(parts._replace(path="/postgres")))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')
    admin.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loans", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    source = os.environ["DATABASE_URL"]
    parts = urlparse(source)
    target = urlunparse(parts._replace(path=parts.path + "_bench_restore"))

    conn = psycopg2.connect(source)
    loaded = demo_data.load(conn, args.loans, seed=7, business_date=date(2026, 11, 20))
    conn.close()
    want = counts(source)
    print(f"book: {args.loans:,} loans, {sum(loaded.values()):,} lending rows")

    runs: dict[int, list[float]] = {2: [], 1: []}
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        t0 = time.perf_counter()
        archive = db_backup.dump(source, tmpdir / "backups")
        print(f"dump (pg_dump -Fc): {time.perf_counter() - t0:.2f} s, {archive.stat().st_size / 1e6:.1f} MB")
        for i in range(args.repeat):
            for jobs in (2, 1):
                drop(target)
                t0 = time.perf_counter()
                job = db_backup.restore(archive, target, tmpdir / f"logs-{i}-{jobs}", jobs=jobs)
                code = db_backup.wait(job.log, timeout=3600, poll=0.05)
                runs[jobs].append(time.perf_counter() - t0)
                if code != 0:
                    raise SystemExit(f"restore failed ({code}); see {job.log}")
                if counts(target) != want:
                    raise SystemExit("restored row counts differ from the source")
        drop(target)

    medians = {jobs: statistics.median(v) for jobs, v in runs.items()}
    for jobs, label in ((2, "-j 2 (make db-restore)"), (1, "-j 1 (serial, naive)")):
        print(f"restore {label}: median {medians[jobs]:.2f} s of {[round(x, 2) for x in runs[jobs]]}")
    print(f"ratio serial / parallel: {medians[1] / medians[2]:.2f}x; row counts equal the source in every run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
