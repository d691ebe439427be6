"""Where an analytics ETL run spends its time, statement by statement (rolled back: nothing changes).

    .venv/bin/python -m localdev.services -- .venv/bin/python bench/analytics_profile.py [--incremental]

Runs ``run_etl`` once (a full build, or with ``--incremental`` the daily run over the changes
recorded since the last one) on the lines already in DATABASE_URL (``bench/analytics.py`` or
``python -m localdev.datagen.orders`` put them there), timing each statement that takes over 50 ms:
wall seconds, PostgreSQL CPU seconds of the backend and its parallel workers, of which the backend's
own ("leader"), and their peak private memory; then rolls the transaction back. On a machine whose
other cores are idle a run cannot take less wall time than its leader's CPU seconds (the workers
run beside it), so the leader column is the one to cut for wall time, the CPU column for a busy
machine. Prints the 1-minute load average with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import psutil  # noqa: E402
import psycopg2.extensions  # noqa: E402
from analytics import PeakMemory, backend_memory, backend_pid, backend_processes  # noqa: E402

from chalicelib import db  # noqa: E402
from chalicelib.analytics import etl  # noqa: E402

SHOWN_ABOVE = 0.05  # seconds


def profiled_cursor(backend: int, rows: list[tuple[float, float, float, int, str]]) -> type:
    """A cursor class that meters each statement of one backend into ``rows``."""
    leader = psutil.Process(backend)

    class ProfiledCursor(psycopg2.extensions.cursor):
        def execute(self, query: Any, vars: Any = None) -> None:
            own = sum(leader.cpu_times()[:2])
            with PeakMemory(backend_memory(backend), backend_processes(backend)) as mem:
                started = time.perf_counter()
                super().execute(query, vars)
                wall = time.perf_counter() - started
            if wall > SHOWN_ABOVE:
                text = " ".join(line.strip() for line in str(query).splitlines()
                                if line.strip() and not line.strip().startswith("--"))
                rows.append((wall, mem.cpu, sum(leader.cpu_times()[:2]) - own, mem.peak, text))

    return ProfiledCursor


@contextlib.contextmanager
def rolled_back(conn: psycopg2.extensions.connection) -> Iterator[psycopg2.extensions.cursor]:
    """Stands in for db.transaction: the run's transaction is rolled back instead of committed."""
    with conn.cursor() as cur:
        yield cur
    conn.rollback()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incremental", action="store_true", help="profile the daily run instead of a full build")
    parser.add_argument("--batch-time", type=etl.parse_batch_time, default=datetime(2026, 11, 21, 18, tzinfo=UTC))
    args = parser.parse_args()
    conn = db.connect()
    backend = backend_pid(conn)
    rows: list[tuple[float, float, float, int, str]] = []
    conn.cursor_factory = profiled_cursor(backend, rows)
    db.transaction = rolled_back
    started = time.perf_counter()
    result = etl.run_etl(conn, args.batch_time, full=not args.incremental)
    wall = time.perf_counter() - started
    print(f"{'wall':>7} {'PG CPU':>7} {'leader':>7} {'peak':>8}  statement")
    for seconds, cpu, own, peak, text in rows:
        print(f"{seconds:6.2f}s {cpu:6.2f}s {own:6.2f}s {peak / 2**20:5.0f} MiB  {text[:100]}")
    print(f"{result.mode} run, {result.groups_refreshed:,} groups: {wall:.2f}s wall, PostgreSQL CPU "
          f"{sum(r[1] for r in rows):.2f}s, of which the leader {sum(r[2] for r in rows):.2f}s "
          f"(statements over {SHOWN_ABOVE * 1000:.0f} ms); load {os.getloadavg()[0]:.1f}; rolled back")
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
